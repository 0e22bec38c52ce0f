"""docker-compose.yaml is valid against the compose specification (offline: check-jsonschema's vendored
``compose-spec`` schema) and everything it references exists: the Dockerfile and what it copies, the pinned
Airflow image, mounted folders, named volumes, ``depends_on`` targets, every ``${VAR}`` in .env.example (which
holds no secret), every Airflow command and option it runs, the init script and its variables, ``sms-rt`` and
the simulator's command line. Each check is shown to fail on a planted mistake.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
INIT_SCRIPT = REPO / "scripts" / "compose_init.sh"
# ${VAR}, ${VAR:-default}, ${VAR:?error}; $${VAR} is an escaped $ for the container's shell.
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$")


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def env_example(text: str | None = None) -> dict[str, str]:
    text = ENV_EXAMPLE.read_text() if text is None else text
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation with .env.example's values (defaults where they are empty)."""
    def one(m: re.Match[str]) -> str:
        return env.get(m.group(1)) or (m.group(3) if m.group(2) and "-" in m.group(2) else "") or ""
    return VAR_REF.sub(one, value).replace("$$", "$")


def services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(doc["services"])


def words(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command or []]


@cache
def airflow_parser() -> Any:
    from airflow.cli.cli_parser import get_parser

    return get_parser()


def airflow_command_ok(argv: list[str]) -> str | None:
    """None when Airflow's own CLI accepts ``argv`` (placeholders filled in), else why not."""
    try:
        airflow_parser().parse_args(argv)
    except SystemExit:
        return f"airflow {' '.join(argv)}: not an Airflow command"
    return None


def dockerfile_copies(dockerfile: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY instruction."""
    out = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            out.append((args[:-1], args[-1]))
    return out


def requirement_sections() -> tuple[str, str]:
    """requirements.txt's runtime part (what the Dockerfile installs) and its test part."""
    text = (REPO / "requirements.txt").read_text()
    runtime, marker, tests = text.partition("# Tests and checks")
    assert marker, "requirements.txt lost its '# Tests and checks' line (the Dockerfile cuts there)"
    return runtime, tests


def problems(compose_text: str, env_text: str | None = None) -> Iterator[str]:
    """Everything docker-compose.yaml references that does not exist."""
    doc = yaml.safe_load(compose_text)
    env = env_example(env_text)
    svc = services(doc)
    for name in sorted({m.group(1) for m in VAR_REF.finditer(compose_text)} - env.keys()):
        yield f"${{{name}}} is used but not in .env.example"
    volumes = set(doc.get("volumes") or {})
    profiles = {p for s in svc.values() for p in s.get("profiles", [])}
    for profile in filter(None, env.get("COMPOSE_PROFILES", "").split(",")):
        if profile not in profiles:
            yield f".env.example's COMPOSE_PROFILES names {profile!r}, no service has it"
    for name, s in svc.items():
        deps = s.get("depends_on") or {}
        for target in deps if isinstance(deps, dict | list) else []:
            if target not in svc:
                yield f"{name} depends on {target!r}, which is not a service"
        build = s.get("build")
        if build:
            context = REPO / interpolate(build.get("context", "."), env)
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                yield f"{name}: build file {dockerfile} is missing"
        for mount in s.get("volumes", []):
            source = interpolate(mount if isinstance(mount, str) else mount["source"], env).split(":")[0]
            if source.startswith((".", "/")):
                if not (REPO / source).exists():
                    yield f"{name}: mounts {source}, which does not exist"
            elif source not in volumes:
                yield f"{name}: volume {source!r} is not declared under volumes"
        image = s.get("image", "")
        if not build and image and "sms-response-tracking" in image:
            yield f"{name} runs the project's image without building it"


def command_problems(doc: dict[str, Any]) -> Iterator[str]:
    """Airflow commands and health checks, the simulator's and the init's commands, the init's variables."""
    svc = services(doc)
    for name, s in svc.items():
        argv = words(s.get("command"))
        entry = s.get("entrypoint")
        if argv and not entry and argv[0] not in ("python", "bash"):
            yield from filter(None, [airflow_command_ok(argv)])
        test = s.get("healthcheck", {}).get("test", [])
        line = test[1] if test and test[0] == "CMD-SHELL" else " ".join(test[1:])
        for part in re.split(r"\|\||&&", line.replace("$${HOSTNAME}", "host").replace("${HOSTNAME}", "host")):
            hw = shlex.split(part)
            if hw[:1] == ["airflow"]:
                yield from filter(None, [airflow_command_ok(hw[1:])])
            if hw[:2] == ["celery", "--app"] and not module_exists(hw[2].rpartition(".")[0]):
                yield f"{name}: health check's Celery app {hw[2]} does not exist"
        if argv[:3] == ["python", "-m", "sms_simulator"]:
            from sms_simulator.__main__ import _parser

            try:
                _parser().parse_args(argv[3:])
            except SystemExit:
                yield f"{name}: {' '.join(argv)} is not a simulator command"
    init = svc["airflow-init"]
    script = "\n".join(words(init["command"])[1:]).replace("$$", "$")
    copied = {dest: sources for sources, dest in dockerfile_copies(REPO / "Dockerfile")}
    for path in re.findall(r"/opt/sms-rt/\S+\.sh", script):
        if path not in copied or not all((REPO / s).exists() for s in copied[path]):
            yield f"airflow-init runs {path}, which the Dockerfile does not copy from the repository"
    provided = set(init["environment"])
    for var in sorted(script_vars(INIT_SCRIPT.read_text()) - provided):
        yield f"scripts/compose_init.sh reads {var}, which airflow-init does not set"


def script_vars(text: str) -> set[str]:
    """The variables a shell script (and the Python in its here-documents) reads: ``${X}``, ``env["X"]``."""
    return set(re.findall(r'env(?:iron)?\["([A-Z][A-Z0-9_]*)"\]', text)) | set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*)[}:]", text))


