"""The platform rulebook of `jtel-sf verify`: each rule is shown to fire on a violation planted in a copy
of force-app (and the project files), at the planted file and line, and to stay silent on the shipped
project. The rules and their sources: docs/platform-rules.md.

These run the rulebook directly (no apex-ls or PMD); tests/test_force_app_verifies.py runs the whole
command on a planted copy and checks the platform findings come out of the CLI with file and line.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from jtel_sf.verify import platform
from jtel_sf.verify.core import collect_files
from jtel_sf.verify.findings import Finding
from jtel_sf.verify.toolchain import ensure_toolchain

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = Path("force-app/main/default")
OBJECTS = DEFAULT / "objects"


@pytest.fixture(scope="module")
def toolchain_root() -> Path:
    return ensure_toolchain().root  # installs on first use: the schemas come from @salesforce/schemas


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "sfdx-project.json", project / "sfdx-project.json")
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "force-app", project / "force-app")
    return project


def run_rules(project: Path, toolchain_root: Path) -> list[Finding]:
    target = project / "force-app"
    apex, xml = collect_files(target)
    return platform.check_platform(target, apex, xml, project, toolchain_root)


def edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"the plant did not change {path}"
    path.write_text(after, encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def reported(findings: list[Finding], path: Path, rule: str) -> list[int]:
    return [f.line for f in findings if Path(f.path).resolve() == path.resolve() and f.rule == rule]


def test_shipped_project_passes_the_rulebook(toolchain_root: Path, tmp_path: Path) -> None:
    findings = run_rules(copy_project(tmp_path), toolchain_root)
    assert findings == [], [f.format() for f in findings]


def test_every_limit_names_its_source() -> None:
    rules = platform.load_rules()
    for item in [*rules["text_limits"], *rules["name_limits"]]:
        assert item["limit"] > 0 and item["source"].strip() and isinstance(item["checked"], bool), item


# --- text limits --------------------------------------------------------------------------------------


def test_permission_set_description_over_255_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / DEFAULT / "permissionsets/JtelCallStatisticsRecordAccess.permissionset-meta.xml"
    edit(path, lambda t: re.sub(r"<description>(.*?)</description>", r"<description>\1 \1</description>", t))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, path, "text-limit") == [line_of(path, "<description>")]


def test_inline_help_text_over_510_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / OBJECTS / "JtelCall__c/fields/CallKey__c.field-meta.xml"
    edit(path, lambda t: re.sub(r"<inlineHelpText>", "<inlineHelpText>" + "x" * 500, t))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, path, "text-limit") == [line_of(path, "<inlineHelpText>")]


def test_text_limit_counts_utf16_units_and_allows_the_limit_itself(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    at_limit = project / OBJECTS / "JtelCall__c/listViews/All_calls.listView-meta.xml"
    edit(at_limit, lambda t: t.replace("<label>All calls</label>", f"<label>{'a' * 40}</label>"))
    over = project / OBJECTS / "JtelCall__c/listViews/Unlinked_calls.listView-meta.xml"
    # 20 characters outside the BMP are 40 UTF-16 units, plus one: over the list view label limit of 40.
    edit(over, lambda t: t.replace("<label>Unlinked calls</label>", f"<label>{chr(0x1F4DE) * 20}x</label>"))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, at_limit, "text-limit") == []
    assert reported(findings, over, "text-limit") == [line_of(over, "<label>")]


# --- fullName of decomposed children ------------------------------------------------------------------


def test_missing_and_wrong_full_names_of_decomposed_children_are_reported(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    compact = project / OBJECTS / "JtelCall__c/compactLayouts/JtelCallCompact.compactLayout-meta.xml"
    edit(compact, lambda t: t.replace("    <fullName>JtelCallCompact</fullName>\n", ""))
    view = project / OBJECTS / "JtelQuarantine__c/listViews/All.listView-meta.xml"
    edit(view, lambda t: t.replace("<fullName>All</fullName>", "<fullName>Everything</fullName>"))
    field = project / OBJECTS / "JtelCallRow__c/fields/Cause__c.field-meta.xml"
    edit(field, lambda t: t.replace("<fullName>Cause__c</fullName>\n", ""))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, compact, "decomposed-fullname") == [line_of(compact, "<CompactLayout")]
    assert reported(findings, view, "decomposed-fullname") == [line_of(view, "<fullName>")]
    assert reported(findings, field, "decomposed-fullname") == [line_of(field, "<CustomField")]


# --- field permissions --------------------------------------------------------------------------------

FORMULA_FIELD = """<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>Planted__c</fullName>
    <formula>RowCount__c * 2</formula>
    <label>Planted</label>
    <precision>18</precision>
    <scale>0</scale>
    <type>Number</type>
