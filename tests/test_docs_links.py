"""Relative links in README.md and docs/*.md point at files that exist and at headings that exist
(anchors made the way GitHub makes them: lowercase, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def _prose(path: Path) -> str:
    return _CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))


def github_anchor(heading: str) -> str:
    text = _CODE.sub(lambda m: m.group(0).strip("`"), heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def broken_links(paths: list[Path]) -> list[str]:
    anchors: dict[Path, set[str]] = {}

    def anchors_of(path: Path) -> set[str]:
        if path not in anchors:
            text = _FENCE.sub("", path.read_text(encoding="utf-8"))
            anchors[path] = {github_anchor(h) for h in _HEADING.findall(text)}
        return anchors[path]

    broken = []
    for path in paths:
        for target in _LINK.findall(_prose(path)):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path.resolve()
            if not dest.exists():
                broken.append(f"{path.name}: {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors_of(dest):
                broken.append(f"{path.name}: {target}: no such heading")
    return broken


def test_every_relative_link_and_anchor_in_the_docs_resolves() -> None:
    assert broken_links(DOCS) == []


def test_a_planted_broken_link_and_anchor_are_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## 5. Questions to settle with jtel\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n[ok](other.md#5-questions-to-settle-with-jtel) [ok](#doc) [web](https://example.com)"
        " [gone](missing.md) [bad anchor](other.md#questions) `[code](not-a-link.md)`\n",
        encoding="utf-8",
    )
    assert broken_links([doc]) == [
        "doc.md: missing.md: no such file",
        "doc.md: other.md#questions: no such heading",
    ]
