"""README.md and docs/*.md: every relative link resolves, and the README links every docs page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, …


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks (links and headings inside them are not links or headings)."""
    return _FENCE.sub("", text)


def links(path: Path) -> list[str]:
    return _LINK.findall(_CODE_SPAN.sub("", _prose(path.read_text(encoding="utf-8"))))


def relative_links(path: Path) -> list[str]:
    return [t for t in links(path) if not _EXTERNAL.match(t)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result: set[str] = set()
    for heading in _HEADING.findall(_prose(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def test_every_relative_link_points_to_an_existing_file() -> None:
    broken = []
    for md in markdown_files():
        for target in relative_links(md):
            file_part = unquote(target.split("#", 1)[0])
            if file_part and not (md.parent / file_part).exists():
                broken.append(f"{md.relative_to(REPO)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_every_anchor_names_an_existing_heading() -> None:
    broken = []
    for md in markdown_files():
        for target in relative_links(md):
            if "#" not in target:
                continue
            file_part, anchor = target.split("#", 1)
            dest = (md.parent / unquote(file_part)) if file_part else md
            if dest.suffix == ".md" and dest.is_file() and unquote(anchor).lower() not in anchors(dest):
                broken.append(f"{md.relative_to(REPO)}: {target}")
    assert not broken, "anchors without a heading:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = REPO / "README.md"
    linked = {(readme.parent / unquote(t.split("#", 1)[0])).resolve() for t in relative_links(readme)}
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ holds no page"
    missing = [p.relative_to(REPO).as_posix() for p in pages if p.resolve() not in linked]
    assert not missing, f"docs pages not linked from README.md: {missing}"