</CustomField>
"""


def _grant(field: str, editable: bool) -> str:
    return (
        f"    <fieldPermissions>\n        <editable>{str(editable).lower()}</editable>\n"
        f"        <field>{field}</field>\n        <readable>true</readable>\n    </fieldPermissions>\n"
    )


def test_field_permissions_on_fields_that_take_none_are_reported(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    (project / OBJECTS / "JtelCall__c/fields/Planted__c.field-meta.xml").write_text(FORMULA_FIELD, "utf-8")
    required = project / OBJECTS / "JtelCall__c/fields/CallKey__c.field-meta.xml"
    edit(required, lambda t: t.replace("<required>false</required>", "<required>true</required>"))
    path = project / DEFAULT / "permissionsets/JtelCallStatisticsRecordAccess.permissionset-meta.xml"
    grants = (
        _grant("JtelCallRow__c.Call__c", False)  # master-detail
        + _grant("JtelCall__c.CallKey__c", False)  # now required
        + _grant("JtelCall__c.Planted__c", True)  # formula, editable
        + _grant("JtelCall__c.Planted__c", False)  # formula, read-only: allowed
        + _grant("JtelCall__c.NoSuchField__c", False)  # missing
        + _grant("Contact.Email", True)  # standard object: not checked offline
    )
    edit(path, lambda t: t.replace("    <hasActivationRequired>", grants + "    <hasActivationRequired>"))
    findings = run_rules(project, toolchain_root)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = [
        number
        for number, line in enumerate(lines, 1)
        for name in ("Call__c", "CallKey__c", "NoSuchField__c")
        if f"<field>JtelCall{'Row' if name == 'Call__c' else ''}__c.{name}</field>" in line
    ]
    planted_editable = next(
        number for number, line in enumerate(lines, 1) if "Planted__c" in line and "true" in lines[number - 2]
    )
    assert sorted(reported(findings, path, "field-permission")) == sorted([*expected, planted_editable])
    # The integration and admin sets grant CallKey__c too: now a required field, both are reported.
    for name in ("JtelCallStatisticsIntegration", "JtelCallStatisticsAdmin"):
        other = project / DEFAULT / f"permissionsets/{name}.permissionset-meta.xml"
        assert reported(findings, other, "field-permission") == [line_of(other, "JtelCall__c.CallKey__c")]


def test_field_definitions_the_metadata_api_refuses_are_reported(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    master = project / OBJECTS / "JtelCallRow__c/fields/Call__c.field-meta.xml"
    edit(
        master,
        lambda t: t.replace(
            "    <type>MasterDetail</type>", "    <required>true</required>\n    <type>MasterDetail</type>"
        ),
    )
    text = project / OBJECTS / "JtelCall__c/fields/CallKey__c.field-meta.xml"
    edit(text, lambda t: t.replace("<length>20</length>", "<length>256</length>"))
    number = project / OBJECTS / "JtelQuarantine__c/fields/Attempts__c.field-meta.xml"
    edit(number, lambda t: re.sub(r"<scale>\d+</scale>", "<scale>19</scale>", t))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, master, "field-definition") == [line_of(master, "<required>")]
    assert reported(findings, text, "field-definition") == [line_of(text, "<length>")]
    assert reported(findings, number, "field-definition") == [line_of(number, "<precision>")]


def test_permissions_missing_what_they_require_are_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / DEFAULT / "permissionsets/JtelCallStatisticsRecordAccess.permissionset-meta.xml"
    text = path.read_text(encoding="utf-8")
    start = text.index("<object>Account</object>")
    head, tail = text[:start], text[start:]
    head = head[: head.rindex("<allowDelete>")] + head[head.rindex("<allowDelete>") :].replace(
        "<allowDelete>false</allowDelete>", "<allowDelete>true</allowDelete>"
    )
    path.write_text(head + tail, encoding="utf-8")  # Delete without Edit on Account
    edit(
        path,
        lambda t: t.replace(
            "    <hasActivationRequired>", _grant_unreadable() + "    <hasActivationRequired>"
        ),
    )
    findings = run_rules(project, toolchain_root)
    lines = path.read_text(encoding="utf-8").splitlines()
    delete_line = next(n for n, line in enumerate(lines, 1) if "<allowDelete>true</allowDelete>" in line)
    editable_line = next(n for n, line in enumerate(lines, 1) if "<editable>true</editable>" in line)
    assert sorted(reported(findings, path, "permission-dependency")) == [editable_line, delete_line]


def _grant_unreadable() -> str:
    return (
        "    <fieldPermissions>\n        <editable>true</editable>\n"
        "        <field>JtelCall__c.CallerID__c</field>\n        <readable>false</readable>\n"
        "    </fieldPermissions>\n"
    )


# --- references ---------------------------------------------------------------------------------------


def test_names_that_do_not_resolve_are_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    obj = project / OBJECTS / "JtelCall__c/JtelCall__c.object-meta.xml"
    edit(obj, lambda t: t.replace(">JtelCallCompact<", ">NoSuchLayout<"))
    app = project / DEFAULT / "applications/JtelCallStatistics.app-meta.xml"
    edit(app, lambda t: t.replace("<tabs>JtelQuarantine__c</tabs>", "<tabs>NoSuchTab__c</tabs>"))
    admin = project / DEFAULT / "permissionsets/JtelCallStatisticsAdmin.permissionset-meta.xml"
    edit(admin, lambda t: t.replace("<apexClass>JtelQuarantineReprocessAction<", "<apexClass>NoSuchClass<"))
    report = project / DEFAULT / "reports/JtelCallStatistics/JtelCallsByResult.report-meta.xml"
    edit(report, lambda t: t.replace("<reportType>JtelCalls__c<", "<reportType>NoSuchType__c<"))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, obj, "reference") == [line_of(obj, "compactLayoutAssignment")]
    assert reported(findings, app, "reference") == [line_of(app, "NoSuchTab__c")]
    assert reported(findings, admin, "reference") == [line_of(admin, "NoSuchClass")]
    assert reported(findings, report, "reference") == [line_of(report, "NoSuchType__c")]


def test_unknown_tab_style_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    tab = project / DEFAULT / "tabs/JtelCall__c.tab-meta.xml"
    edit(tab, lambda t: re.sub(r"<motif>[^<]*</motif>", "<motif>Custom22: Phone</motif>", t))
    findings = run_rules(project, toolchain_root)
    assert reported(findings, tab, "tab-motif") == [line_of(tab, "<motif>")]


def test_retired_public_folder_access_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    folder = project / DEFAULT / "reports/JtelCallStatistics.reportFolder-meta.xml"
    edit(
        folder,
        lambda t: t.replace("</name>\n", "</name>\n    <publicFolderAccess>ReadOnly</publicFolderAccess>\n"),
    )
    findings = run_rules(project, toolchain_root)
    assert reported(findings, folder, "retired-folder-access") == [line_of(folder, "publicFolderAccess")]


def test_report_type_labels_that_salesforce_also_generates_are_reported(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    calls = project / DEFAULT / "reportTypes/JtelCalls.reportType-meta.xml"
    edit(calls, lambda t: re.sub(r"<label>[^<]*</label>", "<label>jtel Calls</label>", t))
    rows = project / DEFAULT / "reportTypes/JtelCallsWithStatistics.reportType-meta.xml"
    edit(
        rows,
        lambda t: re.sub(r"<label>[^<]*</label>", "<label>jtel calls with jtel call statistics</label>", t),
    )
    findings = run_rules(project, toolchain_root)
    assert reported(findings, calls, "report-type-label") == [line_of(calls, "<label>")]
    assert reported(findings, rows, "report-type-label") == [line_of(rows, "<label>")]


# --- Apex ---------------------------------------------------------------------------------------------


def test_profile_lookups_by_name_are_reported_in_any_apex(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / "force-app/test/default/classes/PlantedProfileTest.cls"
    path.write_text(
        "@IsTest\nprivate class PlantedProfileTest {\n"
        "  // FROM Profile WHERE Name = 'in a comment' is not a lookup\n"
        "  @IsTest\n  static void findsProfiles() {\n"
        "    Id one = [SELECT Id FROM Profile WHERE Name = 'System Administrator' LIMIT 1].Id;\n"
        "    List<User> two = [SELECT Id FROM User WHERE Profile.Name IN ('Standard User')];\n"
        "    List<Profile> three = Database.query('SELECT Id FROM Profile WHERE name LIKE \\'Min%\\'');\n"
        "    Id fine = [SELECT Id FROM Profile WHERE Id = :UserInfo.getProfileId()].Id;\n"
        "    Assert.isNotNull(fine, 'the running user has a profile');\n"
        "  }\n}\n",
        encoding="utf-8",
    )
    findings = run_rules(project, toolchain_root)
    assert reported(findings, path, "profile-by-name") == [6, 7, 8]


def test_a_locking_query_that_sorts_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / "force-app/main/default/classes/PlantedLock.cls"
    path.write_text(
        "/** @description planted */\npublic with sharing class PlantedLock {\n"
        "  // [SELECT Id FROM Account ORDER BY Name FOR UPDATE] in a comment is no query\n"
        "  public List<Account> locked() {\n"
        "    List<Account> a = [SELECT Id FROM Account WHERE Name != null ORDER BY Name FOR UPDATE];\n"
        "    List<Account> b = Database.query('SELECT Id FROM Account ORDER BY Name FOR UPDATE');\n"
        "    List<Account> c = [SELECT Id, (SELECT Id FROM Contacts) FROM Account FOR UPDATE];\n"
        "    List<Account> d = [SELECT Id FROM Account ORDER BY Name LIMIT 5];\n"
        "    return a;\n"
        "  }\n}\n",
        encoding="utf-8",
    )
    (project / "force-app/main/default/classes/PlantedLock.cls-meta.xml").write_text(
        (project / "force-app/main/default/classes/JtelDml.cls-meta.xml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    findings = run_rules(project, toolchain_root)
    assert reported(findings, path, "order-by-with-for-update") == [5, 6]


def test_a_method_that_calls_itself_unconditionally_is_reported(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / "force-app/test/default/classes/PlantedRecursionTest.cls"
    path.write_text(
        "@IsTest\nprivate class PlantedRecursionTest {\n"
        "  private static Contact linkedContact() {\n"
        "    Contact person = linkedContact();\n"
        "    return person;\n"
        "  }\n"
        "  private static Integer depth(Integer n) {\n"
        "    return n <= 0 ? 0 : depth(n - 1) + 1;\n"
        "  }\n"
        "  private static String label() {\n"
        "    return 'label()';\n"
        "  }\n"
        "  private static Integer sum(List<Integer> values) {\n"
        "    return sum(values, 0);\n"
        "  }\n"
        "  private static Integer sum(List<Integer> values, Integer start) {\n"
        "    return start + values.size();\n"
        "  }\n"
        "  @IsTest\n  static void runs() {\n"
        "    Assert.areEqual(2, depth(2), 'a guarded recursion is fine');\n"
        "  }\n}\n",
        encoding="utf-8",
    )
    findings = run_rules(project, toolchain_root)
    assert reported(findings, path, "unconditional-recursion") == [4]


# --- project files against Salesforce's schemas -------------------------------------------------------


def test_scratch_definition_settings_and_values_are_checked_against_salesforce_schema(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    path = project / "config/project-scratch-def.json"
    edit(
        path,
        lambda t: t.replace('"activitiesSettings"', '"activitySettings"').replace('"Developer"', '"Dev"'),
    )
    findings = run_rules(project, toolchain_root)
    by_line = {f.line: f.message for f in findings if Path(f.path) == path and f.rule == "json-schema"}
    assert line_of(path, '"activitySettings"') in by_line
    assert "did you mean activitiesSettings" in by_line[line_of(path, '"activitySettings"')]
    assert line_of(path, '"edition"') in by_line, by_line


def test_sfdx_project_is_checked_against_salesforce_schema(toolchain_root: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    path = project / "sfdx-project.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["sourceApiVersin"] = "61.0"  # a typo: the schema allows no unknown keys
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    findings = run_rules(project, toolchain_root)
    by_line = {f.line: f.message for f in findings if Path(f.path) == path and f.rule == "json-schema"}
    assert "sourceApiVersin" in by_line.get(line_of(path, '"sourceApiVersin"'), ""), by_line


def test_missing_schemas_are_a_tool_error_not_a_pass(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    findings = platform.check_project_files(project, tmp_path / "no-schemas")
    assert [f.rule for f in findings] == ["tool-error"]


def test_comment_blanking_keeps_strings_and_positions() -> None:
    source = (
        "String u = 'http://x'; // FROM Profile WHERE Name = 'a'\n/* block\n Profile.Name = 'b' */ Id x;\n"
    )
    blanked = platform.blank_comments(source)
    assert len(blanked) == len(source) and blanked.count("\n") == source.count("\n")
    assert "'http://x'" in blanked and "Profile" not in blanked and blanked.endswith(" Id x;\n")


def test_lookups_by_names_that_are_not_translated_are_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "Fine.cls"
    path.write_text(
        "public class Fine {\n"
        "  Id a = [SELECT Id FROM PermissionSet WHERE Name = 'JtelCallStatisticsIntegration'].Id;\n"
        "  Id b = [SELECT Id FROM Profile WHERE UserLicense.Name = 'Salesforce' LIMIT 1].Id;\n"
        "  String c = [SELECT Profile.Name FROM User LIMIT 1].Profile.Name;\n"
        "}\n",
        encoding="utf-8",
    )
    assert platform.check_profile_lookups([path]) == []


def test_a_subfolder_resolves_names_across_its_package_and_reports_only_its_files(
    toolchain_root: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    obj = project / OBJECTS / "JtelCall__c/JtelCall__c.object-meta.xml"
    edit(obj, lambda t: t.replace(">JtelCallCompact<", ">NoSuchLayout<"))
    target = project / DEFAULT / "permissionsets"
    apex, xml = collect_files(target)
    findings = platform.check_platform(target.resolve(), apex, xml, project.resolve(), toolchain_root)
    assert findings == []  # classes, tabs and the app it names exist elsewhere in force-app
    target = project / OBJECTS
    apex, xml = collect_files(target)
    findings = platform.check_platform(target.resolve(), apex, xml, project.resolve(), toolchain_root)
    assert [(Path(f.path).name, f.rule) for f in findings] == [("JtelCall__c.object-meta.xml", "reference")]
