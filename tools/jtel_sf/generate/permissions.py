"""The integration permission set, derived from the object metadata in force-app and from the
contract's access data (``contract/access.json``: the standard fields the code reads or writes in
user mode, and the configured agent match field).

Least privilege for the integration user (issue 3, Security): the Apex REST entry class only
(Apex Developer Guide, Class Security: classes called from an entry point need no access of their
own), the three jtel objects without delete, View All or Modify All, read on the records jtel links
calls to, field permissions for every custom field that can take them, the settings type, and
Edit Tasks. No license: it is assigned to a user with the Salesforce Integration user license and
the Salesforce API Integration permission set license (see docs/admin-setup.md).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..contract import CONTRACT_DIR
from ..errors import UsageError

MD_NS = "{http://soap.sforce.com/2006/04/metadata}"
OBJECTS_DIR = "force-app/main/default/objects"

ENTRY_CLASS = "JtelCallStatisticsResource"
SETTINGS_TYPE = "JtelSettings__mdt"


@dataclass(frozen=True)
class ObjectAccess:
    object: str
    create: bool
    edit: bool
    field_permissions: bool = True  # grant field permissions for its custom fields


# What the integration user does with each object. Rows are only created (a resend is a
# duplicate, never an update); calls and quarantine records are created and updated.
OBJECT_ACCESS: tuple[ObjectAccess, ...] = (
    ObjectAccess("JtelCall__c", create=True, edit=True),
    ObjectAccess("JtelCallRow__c", create=True, edit=False),
    ObjectAccess("JtelQuarantine__c", create=True, edit=True),
)

# Records jtel links calls to (SalesForceID) are the customer's objects: access to them is granted
# by the separate, hand-written JtelCallStatisticsRecordAccess permission set, which admins adapt to
# the objects jtel names (docs/admin-setup.md, sections 5 and 6). This set covers the jtel objects.
LINKED_OBJECTS: tuple[str, ...] = ()

# Edit Tasks: create and update the call's Task. Its fields under field-level security come from
# contract/access.json. API Enabled comes with the Minimum Access - API Only Integrations profile.
USER_PERMISSIONS: tuple[str, ...] = ("EditTask",)


@dataclass(frozen=True)
class FieldPermission:
    field: str  # Object__c.Field__c
    editable: bool


@dataclass(frozen=True)
class PermissionSetModel:
    label: str
    description: str
    classes: tuple[str, ...]
    metadata_types: tuple[str, ...]
    fields: tuple[FieldPermission, ...]
    objects: tuple[ObjectAccess, ...]
    user_permissions: tuple[str, ...]


def _text(root: ET.Element, tag: str) -> str | None:
    node = root.find(MD_NS + tag)
    return None if node is None or node.text is None else node.text.strip()


def takes_field_permissions(xml_text: str, path: str) -> bool:
    """False for fields the platform gives no field permissions: required, master-detail,
    formula, auto-number (and roll-up summary, which is read-only)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise UsageError(f"{path}: not valid XML: {exc}") from exc
    field_type = _text(root, "type")
    if field_type in ("MasterDetail", "AutoNumber", "Summary"):
        return False
    if _text(root, "formula") is not None:
        return False
    return _text(root, "required") != "true"


def field_files(files: Mapping[str, str], object_name: str) -> dict[str, str]:
    """Field name -> XML of every ``objects/<object>/fields/*.field-meta.xml`` in ``files``."""
    prefix = PurePosixPath(OBJECTS_DIR, object_name, "fields")
    found = {}
    for rel, text in files.items():
        path = PurePosixPath(rel)
        if path.parent == prefix and path.name.endswith(".field-meta.xml"):
            found[path.name.removesuffix(".field-meta.xml")] = text
    return found


def load_access() -> dict[str, object]:
    data: dict[str, object] = json.loads((CONTRACT_DIR / "access.json").read_text(encoding="utf-8"))
    return data


def standard_field_permissions(agent_match_field: str) -> list[FieldPermission]:
    """Field permissions for the standard fields the code uses in user mode (access.json): the
    Task fields under field-level security it writes, and read on the agent match field unless
    that is a required User field. A custom match field (``X__c``) always gets one."""
    access = load_access()
    perms = [
        FieldPermission(str(entry["field"]), editable=entry["access"] == "edit")
        for entry in access["standardFields"]  # type: ignore[attr-defined]
        if entry["fieldPermissions"]
    ]
    required = access["agentMatchField"]["requiredFields"]  # type: ignore[index]
    if agent_match_field not in required:
        perms.append(FieldPermission(f"User.{agent_match_field}", editable=False))
    return perms


def build_permission_set(
    files: Mapping[str, str], label: str, agent_match_field: str = "CommunityNickname"
) -> PermissionSetModel:
    """The permission set for the project files ``files`` (relative posix path -> text)."""
    excluded = load_access()["notForIntegration"]
    read_only = load_access()["readOnlyForIntegration"]
    field_perms: list[FieldPermission] = standard_field_permissions(agent_match_field)
    for access in OBJECT_ACCESS:
        for name, text in sorted(field_files(files, access.object).items()):
            if not name.endswith("__c") or f"{access.object}.{name}" in excluded:  # type: ignore[operator]
                continue
            if takes_field_permissions(text, f"{OBJECTS_DIR}/{access.object}/fields/{name}"):
                qualified = f"{access.object}.{name}"
                field_perms.append(FieldPermission(qualified, editable=qualified not in read_only))  # type: ignore[operator]
    objects = [*OBJECT_ACCESS, *(ObjectAccess(o, create=False, edit=False) for o in LINKED_OBJECTS)]
    return PermissionSetModel(
        label=label,
        description=(
            "jtel writeCallStatistics integration user: the Apex REST endpoint, jtel call records, "
            "Tasks. Generated by jtel-sf generate."
        ),
        classes=(ENTRY_CLASS,),
        metadata_types=(SETTINGS_TYPE,),
        fields=tuple(sorted(field_perms, key=lambda f: f.field)),
        objects=tuple(sorted(objects, key=lambda o: o.object)),
        user_permissions=USER_PERMISSIONS,
    )
