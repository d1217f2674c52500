"""The governor numbers are stated twice: as the derivation people read (docs/apex-governor-budget.md)
and as the exact assertions Apex runs (JtelGovernorBudgetTest). These tests keep the two equal and within
the budget of issue 9 point 16 (at most 5 SOQL queries and 5 DML statements per row). Apex never runs here:
the assertions themselves are proven only by a test run in an org."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "apex-governor-budget.md"
APEX = ROOT / "force-app" / "test" / "default" / "classes" / "JtelGovernorBudgetTest.cls"
BUDGET = 5


def documented(doc: str) -> dict[str, tuple[int, int]]:
    """Test method -> (queries, DML statements) from the path table."""
    numbers = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.match(r"`\w+`$", cells[3]):
            queries, dml = (int(re.match(r"\d+", cell).group(0)) for cell in cells[1:3])
            numbers[cells[3].strip("`")] = (queries, dml)
    return numbers


def asserted(apex: str) -> dict[str, tuple[int, int]]:
    """Test method -> (queries, DML statements) from its assertBudget call."""
    numbers = {}
    for match in re.finditer(r"static void (\w+)\(\)\s*\{(.*?)\n  \}", apex, re.S):
        call = re.search(r"assertBudget\((\d+),\s*(\d+),", match.group(2))
        if call:
            numbers[match.group(1)] = (int(call.group(1)), int(call.group(2)))
    return numbers


def mismatches(doc: str, apex: str) -> list[str]:
    found = []
    stated, tested = documented(doc), asserted(apex)
    for method in sorted(set(stated) | set(tested)):
        if stated.get(method) != tested.get(method):
            found.append(f"{method}: documented {stated.get(method)}, asserted {tested.get(method)}")
    for method, (queries, dml) in tested.items():
        if queries > BUDGET or dml > BUDGET:
            found.append(
                f"{method}: {queries} queries / {dml} DML statements is over the budget of {BUDGET}"
            )
    return found


def test_the_documented_numbers_are_the_asserted_numbers_and_within_budget() -> None:
    doc, apex = DOC.read_text(encoding="utf-8"), APEX.read_text(encoding="utf-8")
    assert len(asserted(apex)) >= 8, "every common path is asserted"
    assert mismatches(doc, apex) == []


def test_a_number_changed_on_one_side_only_is_reported() -> None:
    doc, apex = DOC.read_text(encoding="utf-8"), APEX.read_text(encoding="utf-8")
    changed = apex.replace("measured.assertBudget(1, 0, 'resend')", "measured.assertBudget(2, 0, 'resend')")
    assert mismatches(doc, changed) == ["resendCosts1QueryAndNoDml: documented (1, 0), asserted (2, 0)"]


def test_a_path_over_the_budget_is_reported() -> None:
    doc, apex = DOC.read_text(encoding="utf-8"), APEX.read_text(encoding="utf-8")
    over = apex.replace("measured.assertBudget(1, 0, 'resend')", "measured.assertBudget(6, 0, 'resend')")
    over_doc = doc.replace("| resend of a stored row | 1:", "| resend of a stored row | 6:")
    assert mismatches(over_doc, over) == [
        "resendCosts1QueryAndNoDml: 6 queries / 0 DML statements is over the budget of 5"
    ]
