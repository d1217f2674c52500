"""The Apex coverage reasoning in docs/apex-coverage.md stays true to the source.

Salesforce measures coverage only in an org (and none runs here), so docs/apex-coverage.md argues, class
by class, that every product class is at least 90% covered. The part of that argument most likely to rot is
the branches only an org can take: each catch block and each @TestVisible hook. These tests read the Apex as
text and check that every catch block of a product class is listed in the document with at least one test
method that reaches it (and that the method exists), that every @TestVisible member is used by some test
class, and that every product class has a row in the per-class table. They prove consistency between the
source and the argument, not coverage itself.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "force-app" / "main" / "default" / "classes"
TESTS = ROOT / "force-app" / "test" / "default" / "classes"
DOC = ROOT / "docs" / "apex-coverage.md"

CATCH = re.compile(r"\bcatch\s*\(\s*([\w.]+)\s+(\w+)\s*\)")
TEST_VISIBLE = re.compile(r"@TestVisible\s+([^(;={]+)")
MODIFIERS = {
    "private",
    "public",
    "protected",
    "global",
    "static",
    "final",
    "transient",
    "override",
    "virtual",
}
TEST_REF = re.compile(r"`(\w+Test)\.(\w+)`")


def catch_blocks(main: Path) -> list[tuple[str, int, str]]:
    """(class, line, 'catch (Type name)') for every catch block of the product classes."""
    found = []
    for path in sorted(main.glob("*.cls")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in CATCH.finditer(line):
                found.append((path.stem, number, f"catch ({match.group(1)} {match.group(2)})"))
    return found


def visible_members(main: Path) -> list[tuple[str, int, str, bool]]:
    """(class, line, member, is_constructor) for every @TestVisible member of the product classes."""
    found = []
    for path in sorted(main.glob("*.cls")):
        source = path.read_text(encoding="utf-8")
        for match in TEST_VISIBLE.finditer(source):
            number = source.count("\n", 0, match.start()) + 1
            words = [word for word in match.group(1).split() if word not in MODIFIERS]
            found.append((path.stem, number, words[-1], len(words) == 1 and words[0] == path.stem))
    return found


def doc_rows(doc: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in doc.splitlines()
        if line.startswith("|")
    ]


def problems(main: Path, tests: Path, doc_path: Path) -> list[str]:
    doc = doc_path.read_text(encoding="utf-8")
    rows = doc_rows(doc)
    test_sources = {path.stem: path.read_text(encoding="utf-8") for path in tests.glob("*.cls")}
    everything_tested = "\n".join(test_sources.values())
    found: list[str] = []
    for cls, number, catch in catch_blocks(main):
        listed = [row for row in rows if len(row) >= 3 and row[0] == f"`{cls}`" and f"`{catch}`" in row[1]]
        if not listed:
            found.append(f"{cls}.cls:{number}: `{catch}` is not in {doc_path.name}")
            continue
        references = TEST_REF.findall(listed[0][2])
        if not references:
            found.append(f"{cls}.cls:{number}: `{catch}` names no test method in {doc_path.name}")
        for test_class, method in references:
            source = test_sources.get(test_class, "")
            if not re.search(rf"\bstatic void {method}\s*\(", source):
                found.append(
                    f"{doc_path.name}: `{test_class}.{method}` (for {cls} {catch}) is not a test method"
                )
    present = {(cls, catch) for cls, _, catch in catch_blocks(main)}
    for row in rows:
        listed = re.fullmatch(r"`(\w+)`", row[0]) if len(row) >= 3 else None
        stale = re.search(r"`(catch \([^)]*\))`", row[1]) if listed else None
        if listed and stale and (listed.group(1), stale.group(1)) not in present:
            gone = f"`{stale.group(1)}` of {listed.group(1)}"
            found.append(f"{doc_path.name}: {gone} is no longer in the source")
    for cls, number, member, is_constructor in visible_members(main):
        used = f"new {cls}(" if is_constructor else f"{cls}.{member}"
        if used not in everything_tested:
            found.append(f"{cls}.cls:{number}: @TestVisible {member} is used by no test class")
    for path in sorted(main.glob("*.cls")):
        if not any(
            len(row) >= 4 and row[0] == f"`{path.stem}`" and re.fullmatch(r"\d+", row[1]) for row in rows
        ):
            found.append(f"{doc_path.name}: no coverage row for product class {path.stem}")
    return found


def test_every_catch_block_and_hook_is_reached_by_a_named_test() -> None:
    assert problems(MAIN, TESTS, DOC) == []


def test_every_class_is_estimated_at_90_percent_or_more() -> None:
    for row in doc_rows(DOC.read_text(encoding="utf-8")):
        if len(row) >= 4 and re.fullmatch(r"\d+", row[1]):
            statements, unreached = int(row[1]), int(row[2])
            assert (statements - unreached) / statements >= 0.9, (
                f"{row[0]}: {statements - unreached}/{statements}"
            )


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    main, tests, doc = tmp_path / "main", tmp_path / "tests", tmp_path / "apex-coverage.md"
    shutil.copytree(MAIN, main)
    shutil.copytree(TESTS, tests)
    shutil.copy(DOC, doc)
    return main, tests, doc


def test_an_undocumented_catch_block_is_reported_at_its_line(copies: tuple[Path, Path, Path]) -> None:
    main, tests, doc = copies
    path = main / "JtelRowOrder.cls"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(10, "    try { row.get('x'); } catch (SObjectException planted) { return; }")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert problems(main, tests, doc) == [
        "JtelRowOrder.cls:11: `catch (SObjectException planted)` is not in apex-coverage.md"
    ]


def test_a_hook_no_test_uses_and_a_missing_test_method_are_reported(copies: tuple[Path, Path, Path]) -> None:
    main, tests, doc = copies
    path = main / "JtelRowOrder.cls"
    source = path.read_text(encoding="utf-8")
    path.write_text(
        source.replace(
            "  private final JtelCallRow__c row;",
            "  @TestVisible\n  private static Boolean plantedHook = false;\n"
            "  private final JtelCallRow__c row;",
        ),
        encoding="utf-8",
    )
    (tests / "JtelFailurePathsTest.cls").write_text(
        (tests / "JtelFailurePathsTest.cls")
        .read_text(encoding="utf-8")
        .replace("static void answersBusyWhenAnotherRequestIsCreatingTheCall(", "static void renamed("),
        encoding="utf-8",
    )
    found = problems(main, tests, doc)
    assert any(
        "JtelRowOrder.cls:" in item and "plantedHook is used by no test class" in item for item in found
    ), found
    assert any(
        "`JtelFailurePathsTest.answersBusyWhenAnotherRequestIsCreatingTheCall`" in item for item in found
    ), found


def test_a_class_without_a_coverage_row_is_reported(copies: tuple[Path, Path, Path]) -> None:
    main, tests, doc = copies
    (main / "JtelPlanted.cls").write_text(
        "public inherited sharing class JtelPlanted {\n}\n", encoding="utf-8"
    )
    assert problems(main, tests, doc) == ["apex-coverage.md: no coverage row for product class JtelPlanted"]


def test_a_documented_catch_block_that_is_gone_is_reported(copies: tuple[Path, Path, Path]) -> None:
    main, tests, doc = copies
    path = main / "JtelRecordSelector.cls"
    path.write_text(
        path.read_text(encoding="utf-8").replace("QueryException notQueryable", "QueryException renamed"),
        encoding="utf-8",
    )
    found = problems(main, tests, doc)
    gone = "`catch (QueryException notQueryable)` of JtelRecordSelector"
    assert f"apex-coverage.md: {gone} is no longer in the source" in found
    assert any(item.startswith("JtelRecordSelector.cls:") and "renamed" in item for item in found), found
