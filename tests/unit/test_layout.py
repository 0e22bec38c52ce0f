"""The code's shape: small modules, an Airflow-free library, no import cycles (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "sms_response": REPO / "include" / "sms_response",
    "sms_simulator": REPO / "include" / "sms_simulator",
    "sms_rt_airflow": REPO / "plugins" / "sms_rt_airflow",
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts))
            out[name.removesuffix(".__init__")] = path
    return out


def imports_of(path: Path, name: str) -> set[str]:
    """Every module a file imports, at module level or inside functions (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


MODULES = modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_at_most_400_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: a module past ~400 lines holds two ideas, split it"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("sms_rt_airflow")))
def test_include_imports_nothing_from_airflow(name: str) -> None:
    bad = sorted(m for m in imports_of(MODULES[name], name) if m == "airflow" or m.startswith("airflow."))
    assert not bad, f"{name} imports {bad}: include/ is Airflow-free; put Airflow glue in plugins/sms_rt_airflow"


def test_modules_form_no_import_cycle() -> None:
    graph = {
        name: {m for m in imports_of(path, name) if m in MODULES and m != name and not name.startswith(m + ".")}
        for name, path in MODULES.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
