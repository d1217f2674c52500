"""Render every generated file, in memory, from the contract data, the settings and the templates.

Nothing here touches the disk except reading the project's object metadata (for the permission
set); ``jtel_sf.generate.run`` compares and writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .. import storage
from ..contract import (
    ContractCase,
    FieldSpec,
    load_cases,
    load_fields,
    load_limits,
    load_outcomes,
    load_records,
)
from ..settings import Settings
from . import permissions
from .filters import FILTERS, TEXT_KINDS

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

CLASSES_DIR = "force-app/main/default/classes"
TEST_CLASSES_DIR = "force-app/test/default/classes"  # Apex tests and test helpers live apart
ROW_FIELDS_DIR = "force-app/main/default/objects/JtelCallRow__c/fields"
CUSTOM_METADATA_DIR = "force-app/main/default/customMetadata"
PERMISSION_SETS_DIR = "force-app/main/default/permissionsets"
FIELDS_DOC = "docs/fields.md"
STORAGE_DOC = "docs/storage.md"

# Generated Apex classes, in the order they are written.
APEX_CLASSES = ("JtelFieldDef", "JtelContractSpec", "JtelCallStatisticsResource", "JtelContractCasesTest")
TEST_APEX_CLASSES = frozenset({"JtelContractCasesTest"})

SF_TYPE_BY_KIND = {
    "salesforceId": "Text",
    "string": "Text",
    "phone": "Text",
    "integer": "Number",
    "datetime": "DateTime",
}
TEXT_FIELD_LENGTH = 255

# The Apex Developer Guide gives no method-name limit we could find; 40 (the limit on class
# names) is a safe cap. Longer case names are cut and given a short hash so they stay unique.
MAX_APEX_METHOD_NAME = 40
_APEX_RESERVED_WORDS = """
    abstract activate and any array as asc autonomous begin bigdecimal blob boolean break bulk by byte
    case cast catch char class collect commit const continue currency date datetime decimal default delete
    desc do double else end enum exception exit export extends false final finally float for from global
    goto group having hint if implements import in inner insert instanceof int integer interface into join
    like limit list long loop map merge new not null nulls number object of on or outer override package
    parallel pragma private protected public retrieve return rollback select set short sobject sort static
    string super switch synchronized system testmethod then this throw time transaction trigger true try
    undelete update upsert using virtual void webservice when where while"""
APEX_RESERVED = frozenset(_APEX_RESERVED_WORDS.split())

Formatter = Callable[[str, str], str]


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the project (or --out) directory, posix separators
    content: str


def apex_method_name(case_name: str) -> str:
    """A valid, deterministic Apex method name for a case name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", case_name)
    name = re.sub(r"_+", "_", name).strip("_") or "case"
    if not name[0].isalpha():
        name = "case_" + name
    if name.lower() in APEX_RESERVED:
        name = "case_" + name
    if len(name) > MAX_APEX_METHOD_NAME:
        digest = hashlib.sha256(case_name.encode("utf-8")).hexdigest()[:8]
        name = name[: MAX_APEX_METHOD_NAME - 9].rstrip("_") + "_" + digest
    return name


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def _case_methods(cases: list[ContractCase]) -> list[dict[str, str]]:
    methods: list[dict[str, str]] = []
    seen: set[str] = set()
    for case in cases:
        if not case.runs_on_target("apex"):
            continue
        method = apex_method_name(case.name)
        if method.lower() in seen:  # Apex names are case-insensitive
            raise ValueError(f"contract cases: two cases give the Apex method name {method}")
        seen.add(method.lower())
        assert case.path is not None
        raw: Any = json.loads(case.path.read_text(encoding="utf-8"))
        methods.append(
            {
                "name": case.name,
                "method": method,
                "description": case.description,
                "json": json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
            }
        )
    return methods


def _settings_values(settings: Settings) -> list[tuple[str, str, Any]]:
    """(field, xsd type, value) of the JtelSettings.Default record, sorted by field name."""
    values: list[tuple[str, str, Any]] = [
        ("AgentMatchField__c", "xsd:string", settings.agent_match_field),
        ("FallbackOwnerUsername__c", "xsd:string", settings.fallback_owner_username or None),
        ("RetryHttpStatus__c", "xsd:double", f"{float(settings.retry_http_status):.1f}"),
        ("RowRetentionDays__c", "xsd:double", f"{float(settings.row_retention_days):.1f}"),
        ("QuarantineRetentionDays__c", "xsd:double", f"{float(settings.quarantine_retention_days):.1f}"),
        ("SubjectTemplate__c", "xsd:string", settings.subject_template or None),
        ("TaskForUnansweredCalls__c", "xsd:boolean", str(settings.task_for_unanswered_calls).lower()),
        ("TimeZone__c", "xsd:string", settings.time_zone),
    ]
    return sorted(values, key=lambda v: v[0])


