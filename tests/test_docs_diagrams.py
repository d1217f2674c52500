"""Every Mermaid diagram in the Markdown docs parses with Mermaid's own parser (npm ``mermaid``,
``mermaid.parse`` in Node with jsdom, installed into the tool cache on first use), so a diagram that
GitHub would show as an error fails CI. The planted broken diagrams prove the check can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from jtel_sf.diagrams import Diagram, check_markdown, diagrams_in, parse

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# file -> the diagram kinds it must hold (issue 14, point 5)
EXPECTED = {
    "docs/contract.md": ["sequence"],  # jtel -> token -> POST -> answer -> resend
    "docs/admin-setup.md": ["flowchart-v2"],  # deploy, user, permission sets, client app, jtel, doctor
    "docs/data-model.md": ["er"],  # call, rows, Task, quarantine
    "README.md": ["flowchart-v2"],  # the Apex flow through the classes
    "docs/operations.md": ["flowchart-v2"],  # what to watch in production
}


@pytest.fixture(scope="module")
def results() -> list:
    return check_markdown(DOCS)


def test_every_diagram_in_the_docs_parses(results: list) -> None:
    broken = [f"{r.diagram.path.relative_to(ROOT)}:{r.diagram.line}: {r.error}" for r in results if not r.ok]
    assert broken == []


def test_the_expected_diagrams_are_there(results: list) -> None:
    kinds: dict[str, list[str]] = {}
    for r in results:
        kinds.setdefault(r.diagram.path.relative_to(ROOT).as_posix(), []).append(r.kind)
    for path, expected in EXPECTED.items():
        assert kinds.get(path) == expected, (path, kinds.get(path))


def test_a_planted_broken_diagram_fails(tmp_path: Path) -> None:
    doc = tmp_path / "broken.md"
    doc.write_text(
        "# Broken\n\n```mermaid\nsequenceDiagram\n    A->>: no receiver\n```\n\ntext\n\n"
        "```mermaid\nflowchart TD\n    A --> B[\n```\n\n```mermaid\nflowchart TD\n    A --> B\n```\n",
        encoding="utf-8",
    )
    found = check_markdown([doc])
    assert [(r.diagram.line, r.ok) for r in found] == [(3, False), (10, False), (15, True)]
    assert all("Parse error" in (r.error or "") for r in found if not r.ok)


def test_a_real_diagram_with_one_mistake_fails() -> None:
    (sequence,) = diagrams_in(ROOT / "docs" / "contract.md")
    text = sequence.text.replace("    end\n", "", 1)  # an alt without its end
    assert text != sequence.text
    (erd,) = diagrams_in(ROOT / "docs" / "data-model.md")
    text_er = erd.text.replace("||--|{", "||--|", 1)
    results = parse([Diagram(sequence.path, 1, text), Diagram(erd.path, 1, text_er)])
    assert [r.ok for r in results] == [False, False], [r.error for r in results]
