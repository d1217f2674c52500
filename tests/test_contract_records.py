"""The stored values and text limits of contract/records.json against the object metadata, the Apex
and the Python engine.

records.json is the one place the quarantine statuses and reasons, the link statuses, the row
outcomes, the call directions, the text limits and the Task constants are written. These tests
check the three places that could still drift from it: each picklist in the object metadata (the
values Salesforce stores; a restricted picklist refuses any other) is the same set as the data,
each text limit is its field's length, and no Apex class (besides the generated JtelContractSpec)
and no engine or local-store module writes one of the values as a literal of its own (answer codes
and statuses, which the reasons and row outcomes are, excepted there: they key outcomes.json).
Consistency only: what Salesforce accepts is checked by ``jtel-sf verify`` and the platform rules.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jtel_sf import contract
from jtel_sf.contract import load_records

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ROOT / "force-app" / "main" / "default" / "objects"
CLASSES = ROOT / "force-app" / "main" / "default" / "classes"
PYTHON_DIRS = (ROOT / "tools" / "jtel_sf" / "engine", ROOT / "tools" / "jtel_sf" / "local")
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}


def picklist_values(xml_text: str) -> set[str]:
    """The API names (fullName) of a picklist field's value set."""
    root = ET.fromstring(xml_text)
    return {
        value.findtext("m:fullName", namespaces=NS) or ""
        for value in root.findall("m:valueSet/m:valueSetDefinition/m:value", NS)
    }


def field_length(xml_text: str) -> int:
    return int(ET.fromstring(xml_text).findtext("m:length", namespaces=NS) or 0)


def _field(obj: str, name: str) -> str:
    return (OBJECTS / obj / "fields" / f"{name}.field-meta.xml").read_text(encoding="utf-8")


def _picklists() -> list[tuple[str, str, set[str]]]:
    records = load_records()
    return [
        ("JtelQuarantine__c", "Status__c", set(records.quarantine_statuses.values())),
        ("JtelQuarantine__c", "Reason__c", set(records.quarantine_reasons.values())),
        ("JtelCallRow__c", "LinkStatus__c", set(records.link_statuses.values())),
        ("JtelCall__c", "LinkStatus__c", set(records.link_statuses.values())),
        ("JtelCallRow__c", "Outcome__c", set(records.row_outcomes.values())),
        ("JtelCall__c", "Direction__c", set(records.directions.values())),
    ]


@pytest.mark.parametrize(
    ("obj", "name", "expected"), _picklists(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_picklist_in_metadata_is_the_contract_set(obj: str, name: str, expected: set[str]) -> None:
    assert picklist_values(_field(obj, name)) == expected, f"{obj}.{name} differs from records.json"


def test_picklist_check_sees_a_value_added_to_the_metadata() -> None:
    text = _field("JtelQuarantine__c", "Status__c")
    planted = text.replace("<fullName>Discarded</fullName>", "<fullName>Archived</fullName>", 1)
    assert planted != text
    assert picklist_values(planted) != set(load_records().quarantine_statuses.values())


@pytest.mark.parametrize(
    ("obj", "name", "limit"),
    [
        ("JtelQuarantine__c", "RawBody__c", "raw_text_limit"),
        ("JtelCallRow__c", "RawPayload__c", "raw_text_limit"),
        ("JtelQuarantine__c", "Errors__c", "errors_limit"),
    ],
)
def test_text_limit_is_the_field_length(obj: str, name: str, limit: str) -> None:
    assert field_length(_field(obj, name)) == getattr(load_records(), limit), f"{obj}.{name} length"


def test_error_details_fit_the_errors_field() -> None:
    records = load_records()
    assert 0 < records.error_detail_limit < records.errors_limit


def _values() -> set[str]:
    records = load_records()
    values = {
        *records.quarantine_statuses.values(),
        *records.quarantine_reasons.values(),
        *records.link_statuses.values(),
        *records.row_outcomes.values(),
        *records.directions.values(),
        *records.task_call_types.values(),
        records.task_status,
        records.task_priority,
        records.task_subtype,
    }
    return values


def apex_literals(source: str, values: set[str]) -> list[str]:
    """The string literals of ``values`` in Apex code, annotations (labels) and comments left out."""
    found = []
    for line in source.splitlines():
        code = line.strip()
        if code.startswith(("@", "//", "*", "/*")):
            continue
        found += [v for v in re.findall(r"'((?:[^'\\]|\\.)*)'", code) if v in values]
    return found


def python_literals(source: str, values: set[str]) -> list[str]:
    """The whole string constants of ``values`` in Python code."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values
    ]


def test_no_apex_class_writes_a_contract_value_of_its_own() -> None:
    values = _values()
    found = {
        path.name: hits
        for path in sorted(CLASSES.glob("*.cls"))
        if path.name != "JtelContractSpec.cls"
        and (hits := apex_literals(path.read_text(encoding="utf-8"), values))
    }
    assert found == {}, "use the JtelContractSpec constants (generated from records.json)"


def test_no_engine_module_writes_a_contract_value_of_its_own() -> None:
    # The reasons and row outcomes are answer codes and statuses (load_records checks it), which the
    # engine names as keys of outcomes.json; the other values must come from records.json.
    outcomes = contract.load_outcomes()
    values = _values() - set(outcomes.codes) - set(outcomes.statuses)
    found = {
        str(path.relative_to(ROOT)): hits
        for folder in PYTHON_DIRS
        for path in sorted(folder.glob("*.py"))
        if (hits := python_literals(path.read_text(encoding="utf-8"), values))
    }
    assert found == {}, "read the value from jtel_sf.contract.load_records()"


def test_literal_scans_find_planted_literals() -> None:
    values = _values()
    assert apex_literals("    task.Status = 'Completed';", values) == ["Completed"]
    assert apex_literals("    @InvocableVariable(label='Failed')", values) == []
    assert python_literals('STATUS = "New"\n', values) == ["New"]


def test_apex_spec_holds_each_value() -> None:
    spec = (CLASSES / "JtelContractSpec.cls").read_text(encoding="utf-8")
    records = load_records()
    for key, value in records.link_statuses.items():
        assert f"LINK_STATUS_{key.upper()} = '{value}';" in spec
    for key, value in records.quarantine_statuses.items():
        assert f"QUARANTINE_STATUS_{key.upper()} = '{value}';" in spec
    assert f"RAW_TEXT_LIMIT = {records.raw_text_limit};" in spec
    assert f"TASK_STATUS = '{records.task_status}';" in spec


def _load_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object]) -> None:
    for name in ("outcomes.json", "records.json"):
        shutil.copy(contract.CONTRACT_DIR / name, tmp_path / name)
    data = json.loads((tmp_path / "records.json").read_text(encoding="utf-8"))
    data.update(change)
    (tmp_path / "records.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(contract, "CONTRACT_DIR", tmp_path)
    contract.load_outcomes.cache_clear()
    try:
        contract.load_records.__wrapped__()
    finally:
        monkeypatch.undo()
        contract.load_outcomes.cache_clear()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quarantineReasons": {"invalid": "no_such_code"}}, "quarantineReasons"),
        ({"rowOutcomes": {"written": "stored"}}, "rowOutcomes"),
        ({"closedQuarantineStatuses": ["closed"]}, "closedQuarantineStatuses"),
        ({"directions": {"inbound": "Inbound"}}, "callTypes"),
    ],
)
def test_records_json_is_checked_against_outcomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _load_with(tmp_path, monkeypatch, change)
