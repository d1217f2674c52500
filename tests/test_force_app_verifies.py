"""The shipped force-app passes offline verification, and planted errors in a copy of it are caught.

This is the bar CI enforces for the product: zero findings from Salesforce's parser, apex-ls,
PMD and prettier. It runs the real toolchain (installed on first use), never skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERY = "[SELECT Id FROM User WHERE Username = :username WITH USER_MODE LIMIT 1]"


def _verify(path: Path) -> tuple[int, dict]:
    # Through the entry point: the --json envelope is printed by the error edge (cli.main).
    proc = subprocess.run(
        [sys.executable, "-m", "jtel_sf.cli", "verify", str(path), "--json"], capture_output=True, text=True
    )
    return proc.returncode, json.loads(proc.stdout)["result"]


def test_shipped_force_app_has_zero_findings() -> None:
    exit_code, report = _verify(ROOT / "force-app")
    assert report["findings"] == [], report["findings"]
    assert exit_code == 0


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict]:
    project = tmp_path_factory.mktemp("planted")
    shutil.copy(ROOT / "sfdx-project.json", project / "sfdx-project.json")
    shutil.copytree(ROOT / "force-app", project / "force-app")
    classes = project / "force-app" / "main" / "default" / "classes"
    rollup = classes / "JtelRowValues.cls"
    rollup.write_text(
        rollup.read_text(encoding="utf-8").replace(
            "    return label == null ? JtelContractSpec.UNKNOWN_RESULT_LABEL : label;",
            "    return label == null ? JtelContractSpec.UNKNOWN_RESULT_LABEL : label\n",
        ),
        encoding="utf-8",
    )
    task = classes / "JtelCallTask.cls"
    task.write_text(
        task.read_text(encoding="utf-8").replace(
            "    task.CallObject = call.CallKey__c;",
            "    task.CallObject = call.NoSuchField__c;",
        ),
        encoding="utf-8",
    )
    users = classes / "JtelUserSelector.cls"
    users.write_text(
        users.read_text(encoding="utf-8").replace(
            "    List<User> users = [\n",
            "    List<User> users = new List<User>();\n"
            "    for (Integer attempt = 0; attempt < 2; attempt++) {\n"
            f"      users = {QUERY};\n"
            "    }\n"
            "    List<User> unused = [\n",
            1,
        ),
        encoding="utf-8",
    )
    layouts = project / "force-app/main/default/objects/JtelCall__c/compactLayouts"
    compact = layouts / "JtelCallCompact.compactLayout-meta.xml"
    text = compact.read_text(encoding="utf-8")
    compact.write_text(text.replace("    <fullName>JtelCallCompact</fullName>\n", ""), encoding="utf-8")
    return _verify(project / "force-app")


def _rules(report: dict, file_name: str) -> list[tuple[str, str, int]]:
    return [
        (finding["check"], finding.get("rule") or "", finding["line"])
        for finding in report["findings"]
        if Path(finding["path"]).name == file_name
    ]


def test_planted_syntax_error_is_reported(planted: tuple[int, dict]) -> None:
    exit_code, report = planted
    assert exit_code == 1
    assert any(check == "syntax" for check, _, _ in _rules(report, "JtelRowValues.cls")), report["findings"]


def test_planted_unknown_field_is_reported_at_its_line(planted: tuple[int, dict]) -> None:
    source = (ROOT / "force-app/main/default/classes/JtelCallTask.cls").read_text(encoding="utf-8")
    planted_text = "task.CallObject = call.CallKey__c;"
    line = next(n for n, text in enumerate(source.splitlines(), 1) if planted_text in text)
    _, report = planted
    lines = [ln for check, _, ln in _rules(report, "JtelCallTask.cls") if check == "semantics"]
    assert line in lines, report["findings"]


def test_planted_soql_in_a_loop_is_reported(planted: tuple[int, dict]) -> None:
    _, report = planted
    rules = _rules(report, "JtelUserSelector.cls")
    assert any(check == "pmd" and "Loop" in rule for check, rule, _ in rules), report["findings"]


def test_planted_platform_rule_violation_is_reported_at_its_file_and_line(planted: tuple[int, dict]) -> None:
    """The platform rulebook runs in the command (every rule's own plant: tests/test_platform_rules.py)."""
    _, report = planted
    rules = _rules(report, "JtelCallCompact.compactLayout-meta.xml")
    assert ("platform", "decomposed-fullname", 2) in rules, report["findings"]
