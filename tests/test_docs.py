"""README.md and docs/: The README is a short front page, and every relative link in it and in docs/*.md resolves
(issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)  # fenced code blocks
CODE = re.compile(r"`+[^`\n]*`+")                                          # inline code spans
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")         # ](target) and ](target "title")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)        # http:, https:, mailto:, ...


def relative_targets(text: str) -> list[str]:
    """The relative link targets of a Markdown text, without their #anchors (code is not looked in)."""
    text = CODE.sub("", FENCE.sub("", text))
    targets = []
    for target in LINK.findall(text):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def broken_links(page: Path) -> list[str]:
    return [t for t in relative_targets(page.read_text(encoding="utf-8")) if not (page.parent / t).exists()]


def test_link_finder():
    text = ("[a](docs/a.md) ![b](../x.png \"t\") [c](https://e.org) [d](mailto:x@y) [e](#top) [f](b.md#s)\n"
            "`[g](not-a-link.md)`\n```\n[h](in-code.md)\n```\n")
    assert relative_targets(text) == ["docs/a.md", "../x.png", "b.md"]


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move deep sections into docs/"


def test_readme_links_every_docs_page():
    targets = set(relative_targets((ROOT / "README.md").read_text(encoding="utf-8")))
    assert DOCS, "docs/ has no pages"
    assert not [p.name for p in DOCS if f"docs/{p.name}" not in targets]


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    assert broken_links(page) == []
