"""Consistency of the hand-written Salesforce metadata with docs/data-model.md and the contract.

Nothing here can prove that Salesforce accepts the metadata (no org is reachable); these tests
catch the mistakes that make a deploy fail or a document lie: a field missing or typed differently
from the data model, a layout, list view, report, report type or permission set naming a field that
does not exist, a report using a report type that does not exist, an answer code missing from the
admin guide's troubleshooting table.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jtel_sf import contract
from jtel_sf.generate.permissions import load_access

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "force-app" / "main" / "default"
OBJECTS = DEFAULT / "objects"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
DATA_MODEL = ROOT / "docs" / "data-model.md"
ADMIN_GUIDE = ROOT / "docs" / "admin-setup.md"

# Standard fields the metadata may reference without a field file.
STANDARD_FIELDS = {"Name", "OwnerId", "CreatedById", "LastModifiedById", "CreatedDate", "LastModifiedDate"}
LIST_VIEW_STANDARD_COLUMNS = {"NAME", "CREATED_DATE", "LAST_UPDATE"}


def _root(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(f"m:{tag}", NS)
    return None if found is None else found.text


def _field_files(obj: str) -> dict[str, ET.Element]:
    folder = OBJECTS / obj / "fields"
    return {p.name.removesuffix(".field-meta.xml"): _root(p) for p in sorted(folder.glob("*.field-meta.xml"))}


def _data_model_tables() -> dict[str, list[tuple[str, str]]]:
    """Object API name -> [(field, type text)] from the tables of docs/data-model.md."""
    tables: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in DATA_MODEL.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\w+__(?:c|mdt))\b", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
            continue
        cell = re.match(r"^\| (\w+__c) \| ([^|]+) \|", line)
        if current and cell:
            tables[current].append((cell.group(1), cell.group(2).strip()))
    return tables


def _expected(type_text: str) -> dict[str, object]:
    """What a data-model type such as 'Text(64), External ID, Unique, case-sensitive' means in metadata."""
    expected: dict[str, object] = {}
    if m := re.match(r"Text\((\d+)\)", type_text):
        expected.update(type="Text", length=m.group(1))
    elif m := re.match(r"Long Text Area\((\d+)\)", type_text):
        expected.update(type="LongTextArea", length=m.group(1))
    elif m := re.match(r"Number\((\d+),(\d+)\)", type_text):
        expected.update(type="Number", precision=m.group(1), scale=m.group(2))
    elif type_text.startswith("DateTime"):
        expected.update(type="DateTime")
    elif type_text.startswith("Checkbox"):
        expected.update(type="Checkbox")
    elif m := re.match(r"Picklist: (.+?)(?: \(restricted\))?$", type_text):
        values = [v.strip().removesuffix(" (default)") for v in m.group(1).split(",")]
        expected.update(type="Picklist", values=values, restricted="(restricted)" in type_text)
        defaults = [v.strip().removesuffix(" (default)") for v in m.group(1).split(",") if "(default)" in v]
        expected["default"] = defaults[0] if defaults else None
    elif m := re.match(r"Lookup\((\w+)\), relationship name (\w+)", type_text):
        expected.update(type="Lookup", referenceTo=m.group(1), relationshipName=m.group(2))
    elif m := re.match(r"Master-Detail\((\w+)\), relationship name (\w+)", type_text):
        expected.update(type="MasterDetail", referenceTo=m.group(1), relationshipName=m.group(2))
    else:
        raise AssertionError(f"data-model type not understood by this test: {type_text!r}")
    if "External ID" in type_text:
        expected.update(externalId="true", unique="true", caseSensitive="true")
    return expected


def _data_model_fields() -> list[tuple[str, str, str]]:
    rows = []
    for obj, fields in _data_model_tables().items():
        rows += [(obj, name, type_text) for name, type_text in fields]
    return rows


def test_data_model_doc_is_parsed() -> None:
    tables = _data_model_tables()
    assert set(tables) == {"JtelCall__c", "JtelCallRow__c", "JtelQuarantine__c", "JtelSettings__mdt"}
    assert len(tables["JtelCall__c"]) == 26
    assert ("RowKey__c", "Text(64), External ID, Unique, case-sensitive") in tables["JtelCallRow__c"]


@pytest.mark.parametrize(("obj", "name", "type_text"), _data_model_fields(), ids=lambda v: str(v)[:40])
def test_field_matches_data_model(obj: str, name: str, type_text: str) -> None:
    path = OBJECTS / obj / "fields" / f"{name}.field-meta.xml"
    assert path.is_file(), f"{obj}.{name} from docs/data-model.md has no field file"
    field = _root(path)
    assert _text(field, "fullName") == name
    expected = _expected(type_text)
    for key in (
        "type",
        "length",
        "precision",
        "scale",
        "referenceTo",
        "relationshipName",
        "externalId",
        "unique",
        "caseSensitive",
    ):
        if key in expected:
            assert _text(field, key) == expected[key], f"{obj}.{name}: {key}"
    if expected["type"] == "Picklist":
        value_set = field.find("m:valueSet", NS)
        assert value_set is not None
        assert _text(value_set, "restricted") == ("true" if expected["restricted"] else "false")
        values = value_set.findall("m:valueSetDefinition/m:value", NS)
        assert [_text(v, "fullName") for v in values] == expected["values"]
        defaults = [_text(v, "fullName") for v in values if _text(v, "default") == "true"]
        assert defaults == ([expected["default"]] if expected["default"] else [])
    if expected["type"] == "Lookup":
        assert _text(field, "deleteConstraint") == "SetNull"
    if expected["type"] == "MasterDetail":
        assert _text(field, "reparentableMasterDetail") == "false"
    if expected["type"] == "Checkbox":
        assert _text(field, "defaultValue") in {"true", "false"}
    if not obj.endswith("__mdt") or expected["type"] != "Checkbox":
        assert _text(field, "description"), f"{obj}.{name} has no description"
    assert _text(field, "inlineHelpText"), f"{obj}.{name} has no help text"


def test_row_object_holds_exactly_the_data_model_and_spec_fields() -> None:
    documented = {name for name, _ in _data_model_tables()["JtelCallRow__c"]}
    spec = {f.field for f in contract.load_fields()}
    assert len(spec) == 17
    assert set(_field_files("JtelCallRow__c")) <= documented | spec
    assert documented <= set(_field_files("JtelCallRow__c"))


@pytest.mark.parametrize(
    ("obj", "sharing", "name_type", "name_label"),
    [
        ("JtelCall__c", "ReadWrite", "Text", "jtel Call ID"),
        ("JtelCallRow__c", "ControlledByParent", "AutoNumber", None),
        ("JtelQuarantine__c", "Private", "AutoNumber", None),
    ],
)
def test_object_files(obj: str, sharing: str, name_type: str, name_label: str | None) -> None:
    root = _root(OBJECTS / obj / f"{obj}.object-meta.xml")
    assert _text(root, "sharingModel") == sharing
    assert _text(root, "deploymentStatus") == "Deployed"
    assert _text(root, "enableReports") == "true"
    assert _text(root, "enableActivities") == "false"
    name_field = root.find("m:nameField", NS)
    assert name_field is not None and _text(name_field, "type") == name_type
    if name_label:
        assert _text(name_field, "label") == name_label
    pattern = rf'^## {re.escape(obj)} \(label "([^"]+)", plural "([^"]+)"\)'
    heading = re.search(pattern, DATA_MODEL.read_text(encoding="utf-8"), re.M)
    assert heading, obj
    assert (_text(root, "label"), _text(root, "pluralLabel")) == heading.groups()


def test_auto_number_formats_match_data_model() -> None:
    doc = DATA_MODEL.read_text(encoding="utf-8")
    for obj in ("JtelCallRow__c", "JtelQuarantine__c"):
        fmt = _text(_root(OBJECTS / obj / f"{obj}.object-meta.xml").find("m:nameField", NS), "displayFormat")
        assert f"`{fmt}`" in doc


def test_settings_type_is_public_custom_metadata() -> None:
    root = _root(OBJECTS / "JtelSettings__mdt" / "JtelSettings__mdt.object-meta.xml")
    assert _text(root, "visibility") == "Public"
    assert _text(root, "label") == "jtel Settings"


def _all_fields() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for folder in OBJECTS.iterdir():
        names[folder.name] = set(_field_files(folder.name)) | STANDARD_FIELDS
    # Standard objects' fields the integration permission set grants: the documented list it is
    # generated from (contract/access.json, each entry with its Object Reference source).
    for entry in load_access()["standardFields"]:  # type: ignore[attr-defined]
        obj, _, field = str(entry["field"]).partition(".")
        names.setdefault(obj, set()).add(field)
    return names


def _references() -> list[tuple[str, str, str]]:
    """(file, object, field) for each field named by layouts, list views, report types, reports, perm sets."""
    refs: list[tuple[str, str, str]] = []
    for path in sorted((DEFAULT / "layouts").glob("*.layout-meta.xml")):
        obj = path.name.split("-")[0]
        root = _root(path)
        refs += [(path.name, obj, e.text or "") for e in root.iter(f"{{{NS['m']}}}field")]
        for related in root.findall("m:relatedLists", NS):
            child = (_text(related, "relatedList") or "").split(".")[0]
            columns = [f.text or "" for f in related.findall("m:fields", NS)]
            refs += [(path.name, child, c) for c in columns if c != "NAME"]
    for path in sorted(OBJECTS.glob("*/listViews/*.listView-meta.xml")):
        obj = path.parts[-3]
        root = _root(path)
        cols = [c.text or "" for c in root.findall("m:columns", NS)]
        cols += [_text(f, "field") or "" for f in root.findall("m:filters", NS)]
        refs += [(path.name, obj, c) for c in cols if c not in LIST_VIEW_STANDARD_COLUMNS]
    for path in sorted(OBJECTS.glob("*/compactLayouts/*.compactLayout-meta.xml")):
        refs += [(path.name, path.parts[-3], f.text or "") for f in _root(path).findall("m:fields", NS)]
    for path in sorted((DEFAULT / "reportTypes").glob("*.reportType-meta.xml")):
        for col in _root(path).iter(f"{{{NS['m']}}}columns"):
            table = _text(col, "table") or ""
            obj = {"JtelCall__c": "JtelCall__c", "JtelCall__c.Rows__r": "JtelCallRow__c"}.get(table, table)
            refs.append((path.name, obj, _text(col, "field") or ""))
    for path in sorted((DEFAULT / "reports").rglob("*.report-meta.xml")):
        root = _root(path)
        for tag in ("field", "column", "dateColumn"):
            for e in root.iter(f"{{{NS['m']}}}{tag}"):
                obj, _, field = (e.text or "").partition("$")
                refs.append((path.name, obj, field))
    for path in sorted((DEFAULT / "permissionsets").glob("JtelCallStatistics*.permissionset-meta.xml")):
        for fp in _root(path).findall("m:fieldPermissions", NS):
            obj, _, field = (_text(fp, "field") or "").partition(".")
            refs.append((path.name, obj, field))
    return refs


def test_every_referenced_field_exists() -> None:
    fields = _all_fields()
    refs = _references()
    assert len(refs) > 100
    # Fields of standard objects that are not in source (Task, User) cannot be checked offline.
    checkable = [r for r in refs if r[1] in fields or r[1].endswith("__c")]
    missing = [r for r in checkable if r[2] not in fields.get(r[1], set())]
    assert missing == []


def test_reports_use_existing_report_types_and_columns_of_them() -> None:
    report_types = {
        p.name.removesuffix(".reportType-meta.xml"): _root(p)
        for p in (DEFAULT / "reportTypes").glob("*.reportType-meta.xml")
    }
    reports = sorted((DEFAULT / "reports").rglob("*.report-meta.xml"))
    assert len(reports) == 3
    for path in reports:
        root = _root(path)
        assert _text(root, "format") == "Summary"
        rtype = _text(root, "reportType") or ""
        assert rtype.endswith("__c") and rtype.removesuffix("__c") in report_types, path.name
        offered = {
            f"{_text(c, 'table')}${_text(c, 'field')}"
            for c in report_types[rtype.removesuffix("__c")].iter(f"{{{NS['m']}}}columns")
        }
        used = [e.text for tag in ("field",) for e in root.iter(f"{{{NS['m']}}}{tag}")]
        assert set(used) <= offered, path.name
        sums = [c for c in root.findall("m:columns", NS) if _text(c, "aggregateTypes") == "Sum"]
        assert [_text(c, "field") for c in sums] == ["JtelCall__c$TalkTimeSeconds__c"]
    folder = DEFAULT / "reports" / "JtelCallStatistics.reportFolder-meta.xml"
    assert folder.is_file() and all(p.parent.name == "JtelCallStatistics" for p in reports)


def test_record_access_permission_set_is_read_only_on_linkable_objects() -> None:
    root = _root(DEFAULT / "permissionsets" / "JtelCallStatisticsRecordAccess.permissionset-meta.xml")
    perms = {_text(p, "object"): p for p in root.findall("m:objectPermissions", NS)}
    assert set(perms) == {"Account", "Case", "Contact", "Lead"}
    for perm in perms.values():
        assert _text(perm, "allowRead") == "true"
        for flag in ("allowCreate", "allowEdit", "allowDelete", "viewAllRecords", "modifyAllRecords"):
            assert _text(perm, flag) == "false"
    assert root.find("m:license", NS) is None


def test_admin_permission_set_grants_tabs_that_exist_and_no_field_on_required_fields() -> None:
    root = _root(DEFAULT / "permissionsets" / "JtelCallStatisticsAdmin.permissionset-meta.xml")
    tabs = {_text(t, "tab") for t in root.findall("m:tabSettings", NS)}
    assert tabs == {p.name.removesuffix(".tab-meta.xml") for p in (DEFAULT / "tabs").glob("*.tab-meta.xml")}
    granted = {_text(f, "field") for f in root.findall("m:fieldPermissions", NS)}
    # master-detail and required fields cannot carry field permissions
    assert "JtelCallRow__c.Call__c" not in granted
    classes = [_text(c, "apexClass") for c in root.findall("m:classAccesses", NS)]
    assert classes == ["JtelQuarantineReprocessAction"]
    for name in classes:
        assert (DEFAULT / "classes" / f"{name}.cls").is_file(), f"permission set names missing class {name}"


def _field_grants(name: str) -> dict[str, tuple[bool, bool]]:
    root = _root(DEFAULT / "permissionsets" / f"{name}.permissionset-meta.xml")
    return {
        _text(f, "field"): (_text(f, "readable") == "true", _text(f, "editable") == "true")
        for f in root.findall("m:fieldPermissions", NS)
    }


def _object_grants(name: str) -> dict[str, dict[str, bool]]:
    root = _root(DEFAULT / "permissionsets" / f"{name}.permissionset-meta.xml")
    return {
        _text(o, "object"): {
            flag.tag.split("}")[1]: flag.text == "true" for flag in o if flag.text in ("true", "false")
        }
        for o in root.findall("m:objectPermissions", NS)
    }


# Issue 15 point 9: what jtel sent and what the endpoint answered stay as recorded; admins read them.
QUARANTINE_RECORDED_FACTS = ("RawBody__c", "BodyKey__c", "ErrorCode__c", "Errors__c")


def test_admins_read_but_cannot_edit_the_quarantined_body_key_and_errors() -> None:
    grants = _field_grants("JtelCallStatisticsAdmin")
    for name in QUARANTINE_RECORDED_FACTS:
        assert grants[f"JtelQuarantine__c.{name}"] == (True, False), name
    editable = sorted(f for f, (_, edit) in grants.items() if f.startswith("JtelQuarantine__c.") and edit)
    assert editable == ["JtelQuarantine__c.Status__c"]


def test_admins_can_reprocess_without_the_integration_permission_set() -> None:
    """Reprocessing runs the endpoint's rules in user mode as the admin (JtelQuarantineService): the admin
    set grants every object and field write the integration set grants on calls and rows, Edit Tasks,
    and the reprocess action; not the REST class. The outcome on the quarantine record is written in
    system mode (JtelDml.updateRecordsAsSystem), so the errors can stay read-only for admins."""
    admin, integration = (
        _field_grants("JtelCallStatisticsAdmin"),
        _field_grants("JtelCallStatisticsIntegration"),
    )
    written = {f for f, (_, edit) in integration.items() if edit and not f.startswith("JtelQuarantine__c.")}
    assert written, "the integration set writes call and row fields"
    assert sorted(f for f in written if not admin.get(f, (False, False))[1]) == []
    read = {f for f, (seen, _) in integration.items() if seen and not f.startswith("JtelQuarantine__c.")}
    assert sorted(f for f in read if not admin.get(f, (False, False))[0]) == []  # e.g. a custom match field
    admin_objects, integration_objects = (
        _object_grants("JtelCallStatisticsAdmin"),
        _object_grants("JtelCallStatisticsIntegration"),
    )
    for obj in ("JtelCall__c", "JtelCallRow__c"):
        for flag in ("allowCreate", "allowEdit", "allowRead"):
            if integration_objects[obj][flag]:
                assert admin_objects[obj][flag], (obj, flag)
        assert not admin_objects[obj]["allowDelete"] and not admin_objects[obj]["modifyAllRecords"], obj
    root = _root(DEFAULT / "permissionsets" / "JtelCallStatisticsAdmin.permissionset-meta.xml")
    assert [_text(u, "name") for u in root.findall("m:userPermissions", NS)] == ["EditTask"]
    assert [_text(c, "apexClass") for c in root.findall("m:classAccesses", NS)] == [
        "JtelQuarantineReprocessAction"
    ]
    service = (DEFAULT / "classes" / "JtelQuarantineService.cls").read_text(encoding="utf-8")
    assert "JtelDml.updateRecordsAsSystem(updates)" in service


def test_jtel_tabs_live_in_their_own_lightning_app_with_distinct_icons() -> None:
    app = _root(DEFAULT / "applications" / "JtelCallStatistics.app-meta.xml")
    assert _text(app, "uiType") == "Lightning"
    tabs = [t.text for t in app.findall("m:tabs", NS)]
    custom = sorted(p.name.removesuffix(".tab-meta.xml") for p in (DEFAULT / "tabs").glob("*.tab-meta.xml"))
    assert [t for t in tabs if not t.startswith("standard-")] == custom
    motifs = [_text(_root(DEFAULT / "tabs" / f"{t}.tab-meta.xml"), "motif") for t in custom]
    assert len(set(motifs)) == len(motifs), motifs
    admin = _root(DEFAULT / "permissionsets" / "JtelCallStatisticsAdmin.permissionset-meta.xml")
    visible = [_text(a, "application") for a in admin.findall("m:applicationVisibilities", NS)]
    assert visible == ["JtelCallStatistics"]


def test_no_external_client_app_secrets_in_source() -> None:
    assert not list(DEFAULT.rglob("*.ecaGlblOauth-meta.xml"))
    for path in DEFAULT.rglob("*.xml"):
        text = path.read_text(encoding="utf-8")
        assert "<consumerSecret>" not in text and "<consumerKey>" not in text, path


def test_every_answer_code_is_in_the_admin_troubleshooting_table() -> None:
    outcomes = contract.load_outcomes()
    guide = ADMIN_GUIDE.read_text(encoding="utf-8")
    section = guide.split("## 14. Troubleshooting by answer code", 1)[1].split("\n## ", 1)[0]
    assert outcomes.codes
    for code in outcomes.codes:
        status = outcomes.status_for_code(code)
        http = outcomes.http_for_status(status)
        row = re.search(rf"^\| (\d+) \| {status} \| `{code}` \|", section, re.M)
        assert row, f"answer code {code} missing from the troubleshooting table"
        assert int(row.group(1)) == http, code


def test_every_metadata_file_parses() -> None:
    files = list(DEFAULT.rglob("*.xml"))
    assert files
    for path in files:
        ET.parse(path)
