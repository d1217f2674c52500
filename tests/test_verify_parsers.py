"""How `jtel-sf verify` reads each tool's output, fed with outputs captured from the real tools
(tests/fixtures/verify/captured/README.md says how each was made)."""

from __future__ import annotations

import json
from pathlib import Path

from jtel_sf.verify.parsers import (
    parse_apex_serializer,
    parse_apexls,
    parse_pmd,
    parse_prettier_check,
)

CAPTURED = Path(__file__).parent / "fixtures" / "verify" / "captured"
# Where the fixture projects were when the outputs were captured (paths inside the captures).
CAPTURE_ROOT = "/work/main/tests/fixtures/verify/broken_project"
CLASSES = f"{CAPTURE_ROOT}/force-app/main/default/classes"


def captured(name: str) -> str:
    return (CAPTURED / name).read_text(encoding="utf-8")


def positions(findings: list) -> list[tuple[int, int, str, str]]:
    return [(f.line, f.column, f.check, f.rule) for f in findings]


# --- syntax -----------------------------------------------------------------------------------------


def test_serializer_syntax_error_is_reported_at_its_line_and_column() -> None:
    findings = parse_apex_serializer(captured("serializer_SyntaxBroken.cls.json"), "SyntaxBroken.cls")
    assert positions(findings) == [(7, 17, "syntax", "UnexpectedToken")]
    assert findings[0].message == "Unexpected token ';'."
    assert findings[0].path == "SyntaxBroken.cls"


def test_serializer_reports_every_error_of_a_file() -> None:
    findings = parse_apex_serializer(captured("serializer_Two.cls.json"), "Two.cls")
    assert positions(findings) == [(1, 32, "syntax", "UnexpectedToken"), (1, 46, "syntax", "UnexpectedToken")]


def test_serializer_parses_triggers() -> None:
    findings = parse_apex_serializer(captured("serializer_T.trigger.json"), "T.trigger")
    assert positions(findings) == [(2, 47, "syntax", "UnexpectedToken")]


def test_serializer_clean_file_has_no_findings() -> None:
    assert parse_apex_serializer(captured("serializer_CallLogTotals.cls.json"), "CallLogTotals.cls") == []


def test_serializer_output_that_is_not_json_is_a_finding_not_a_pass() -> None:
    findings = parse_apex_serializer("Exception in thread main", "X.cls")
    assert positions(findings) == [(1, 1, "syntax", "tool-error")]


# --- semantics --------------------------------------------------------------------------------------


def keep_all(path: str) -> str | None:
    return path


def test_apexls_unknown_custom_field_is_reported_with_a_1_based_column() -> None:
    findings = parse_apexls(captured("apexls_broken_project.json"), 4, keep_all, "sfdx-project.json")
    unknown = [f for f in findings if f.path.endswith("UnknownField.cls")]
    assert positions(unknown) == [(12, 12, "semantics", "Missing")]
    assert unknown[0].message == "Unknown field 'Missing_Field__c' on SObject 'Schema.Call_Log__c'"


def test_apexls_missing_meta_is_left_to_the_metadata_check_and_syntax_lists_are_cut() -> None:
    findings = parse_apexls(captured("apexls_broken_project.json"), 4, keep_all, "sfdx-project.json")
    assert not [f for f in findings if f.path.endswith("NoMeta.cls")]
    (syntax,) = [f for f in findings if f.path.endswith("SyntaxBroken.cls")]
    assert (syntax.line, syntax.column, syntax.rule) == (7, 17, "Syntax")
    assert syntax.message == "mismatched input ';'"  # the long 'expecting {...}' list is dropped


def test_apexls_map_path_drops_files_outside_the_target() -> None:
    findings = parse_apexls(
        captured("apexls_broken_project.json"),
        4,
        lambda p: p if p.endswith("UnknownField.cls") else None,
        "sfdx-project.json",
    )
    assert [Path(f.path).name for f in findings] == ["UnknownField.cls"]


def test_apexls_clean_project() -> None:
    assert parse_apexls(captured("apexls_clean_project.json"), 0, keep_all, "sfdx-project.json") == []