def _storage_context(settings: Settings) -> dict[str, Any]:
    volumes = storage.volumes(settings)
    rows = []
    for edition in storage.EDITIONS:
        for volume in volumes:
            without = storage.months_until_full(
                storage.Volume(volume.calls_per_day, volume.shape, 0), edition
            )
            within = storage.months_until_full(volume, edition)
            share = volume.api_requests_per_day / edition.api_per_day(storage.USERS)
            rows.append(
                {
                    "edition": edition,
                    "volume": volume,
                    "without": "-" if without is None else f"{without:.1f}",
                    "with": "-" if within is None else f"{within:.1f}",
                    "api_share": f"{share:.0%}",
                }
            )
    return {
        "settings": settings,
        "record_kb": storage.RECORD_KB,
        "shapes": storage.shapes(),
        "volumes": volumes,
        "volume_shape": volumes[0].shape,
        "users": storage.USERS,
        "allowance_rows": rows,
        "calls_per_batch": storage.CALLS_PER_BATCH,
    }


def _field_xml(env: jinja2.Environment, spec: FieldSpec) -> str:
    sf_type = SF_TYPE_BY_KIND[spec.kind]
    length = TEXT_FIELD_LENGTH
    if spec.kind in TEXT_KINDS and spec.max_length is not None:
        length = max(int(spec.max_length), 1)
    return env.get_template("objects/CustomField.field-meta.xml.j2").render(
        spec=spec, sf_type=sf_type, text_length=length
    )


def render_all(
    settings: Settings,
    project_dir: Path,
    project_files: Mapping[str, str],
    format_apex: Formatter,
    cases_dir: Path | None = None,
) -> list[RenderedFile]:
    """Every generated file for ``settings``.

    ``project_files`` holds the project's object field metadata (relative path -> text) that the
    permission set is derived from; the generated JtelCallRow__c fields replace their copies.
    ``format_apex(text, filename)`` formats Apex source with the options of the .prettierrc that
    applies to ``filename``: the file's place in ``project_dir``, also when writing elsewhere.
    """
    env = _environment()
    fields = load_fields()
    context = {
        "settings": settings,
        "fields": fields,
        "outcomes": load_outcomes(),
        "limits": load_limits(),
        "records": load_records(),
        "cases": _case_methods(load_cases(cases_dir)),
    }
    out: list[RenderedFile] = []
    for name in APEX_CLASSES:
        source = env.get_template(f"classes/{name}.cls.j2").render(**context)
        folder = TEST_CLASSES_DIR if name in TEST_APEX_CLASSES else CLASSES_DIR
        rel = f"{folder}/{name}.cls"
        out.append(RenderedFile(rel, format_apex(source, str(project_dir / rel))))
        meta = env.get_template("classes/ApexClass.cls-meta.xml.j2").render(**context)
        out.append(RenderedFile(f"{folder}/{name}.cls-meta.xml", meta))
    for spec in fields:
        out.append(RenderedFile(f"{ROW_FIELDS_DIR}/{spec.field}.field-meta.xml", _field_xml(env, spec)))
    out.append(
        RenderedFile(
            f"{CUSTOM_METADATA_DIR}/JtelSettings.Default.md-meta.xml",
            env.get_template("customMetadata/JtelSettings.Default.md-meta.xml.j2").render(
                values=_settings_values(settings)
            ),
        )
    )
    merged = dict(project_files)
    merged.update({f.path: f.content for f in out if f.path.startswith(ROW_FIELDS_DIR + "/")})
    perms = permissions.build_permission_set(
        merged, label="jtel Call Statistics Integration", agent_match_field=settings.agent_match_field
    )
    out.append(
        RenderedFile(
            f"{PERMISSION_SETS_DIR}/{settings.permission_set}.permissionset-meta.xml",
            env.get_template("permissionsets/PermissionSet.permissionset-meta.xml.j2").render(perms=perms),
        )
    )
    out.append(RenderedFile(FIELDS_DOC, env.get_template("docs/fields.md.j2").render(**context)))
    out.append(
        RenderedFile(STORAGE_DOC, env.get_template("docs/storage.md.j2").render(**_storage_context(settings)))
    )
    return out
