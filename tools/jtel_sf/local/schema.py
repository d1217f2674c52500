"""The sObject types the local endpoint serves and their fields, for describe and SOQL.

Custom objects are read from force-app's object metadata (``objects/<Type>/fields/*.field-meta.xml``),
so their fields are the deployed ones. The standard objects carry only the fields the endpoint,
contract-test and the usual clients touch; types and describe properties follow the Object Reference
and the REST API Developer Guide's sObject Describe resource (built from that documentation, not
recorded from Salesforce). Fields a client stores that are not listed are accepted and described
as strings (the local store is schemaless).
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .store import CALL, KEY_PREFIXES, QUARANTINE, ROW

_NS = "{http://soap.sforce.com/2006/04/metadata}"
# Metadata API field type -> describe type (Object Reference "Field Types")
_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Number": "double",
    "Checkbox": "boolean",
    "DateTime": "datetime",
    "Date": "date",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "Picklist": "picklist",
    "Phone": "phone",
    "Email": "email",
    "Url": "url",
}
_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "int": "xsd:int",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"
    length: int = 255
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    external_id: bool = False
    createable: bool = True
    label: str = ""


@dataclass
class SObjectType:
    name: str
    label: str
    custom: bool
    fields: dict[str, Field] = field(default_factory=dict)
    deletable: bool = True
    createable: bool = True
    described: bool = True  # False: a custom object whose metadata was not found (any field is accepted)

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]


def _system_fields() -> list[Field]:
    return [
        Field("Id", "id", 18, createable=False),
        Field("CreatedDate", "datetime", 0, createable=False),
        Field("LastModifiedDate", "datetime", 0, createable=False),
    ]


_STANDARD: dict[str, list[Field]] = {
    "Account": [Field("Name"), Field("Phone", "phone", 40)],
    "Contact": [
        Field("LastName", length=80),
        Field("FirstName", length=40),
        Field("Name", length=121, createable=False),
        Field("Phone", "phone", 40),
        Field("AccountId", "reference", 18, ("Account",), "Account"),
    ],
    "Lead": [
        Field("LastName", length=80),
        Field("FirstName", length=40),
        Field("Name", length=121, createable=False),
        Field("Company"),
        Field("Phone", "phone", 40),
    ],
    "Case": [Field("Subject"), Field("Status", "picklist", 40)],
    "Task": [
        Field("Subject"),
        Field("WhoId", "reference", 18, ("Contact", "Lead"), "Who"),
        Field("WhatId", "reference", 18, ("Account", "Case", CALL), "What"),
        Field("OwnerId", "reference", 18, ("User",), "Owner"),
        Field("TaskSubtype", "picklist", 40),
        Field("Status", "picklist", 40),
        Field("Priority", "picklist", 40),
        Field("CallType", "picklist", 40),
        Field("CallObject"),
        Field("CallDurationInSeconds", "int", 0),
        Field("CallDisposition"),
        Field("ActivityDate", "date", 0),
        Field("Description", "textarea", 32000),
        Field("IsClosed", "boolean", 0, createable=False),
    ],
    "User": [
        Field("Username", length=80),
        Field("Name", length=121, createable=False),
        Field("LastName", length=80),
        Field("Email", "email", 128),
        Field("CommunityNickname", length=40),
        Field("FederationIdentifier", length=512),
        Field("Alias", length=8),
        Field("EmployeeNumber", length=20),
        Field("IsActive", "boolean", 0),
    ],
    "Organization": [Field("Name")],
}
_LABELS = {CALL: "jtel Call", ROW: "jtel Call Statistics", QUARANTINE: "jtel Quarantine"}


def _objects_dir() -> Path | None:
    """force-app's objects folder: from the working directory up, else the package's checkout."""
    candidates = [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[3]]
    for base in candidates:
        folder = base / "force-app" / "main" / "default" / "objects"
        if (folder / CALL).is_dir():
            return folder
    return None


def _custom_fields(folder: Path | None, sobject: str) -> list[Field]:
    if folder is None:
        return []
    result = []
    for path in sorted((folder / sobject / "fields").glob("*.field-meta.xml")):
        root = ET.parse(path).getroot()

        def text(tag: str, root: ET.Element = root) -> str | None:
            node = root.find(_NS + tag)
            return None if node is None or node.text is None else node.text

        meta_type = text("type") or "Text"
        kind = _TYPES.get(meta_type, "string")
        length = int(text("length") or (18 if kind == "reference" else 0 if kind != "string" else 255))
        name = text("fullName") or path.name.split(".")[0]
        reference = text("referenceTo")
        result.append(
            Field(
                name,
                kind,
                length,
                (reference,) if reference else (),
                name[:-3] + "__r" if reference else None,
                text("externalId") == "true",
                label=text("label") or name,
            )
        )
    return result


@functools.lru_cache(maxsize=1)
def types() -> dict[str, SObjectType]:
    folder = _objects_dir()
    result: dict[str, SObjectType] = {}
    for name in KEY_PREFIXES:
        custom = name.endswith("__c")
        fields = _system_fields()
        if custom:
            fields.insert(1, Field("Name", length=80, label="Name"))
            fields += _custom_fields(folder, name)
        else:
            fields += _STANDARD.get(name, [])
        result[name] = SObjectType(
            name=name,
            label=_LABELS.get(name, name),
            custom=custom,
            fields={f.name: f for f in fields},
            deletable=name not in ("User", "Organization"),
            createable=name not in ("User", "Organization"),
            described=not custom or folder is not None,
        )
    return result


def find_type(name: str) -> SObjectType | None:
    """Case-insensitive, as SOQL and the REST resources treat type names."""
    for key, value in types().items():
        if key.lower() == name.lower():
            return value
    return None


def find_field(sobject: SObjectType, name: str) -> Field | None:
    for key, value in sobject.fields.items():
        if key.lower() == name.lower():
            return value
    if not sobject.described:  # installed without force-app: the store is schemaless
        return Field(name)
    return None


def relationship(sobject: SObjectType, name: str) -> Field | None:
    """The reference field behind a parent relationship name (``Call__r``, ``Owner``, ``What``)."""
    for value in sobject.fields.values():
        if value.relationship_name and value.relationship_name.lower() == name.lower():
            return value
    return None


def child_relationships(parent: str) -> list[dict[str, object]]:
    result = []
    for child in types().values():
        for value in child.fields.values():
            if parent in value.reference_to and child.custom and value.relationship_name:
                rel = "Rows" if child.name == ROW and value.name == "Call__c" else None
                result.append(
                    {
                        "childSObject": child.name,
                        "field": value.name,
                        "relationshipName": rel,
                        "cascadeDelete": rel is not None,
                        "deprecatedAndHidden": False,
                        "restrictedDelete": False,
                    }
                )
    return result


def describe(sobject: SObjectType, version: str) -> dict[str, object]:
    """The sObject Describe resource's body (the properties clients read)."""
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    fields = []
    for value in sobject.fields.values():
        fields.append(
            {
                "name": value.name,
                "label": value.label or value.name,
                "type": value.type,
                "soapType": _SOAP.get(value.type, "xsd:string"),
                "length": value.length
                if value.type in ("string", "textarea", "phone", "email", "url", "picklist")
                else 0,
                "nillable": value.name not in ("Id", "CreatedDate", "LastModifiedDate"),
                "createable": value.createable and sobject.createable,
                "updateable": value.createable and sobject.createable,
                "custom": value.name.endswith("__c"),
                "externalId": value.external_id,
                "unique": value.external_id,
                "idLookup": value.name == "Id" or value.external_id,
                "referenceTo": list(value.reference_to),
                "relationshipName": value.relationship_name,
                "filterable": True,
                "sortable": value.type != "textarea",
                "groupable": value.type not in ("textarea", "double", "datetime"),
                "calculated": False,
                "autoNumber": False,
                "defaultedOnCreate": value.name in ("Id", "CreatedDate", "LastModifiedDate"),
                "picklistValues": [],
            }
        )
    return {
        **basic(sobject, version),
        "fields": fields,
        "childRelationships": child_relationships(sobject.name),
        "recordTypeInfos": [],
        "urls": {
            "sobject": base,
            "describe": base + "/describe",
            "rowTemplate": base + "/{ID}",
        },
    }


def basic(sobject: SObjectType, version: str) -> dict[str, object]:
    """One entry of Describe Global (and the objectDescribe of sObject Basic Information)."""
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    return {
        "name": sobject.name,
        "label": sobject.label,
        "labelPlural": sobject.label,
        "keyPrefix": sobject.key_prefix,
        "custom": sobject.custom,
        "createable": sobject.createable,
        "updateable": sobject.createable,
        "deletable": sobject.deletable,
        "queryable": True,
        "retrieveable": True,
        "searchable": False,
        "layoutable": True,
        "activateable": False,
        "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
    }
