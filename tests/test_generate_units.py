"""Unit tests of the plain functions behind jtel-sf generate (no prettier needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jtel_sf.contract import CASES_DIR, FieldSpec, load_fields
from jtel_sf.errors import UsageError
from jtel_sf.generate import permissions
from jtel_sf.generate.filters import apex_field_def, apex_string, limits, md_cell, xml
from jtel_sf.generate.render import CLASSES_DIR, MAX_APEX_METHOD_NAME, apex_method_name, render_all
from jtel_sf.settings import DEFAULT_SETTINGS, Settings, settings_from_mapping, validate

REPO = Path(__file__).resolve().parents[1]


def identity(text: str, filename: str) -> str:
    return text


def test_apex_string_escapes_quotes_backslashes_and_control_characters() -> None:
    assert apex_string("it's") == r"'it\'s'"
    assert apex_string("a\\b") == r"'a\\b'"
    assert apex_string("l1\nl2\r\t") == r"'l1\nl2\r\t'"
    assert apex_string("\x01") == r"'\u0001'"
    assert apex_string("ümlaut") == "'ümlaut'"


def test_apex_field_def_uses_the_fluent_calls_of_the_spec() -> None:
    by_name = {f.name: f for f in load_fields()}
    assert apex_field_def(by_name["jtelStatisticsPartAID"]) == (
        "new JtelFieldDef('jtelStatisticsPartAID', 'integer', 'jtelStatisticsPartAID__c')"
        ".isRequired().range(1L, 999999999999999999L)"
    )
    assert (
        apex_field_def(by_name["CallerID"])
        == "new JtelFieldDef('CallerID', 'phone', 'CallerID__c').withMaxLength(255)"
    )
    assert apex_field_def(by_name["dtCallEnd"]) == "new JtelFieldDef('dtCallEnd', 'datetime', 'dtCallEnd__c')"
    open_ended = FieldSpec("n", "integer", "n__c", "N", "d", min=0)
    assert apex_field_def(open_ended) == "new JtelFieldDef('n', 'integer', 'n__c').range(0L, null)"
    assert limits(open_ended) == "0.."


def test_xml_and_markdown_escaping() -> None:
    assert xml('<a & "b">') == "&lt;a &amp; &quot;b&quot;&gt;"
    assert md_cell("a | b\n c") == "a \\| b c"


def test_apex_method_names_are_valid_and_deterministic() -> None:
    assert apex_method_name("seed_five_row_call_in_order") == "seed_five_row_call_in_order"
    assert apex_method_name("2 odd-name!") == "case_2_odd_name"
    assert apex_method_name("while") == "case_while"
    long_name = "x_" * 40
    short = apex_method_name(long_name)
    assert len(short) == MAX_APEX_METHOD_NAME
    assert short == apex_method_name(long_name)
    assert short != apex_method_name(long_name + "y")


def test_contract_spec_constants_come_from_outcomes_json() -> None:
    files = render_all(DEFAULT_SETTINGS, REPO, {}, identity)
    spec = next(f.content for f in files if f.path == f"{CLASSES_DIR}/JtelContractSpec.cls")
    outcomes = json.loads((REPO / "tools/jtel_sf/contract/outcomes.json").read_text(encoding="utf-8"))
    for key in outcomes["statuses"]:
        assert f"public static final String STATUS_{key.upper()} = '{key}';" in spec
    for key, code in outcomes["codes"].items():
        assert f"public static final String CODE_{key.upper()} = '{key}';" in spec
        assert f"'{key}' => '{code['status']}'" in spec
    for key in outcomes["errorCodes"]:
        assert f"public static final String ERROR_{key.upper()} = '{key}';" in spec
    assert "DEFAULT_RETRY_HTTP_STATUS = 503;" in spec
    assert "new Set<Integer>{ 500, 503 }" in spec


def test_cases_without_apex_get_no_test_method(tmp_path: Path) -> None:
    source = json.loads((CASES_DIR / "written_without_salesforce_id.json").read_text(encoding="utf-8"))
    (tmp_path / "runs_everywhere.json").write_text(json.dumps({**source, "name": "runs_everywhere"}))
    local_only = {**source, "name": "local_only", "runsOn": ["local", "org"], "description": "it's \\ local"}
    (tmp_path / "local_only.json").write_text(json.dumps(local_only))

    files = render_all(DEFAULT_SETTINGS, REPO, {}, identity, cases_dir=tmp_path)

    test_class = next(f.content for f in files if f.path.endswith("JtelContractCasesTest.cls"))
    assert "static void runs_everywhere()" in test_class
    assert "local_only" not in test_class
    literal = test_class.split("JtelContractCaseRunner.run(", 1)[1].rsplit(");", 1)[0]
    assert literal.startswith('\'{"name":"runs_everywhere"')
    assert "\n" not in literal


FIELD = '<?xml version="1.0" encoding="UTF-8"?>\n<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">{}</CustomField>'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<type>Text</type><required>false</required>", True),
        ("<type>Text</type><required>true</required>", False),
        ("<type>MasterDetail</type>", False),
        ("<type>AutoNumber</type>", False),
        ("<type>Summary</type>", False),
        ("<type>Number</type><formula>1 + 1</formula>", False),
        ("<type>Lookup</type>", True),
    ],
)
def test_which_fields_take_field_permissions(body: str, expected: bool) -> None:
    assert permissions.takes_field_permissions(FIELD.format(body), "x") is expected


def test_permission_set_model_is_least_privilege() -> None:
    objects = "force-app/main/default/objects"
    files = {
        f"{objects}/JtelCall__c/fields/Plain__c.field-meta.xml": FIELD.format("<type>Text</type>"),
        f"{objects}/JtelCall__c/fields/Must__c.field-meta.xml": FIELD.format("<required>true</required>"),
        f"{objects}/JtelCallRow__c/fields/Call__c.field-meta.xml": FIELD.format("<type>MasterDetail</type>"),
        f"{objects}/Other__c/fields/Foreign__c.field-meta.xml": FIELD.format("<type>Text</type>"),
    }
    model = permissions.build_permission_set(files, label="L")
    task_fields = ["Task.ActivityDate", "Task.Description", "Task.WhatId", "Task.WhoId"]
    assert [f.field for f in model.fields] == ["JtelCall__c.Plain__c", *task_fields]
    assert model.classes == ("JtelCallStatisticsResource",)
    assert model.user_permissions == ("EditTask",)
    by_object = {o.object: o for o in model.objects}
    assert by_object["JtelCallRow__c"].create and not by_object["JtelCallRow__c"].edit
    assert set(by_object) == {"JtelCall__c", "JtelCallRow__c", "JtelQuarantine__c"}, "only the jtel objects"
    with pytest.raises(UsageError, match="not valid XML"):
        permissions.takes_field_permissions("<broken", "objects/X/fields/Y")


def test_the_agent_match_field_is_readable_unless_it_is_a_required_user_field() -> None:
    for required in ("CommunityNickname", "Username", "Alias"):
        model = permissions.build_permission_set({}, "L", agent_match_field=required)
        assert not any(f.field.startswith("User.") for f in model.fields), required
    for optional in ("EmployeeNumber", "FederationIdentifier", "Jtel_Agent_Id__c"):
        model = permissions.build_permission_set({}, "L", agent_match_field=optional)
        users = [f for f in model.fields if f.field.startswith("User.")]
        assert [(f.field, f.editable) for f in users] == [(f"User.{optional}", False)], "read only"


def test_fields_only_an_admin_writes_get_no_integration_permission() -> None:
    quarantine = "force-app/main/default/objects/JtelQuarantine__c/fields"
    files = {
        f"{quarantine}/ReprocessResult__c.field-meta.xml": FIELD.format("<type>Text</type>"),
        f"{quarantine}/Status__c.field-meta.xml": FIELD.format("<type>Text</type>"),
    }
    fields = {f.field for f in permissions.build_permission_set(files, "L").fields}
    assert "JtelQuarantine__c.Status__c" in fields
    assert "JtelQuarantine__c.ReprocessResult__c" not in fields


def test_access_data_names_exactly_the_task_fields_the_apex_writes() -> None:
    """access.json is the input of the Task field permissions: a Task field the Apex starts to write
    must be listed there (with whether it takes field permissions), or this fails."""
    source = (REPO / CLASSES_DIR / "JtelCallTask.cls").read_text(encoding="utf-8")
    written = set(re.findall(r"\btask\.(\w+)\s*=[^=]", source))
    listed = {
        str(entry["field"]).removeprefix("Task.")
        for entry in permissions.load_access()["standardFields"]  # type: ignore[attr-defined]
        if str(entry["field"]).startswith("Task.")
    }
    assert written, "no Task field assignment found in JtelCallTask.cls"
    assert written == listed


def test_committed_permission_set_grants_no_broad_access() -> None:
    text = (
        REPO / "force-app/main/default/permissionsets/JtelCallStatisticsIntegration.permissionset-meta.xml"
    ).read_text(encoding="utf-8")
    for forbidden in (
        "ModifyAllData",
        "ViewAllData",
        "AuthorApex",
        "<allowDelete>true",
        "<modifyAllRecords>true",
        "<viewAllRecords>true",
        "<license>",
    ):
        assert forbidden not in text
    assert text.count("<classAccesses>") == 1


def test_settings_validation_accepts_the_defaults_and_kebab_case() -> None:
    assert validate(DEFAULT_SETTINGS) == DEFAULT_SETTINGS
    loaded = settings_from_mapping({"url-path": "a/b", "retry-http-status": 500})
    assert loaded == Settings(url_path="a/b", retry_http_status=500)
    assert settings_from_mapping({"url_path": "jtelACD/*"}).url_path == "jtelACD/*"