def secret_values(env: dict[str, str]) -> dict[str, str]:
    """The variables of .env.example named like a secret that carry a value."""
    return {k: v for k, v in env.items() if SECRET_NAME.search(k) and v}


def module_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# -- the file as it is ------------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    out = check_jsonschema(COMPOSE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_everything_the_compose_file_references_exists() -> None:
    assert list(problems(COMPOSE.read_text())) == []


def test_every_command_the_compose_file_runs_exists() -> None:
    assert list(command_problems(yaml.safe_load(COMPOSE.read_text()))) == []


def test_the_compose_file_has_upstreams_services_and_start_order() -> None:
    svc = services(yaml.safe_load(COMPOSE.read_text()))
    airflow = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
               "airflow-triggerer", "flower"}
    assert airflow | {"postgres", "redis", "response-db", "airflow-init", "sms-simulator"} <= set(svc)
    for name in airflow:
        deps = svc[name]["depends_on"]
        assert deps["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert all(deps[d] == {"condition": "service_healthy"} for d in ("postgres", "redis", "response-db")), name
        assert svc[name]["healthcheck"]["test"], name
        assert svc[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert svc["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    assert svc["flower"]["profiles"] == ["flower"] and svc["sms-simulator"]["profiles"] == ["simulator"]
    init = " ".join(words(svc["airflow-init"]["command"])) + INIT_SCRIPT.read_text()
    for step in ("sms-rt migrate", "airflow connections import", "airflow pools set sms_platform_api"):
        assert step in init, step
    assert svc["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def test_the_airflow_settings_it_sets_exist() -> None:
    from airflow.configuration import conf

    described = conf.configuration_description  # Airflow's options and the installed providers' (celery)
    env = services(yaml.safe_load(COMPOSE.read_text()))["airflow-scheduler"]["environment"]
    documented = (REPO / "docs" / "configuration.md").read_text()
    for key in env:
        if key.startswith("AIRFLOW__"):
            section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
            assert option in described.get(section, {}).get("options", {}), key
        elif key.startswith("SMS_RT_"):
            assert f"`{key}`" in documented, key


def test_the_image_is_the_pinned_airflow_with_the_runtime_requirements() -> None:
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pin is not None
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(rf"^FROM apache/airflow:{re.escape(pin.group(1))}-python3\.11$", dockerfile, re.M)
    for sources, _ in dockerfile_copies(REPO / "Dockerfile"):
        assert all((REPO / s).exists() for s in sources), sources
    runtime, tests = requirement_sections()
    assert "apache-airflow-providers-celery==" in runtime and "check-jsonschema==" in tests
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".env", ".local"} <= ignored


def test_the_env_example_holds_no_secret_and_env_is_ignored() -> None:
    env = env_example()
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "SMS_PLATFORM_TOKEN", "SMS_RT_DB_PASSWORD"} <= env.keys()
    assert secret_values(env) == {}
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_the_shell_it_runs_parses() -> None:
    init = services(yaml.safe_load(COMPOSE.read_text()))["airflow-init"]
    inline = words(init["command"])[1].replace("$$", "$")
    for source in (inline, INIT_SCRIPT.read_text()):
        out = subprocess.run(["bash", "-n"], input=source, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_the_cli_entry_points_it_runs_exist() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sms-rt"] == "sms_response.cli:main"
    from sms_response import cli

    assert "migrate" in cli.__doc__  # type: ignore[operator]
    assert os.access(Path(sys.executable).parent / "sms-rt", os.X_OK)


# -- each check fails on a planted mistake ------------------------------------------------------------------


def test_the_schema_check_refuses_an_invalid_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "service_finished", 1))
    out = check_jsonschema(broken)
    assert out.returncode != 0 and "service_finished" in out.stdout + out.stderr


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("condition: service_healthy\n    response-db:", "condition: service_healthy\n    response_db:",
     "depends on 'response_db', which is not a service"),
    ("${FLOWER_PORT:-5555}", "${FLOWER_UI_PORT:-5555}", "${FLOWER_UI_PORT} is used but not in .env.example"),
    ("/dags:/opt/airflow/dags", "/dag:/opt/airflow/dags", "mounts ./dag, which does not exist"),
    ("- sms-rt-data:/opt/airflow/sms_rt", "- sms-rt-files:/opt/airflow/sms_rt",
     "volume 'sms-rt-files' is not declared"),
    ("dockerfile: Dockerfile", "dockerfile: Containerfile", "Containerfile is missing"),
])
def test_the_reference_check_finds_a_planted_mistake(old: str, new: str, expected: str) -> None:
    text = COMPOSE.read_text()
    assert old in text
    assert any(expected in p for p in problems(text.replace(old, new, 1))), expected


def test_the_command_check_finds_a_planted_mistake() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["airflow-dag-processor"]["command"] = "dag-procesor"
    doc["services"]["airflow-init"]["environment"].pop("SMS_PLATFORM_TOKEN")
    found = list(command_problems(doc))
    assert any("airflow dag-procesor" in p for p in found), found
    assert any("reads SMS_PLATFORM_TOKEN" in p for p in found), found


def test_an_env_example_with_a_value_for_a_secret_is_refused() -> None:
    env = env_example(ENV_EXAMPLE.read_text().replace("SMS_PLATFORM_TOKEN=", "SMS_PLATFORM_TOKEN=abc123"))
    assert secret_values(env) == {"SMS_PLATFORM_TOKEN": "abc123"}
