"""The deploy zip built from source format: package.xml, recomposed objects, line mapping."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from jtel_sf.errors import UsageError
from jtel_sf.org.package import (
    FOLDERED_TYPES,
    OBJECT_CHILDREN,
    SOURCE_TYPES,
    build_package,
    has_executable_code,
    is_test_class,
)

REPO = Path(__file__).resolve().parents[1]
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
XML = '<?xml version="1.0" encoding="UTF-8"?>\n'

WIDGET_SOURCE: dict[str, str] = {
    "main/default/classes/Widget.cls": (
        "public with sharing class Widget {\n"
        "    public static Integer count() {\n"
        "        // counts widgets\n"
        "        return [SELECT COUNT() FROM Widget__c];\n"
        "    }\n"
        "}\n"
    ),
    "main/default/classes/Widget.cls-meta.xml": XML
    + '<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <apiVersion>61.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n",
    "main/default/classes/WidgetTest.cls": (
        "/* not a test: @IsTest class Fake */\n"
        "@IsTest\nprivate class WidgetTest {\n"
        "    @IsTest\n    static void it_counts_widgets() {\n"
        "        Assert.areEqual(0, Widget.count(), 'no widgets yet');\n    }\n}\n"
    ),
    "main/default/classes/WidgetTest.cls-meta.xml": XML
    + '<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <apiVersion>61.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n",
    "main/default/classes/WidgetException.cls": "public class WidgetException extends Exception {\n}\n",
    "main/default/classes/WidgetException.cls-meta.xml": XML
    + '<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <apiVersion>61.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n",
    "main/default/objects/Widget__c/Widget__c.object-meta.xml": XML
    + '<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <label>Widget</label>\n    <pluralLabel>Widgets</pluralLabel>\n"
    "    <nameField>\n        <label>Widget Name</label>\n        <type>Text</type>\n    </nameField>\n"
    "    <deploymentStatus>Deployed</deploymentStatus>\n    <sharingModel>ReadWrite</sharingModel>\n"
    "</CustomObject>\n",
    "main/default/objects/Widget__c/fields/Size__c.field-meta.xml": XML
    + '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <fullName>Size__c</fullName>\n    <label>Size</label>\n"
    "    <precision>99</precision>\n    <scale>0</scale>\n    <type>Number</type>\n</CustomField>\n",
    "main/default/objects/Widget__c/fields/Colour__c.field-meta.xml": XML
    + '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <fullName>Colour__c</fullName>\n    <label>Colour</label>\n"
    "    <length>40</length>\n    <type>Text</type>\n</CustomField>\n",
    "main/default/objects/Widget__c/listViews/All.listView-meta.xml": XML
    + '<ListView xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <fullName>All</fullName>\n    <filterScope>Everything</filterScope>\n"
    "    <label>All</label>\n</ListView>\n",
    "main/default/objects/User/fields/WidgetUid__c.field-meta.xml": XML
    + '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <fullName>WidgetUid__c</fullName>\n    <label>Widget UID</label>\n"
    "    <length>80</length>\n    <type>Text</type>\n</CustomField>\n",
    "main/default/permissionsets/WidgetAccess.permissionset-meta.xml": XML
    + '<PermissionSet xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <label>Widget Access</label>\n</PermissionSet>\n",
    "main/default/customMetadata/WidgetSettings.Default.md-meta.xml": XML
    + '<CustomMetadata xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <label>Default</label>\n    <protected>false</protected>\n</CustomMetadata>\n",
    "main/default/reports/Widgets.reportFolder-meta.xml": XML
    + '<ReportFolder xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <accessType>Public</accessType>\n    <name>Widgets</name>\n</ReportFolder>\n",
    "main/default/reports/Widgets/WidgetCount.report-meta.xml": XML
    + '<Report xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <format>Tabular</format>\n    <name>Widget count</name>\n</Report>\n",
    "main/default/layouts/Widget__c-Widget Layout.layout-meta.xml": XML
    + '<Layout xmlns="http://soap.sforce.com/2006/04/metadata">\n</Layout>\n',
    "main/default/tabs/Widget__c.tab-meta.xml": XML
    + '<CustomTab xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <customObject>true</customObject>\n    <motif>Custom20: Airplane</motif>\n</CustomTab>\n",
    "main/default/externalClientApps/WidgetApp.eca-meta.xml": XML
    + '<ExternalClientApplication xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <distributionState>Local</distributionState>\n    <label>Widget App</label>\n"
    "</ExternalClientApplication>\n",
    "main/default/classes/.eslintrc.json": "{}\n",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def widget_app(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "force-app", WIDGET_SOURCE)


def package_members(zip_bytes: bytes) -> dict[str, list[str]]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        root = ET.fromstring(archive.read("package.xml"))
    return {
        t.findtext("md:name", namespaces=NS): [m.text for m in t.findall("md:members", NS)]
        for t in root.findall("md:types", NS)
    }


def test_package_xml_lists_exactly_the_components(widget_app: Path) -> None:
    package = build_package(widget_app, "61.0")
    data = package.to_zip()
    assert package_members(data) == {
        "ApexClass": ["Widget", "WidgetException", "WidgetTest"],
        "CustomField": ["User.WidgetUid__c", "Widget__c.Colour__c", "Widget__c.Size__c"],
        "CustomMetadata": ["WidgetSettings.Default"],
        "CustomObject": ["Widget__c"],
        "CustomTab": ["Widget__c"],
        "ExternalClientApplication": ["WidgetApp"],
        "Layout": ["Widget__c-Widget Layout"],
        "ListView": ["Widget__c.All"],
        "PermissionSet": ["WidgetAccess"],
        "Report": ["Widgets", "Widgets/WidgetCount"],
    }
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        assert ET.fromstring(archive.read("package.xml")).findtext("md:version", namespaces=NS) == "61.0"
    assert names == [
        "classes/Widget.cls",
        "classes/Widget.cls-meta.xml",
        "classes/WidgetException.cls",
        "classes/WidgetException.cls-meta.xml",
        "classes/WidgetTest.cls",
        "classes/WidgetTest.cls-meta.xml",
        "customMetadata/WidgetSettings.Default.md",
        "externalClientApps/WidgetApp.eca",
        "layouts/Widget__c-Widget Layout.layout",
        "objects/User.object",
        "objects/Widget__c.object",
        "package.xml",
        "permissionsets/WidgetAccess.permissionset",
        "reports/Widgets-meta.xml",
        "reports/Widgets/WidgetCount.report",
        "tabs/Widget__c.tab",
    ]
    assert package.to_zip() == data, "the zip must be reproducible"


def test_objects_are_recomposed_with_their_children(widget_app: Path) -> None:
    package = build_package(widget_app, "61.0")
    root = ET.fromstring(package.files["objects/Widget__c.object"])
    assert root.tag == "{http://soap.sforce.com/2006/04/metadata}CustomObject"
    assert root.findtext("md:label", namespaces=NS) == "Widget"
    assert root.findtext("md:nameField/md:label", namespaces=NS) == "Widget Name"
    fields = {f.findtext("md:fullName", namespaces=NS): f for f in root.findall("md:fields", NS)}
    assert list(fields) == ["Colour__c", "Size__c"]
    assert fields["Size__c"].findtext("md:precision", namespaces=NS) == "99"
    assert [v.findtext("md:fullName", namespaces=NS) for v in root.findall("md:listViews", NS)] == ["All"]
    user = ET.fromstring(package.files["objects/User.object"])
    assert [f.findtext("md:fullName", namespaces=NS) for f in user.findall("md:fields", NS)] == [
        "WidgetUid__c"
    ]
    assert user.find("md:label", NS) is None  # standard object: only the added field


def test_a_decomposed_child_without_its_own_full_name_is_refused(widget_app: Path) -> None:
    """The sf CLI copies child files unchanged; adding the name here would make the two deploy paths
    differ (tests/test_sf_cli_convert.py found exactly this for a compact layout)."""
    colour = widget_app / "main/default/objects/Widget__c/fields/Colour__c.field-meta.xml"
    colour.write_text(colour.read_text().replace("    <fullName>Colour__c</fullName>\n", ""))
    with pytest.raises(UsageError, match=r"Colour__c.field-meta.xml: no <fullName>Colour__c</fullName>"):
        build_package(widget_app, "61.0")


def test_every_line_of_a_recomposed_object_maps_back_to_its_source(widget_app: Path) -> None:
    package = build_package(widget_app, "61.0")
    lines = package.files["objects/Widget__c.object"].decode().splitlines()
    checked = 0
    for number, text in enumerate(lines, start=1):
        source, source_line = package.locate("objects/Widget__c.object", number)
        if source is None or source_line is None:
            continue
        source_text = source.read_text(encoding="utf-8").splitlines()[source_line - 1].strip()
        if re.match(r"^\s*<(fields|listViews)>", text):  # the child's opening maps to its root tag
            assert source_text.startswith(("<CustomField", "<ListView")), (number, text, source)
            continue
        content = text.strip()
        if content and not content.startswith("</"):
            assert content == source_text or content.endswith(source_text), (number, text, source)
            checked += 1
    assert checked >= 12
    size_line = next(i for i, t in enumerate(lines, 1) if "<precision>99" in t)
    source, line = package.locate("objects/Widget__c.object", size_line)
    assert source is not None and source.name == "Size__c.field-meta.xml"
    assert line == 5


def test_test_classes_are_the_isTest_ones_and_coverage_skips_declaration_only_classes(
    widget_app: Path,
) -> None:
    package = build_package(widget_app, "61.0")
    assert package.test_classes() == ["WidgetTest"]
    assert is_test_class("@isTest(SeeAllData=false)\nprivate class T { @IsTest static void t() {} }")
    assert not is_test_class("// @IsTest\npublic class NotATest { @IsTest static void x() {} }")
    assert not has_executable_code("public class WidgetException extends Exception {\n}\n")
    assert has_executable_code("public class W { public static Integer n() { return 1; } }")


@pytest.mark.parametrize(
    ("rel", "text", "message"),
    [
        ("main/default/lwc/widget/widget.js", "export default 1;\n", "not in a metadata folder"),
        ("main/default/classes/Lonely.cls", "public class Lonely {}\n", "missing Lonely.cls-meta.xml"),
        ("main/default/permissionsets/Odd.txt", "x", "expected *.permissionset-meta.xml"),
        (
            "main/default/extlClntAppGlobalOauthSets/W.ecaGlblOauth-meta.xml",
            "<x/>",
            "consumer key and secret",
        ),
        ("main/default/objects/Widget__c/fields/Broken.field-meta.xml", "not xml", "no root element"),
    ],
)
def test_unknown_or_broken_source_is_a_usage_error(
    widget_app: Path, rel: str, text: str, message: str
) -> None:
    write_tree(widget_app, {rel: text})
    with pytest.raises(UsageError) as info:
        build_package(widget_app, "61.0")
    assert message in str(info.value)


def test_empty_or_missing_source_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        build_package(tmp_path / "nope", "61.0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no metadata found"):
        build_package(tmp_path / "empty", "61.0")


def test_the_real_force_app_builds_a_consistent_package() -> None:
    """Other helpers add metadata in parallel: check structure and consistency, not counts."""
    source = REPO / "force-app"
    package = build_package(source, "61.0")
    data = package.to_zip()
    members = package_members(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        for name in names:
            if (
                name.endswith(
                    (
                        ".xml",
                        ".object",
                        ".permissionset",
                        ".md",
                        ".layout",
                        ".tab",
                        ".reportType",
                        ".report",
                        ".cls-meta.xml",
                    )
                )
                or "." not in name.rsplit("/", 1)[-1]
            ):
                ET.fromstring(archive.read(name))  # every metadata file is well-formed XML
    # every source file is accounted for: a component, its -meta.xml, or part of a recomposed object
    sources = [p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")]
    covered = {seg.source.resolve() for segs in package.segments.values() for seg in segs}
    assert {p.resolve() for p in sources} == covered
    # each ApexClass has both files; each object child is listed under its object
    for name in members.get("ApexClass", []):
        assert {f"classes/{name}.cls", f"classes/{name}.cls-meta.xml"} <= names
    child_types = {t for _suffix, _element, t in OBJECT_CHILDREN.values()}
    for type_name, listed in members.items():
        if type_name in child_types:
            for member in listed:
                assert f"objects/{member.split('.')[0]}.object" in names
    objects_on_disk = {p.name for p in (source / "main/default/objects").iterdir() if p.is_dir()}
    assert {
        n[len("objects/") : -len(".object")] for n in names if n.startswith("objects/")
    } == objects_on_disk
    known = (
        {t.type for t in SOURCE_TYPES}
        | child_types
        | {"CustomObject"}
        | {t for *_, t in FOLDERED_TYPES.values()}
    )
    assert set(members) <= known
    assert "JtelSettings__mdt" in members["CustomObject"]
    assert package.test_classes(), "the product has @IsTest classes"
    assert set(package.test_classes()) <= set(members["ApexClass"])