def test_apexls_crash_exit_code_is_a_finding_not_a_pass() -> None:
    # Exit codes as documented for CheckForIssues: 0 clean, 4 issues, anything else a crash.
    findings = parse_apexls("", 3, keep_all, "/p/sfdx-project.json", "java.lang.OutOfMemoryError")
    assert positions(findings) == [(1, 1, "semantics", "tool-error")]
    assert "exit 3" in findings[0].message and "OutOfMemoryError" in findings[0].message
    assert findings[0].path == "/p/sfdx-project.json"


def test_apexls_issue_exit_without_issues_is_not_a_pass() -> None:
    findings = parse_apexls(captured("apexls_clean_project.json"), 4, keep_all, "sfdx-project.json")
    assert positions(findings) == [(1, 1, "semantics", "tool-error")]


# --- PMD --------------------------------------------------------------------------------------------


def test_pmd_soql_in_loop_fails_and_low_severity_becomes_a_note() -> None:
    findings, notes = parse_pmd(captured("pmd_broken_project.json"), CAPTURE_ROOT)
    loop = [f for f in findings if f.rule == "OperationWithLimitsInLoop"]
    assert [(Path(f.path).name, f.line, f.column) for f in loop] == [("QueryInLoop.cls", 13, 16)]
    assert "(severity 3)" in loop[0].message
    assert {n.rule for n in notes} == {"ApexDoc"}  # severity 4: reported, does not fail
    assert all("(severity 4)" in n.message for n in notes)


def test_pmd_processing_error_is_a_finding_at_the_parse_position() -> None:
    findings, _ = parse_pmd(captured("pmd_broken_project.json"), CAPTURE_ROOT)
    (error,) = [f for f in findings if f.rule == "processing-error"]
    assert error.path == f"{CLASSES}/SyntaxBroken.cls"
    assert (error.line, error.column) == (7, 17)  # PMD prints 7:16, 0-based column
    assert error.message == "PMD could not parse the file: mismatched input ';'"


def test_pmd_processing_error_log_line_is_not_reported_twice() -> None:
    document = json.loads(captured("pmd_broken_project.json"))
    assert any("processing error for file" in log["message"] for log in document["logs"])
    findings, _ = parse_pmd(captured("pmd_broken_project.json"), CAPTURE_ROOT)
    assert [f.rule for f in findings].count("processing-error") == 1
    assert "tool-error" not in [f.rule for f in findings]


def test_pmd_clean_project() -> None:
    document = json.loads(captured("pmd_clean_project.json"))
    assert document["rules"] > 50  # pmd:Recommended really selected Apex rules
    assert parse_pmd(captured("pmd_clean_project.json"), "/p") == ([], [])


def test_pmd_no_rules_or_error_logs_or_garbage_are_findings() -> None:
    none_selected, _ = parse_pmd('{"rules": 0, "violations": [], "processingErrors": [], "logs": []}', "/p")
    assert [f.rule for f in none_selected] == ["tool-error"]
    logged, _ = parse_pmd(
        '{"rules": 65, "violations": [], "processingErrors": [], '
        '"logs": [{"level": 1, "message": "Java command failed"}]}',
        "/p",
    )
    assert [(f.rule, f.message) for f in logged] == [("tool-error", "Java command failed")]
    garbage, _ = parse_pmd("not json", "/p")
    assert [f.rule for f in garbage] == ["tool-error"]


# --- formatting -------------------------------------------------------------------------------------


def test_prettier_check_reports_the_unformatted_file_at_its_first_changed_line() -> None:
    findings = parse_prettier_check(captured("prettier_check_broken_project.json"))
    by_file = {Path(f.path).name: f for f in findings}
    assert set(by_file) == {"Unformatted.cls", "SyntaxBroken.cls"}
    assert (by_file["Unformatted.cls"].line, by_file["Unformatted.cls"].rule) == (6, "prettier")
    assert "jtel-sf verify --fix" in by_file["Unformatted.cls"].message
    assert by_file["SyntaxBroken.cls"].message.startswith("prettier failed: Unexpected token ';'")


def test_prettier_written_file_is_not_a_finding() -> None:
    output = json.dumps({"files": [{"file": "/a.cls", "formatted": False, "written": True, "error": None}]})
    assert parse_prettier_check(output) == []
