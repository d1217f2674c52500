"""The quarantine backlog (``JtelQuarantine__c``): list, show, reprocess, discard.

- reprocess uses the action the package ships, ``JtelQuarantineReprocessAction`` (an
  ``@InvocableMethod``), through the documented Actions REST resource
  ``POST /services/data/vXX.X/actions/custom/apex/JtelQuarantineReprocessAction`` with
  ``{"inputs": [{"quarantineIds": [...]}]}`` (Actions Developer Guide, "Apex Actions"; the
  top-level key must be ``inputs``). The answer is one ``{"actionName", "errors", "isSuccess",
  "outputValues"}`` per input; ``outputValues`` carries the action's Result (reprocessed, failed,
  waiting, answers). The action runs as the calling user, in user mode.
- discard sets the documented status field ``Status__c`` to ``Discarded`` (REST sObject update,
  ``PATCH /sobjects/JtelQuarantine__c/<Id>``); the record and its raw body stay for the audit.

A KEY is the ``quarantineKey`` of the endpoint's 409 answer (``BodyKey__c``, 64 hex digits), the
record's number (``JQ-00000042``) or its record Id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..auth import OrgRequestError, OrgSession
from ..contract import load_records
from ..errors import CheckFailed, UsageError
from .soql import in_list

OBJECT = "JtelQuarantine__c"
ACTION_PATH = "actions/custom/apex/JtelQuarantineReprocessAction"
ACTION_BATCH = 200  # the action's documented maximum per run (its ApexDoc: at most 200)
_STATUS = load_records().quarantine_statuses  # contract/records.json, as the Apex and the picklist
STATUSES = tuple(_STATUS.values())
NEW, DISCARDED = _STATUS["new"], _STATUS["discarded"]
LIST_FIELDS = (
    "Id",
    "Name",
    "BodyKey__c",
    "Status__c",
    "Reason__c",
    "ErrorCode__c",
    "HttpStatus__c",
    "StatisticsPartAID__c",
    "Attempts__c",
    "LastReceived__c",
)
SHOW_FIELDS = (*LIST_FIELDS, "Errors__c", "ReprocessResult__c", "BodyTruncated__c", "RawBody__c")
_BODY_KEY = re.compile(r"^[0-9a-f]{64}$")
_NUMBER = re.compile(r"^JQ-\d{8}$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _key_field(key: str) -> str:
    if _BODY_KEY.match(key):
        return "BodyKey__c"
    if _NUMBER.match(key):
        return "Name"
    if _RECORD_ID.match(key):
        return "Id"
    raise UsageError(
        f"{key!r} is not a quarantine key",
        hint="Use the quarantineKey of the 409 answer (64 hex digits), the number (JQ-00000042) "
        "or the record Id.",
    )


def list_records(org: OrgSession, status: str = NEW, limit: int = 200) -> list[dict[str, Any]]:
    where = "" if status == "all" else f" WHERE Status__c = '{status}'"
    if status != "all" and status not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)} or all")
    return org.query(
        f"SELECT {', '.join(LIST_FIELDS)} FROM {OBJECT}{where} "
        f"ORDER BY LastReceived__c DESC LIMIT {int(limit)}"
    )


def find(org: OrgSession, keys: list[str], fields: tuple[str, ...] = LIST_FIELDS) -> list[dict[str, Any]]:
    """The records for ``keys``, in the order given; UsageError naming every key not found."""
    by_field: dict[str, list[str]] = {}
    for key in keys:
        by_field.setdefault(_key_field(key), []).append(key)
    found: dict[str, dict[str, Any]] = {}
    for field_name, values in by_field.items():
        soql = f"SELECT {', '.join(fields)} FROM {OBJECT} WHERE {field_name} IN {in_list(values)}"
        for record in org.query(soql):
            value = str(record.get(field_name) or "")
            found[value] = record
            if field_name == "Id":
                found[value[:15]] = record
    missing = [k for k in keys if k not in found and k[:15] not in found]
    if missing:
        raise UsageError(f"no quarantined request for {', '.join(missing)}")
    return [found.get(k) or found[k[:15]] for k in keys]


@dataclass
class ReprocessOutcome:
    reprocessed: int = 0
    failed: int = 0
    waiting: int = 0
    answers: list[str] = field(default_factory=list)


def reprocess(org: OrgSession, keys: list[str]) -> ReprocessOutcome:
    records = find(org, keys)
    ids = list(dict.fromkeys(str(r["Id"]) for r in records))
    outcome = ReprocessOutcome()
    for start in range(0, len(ids), ACTION_BATCH):
        chunk = ids[start : start + ACTION_BATCH]
        try:
            answers = org.rest_json("POST", ACTION_PATH, json={"inputs": [{"quarantineIds": chunk}]})
        except OrgRequestError as exc:
            if exc.status == 404:
                raise OrgRequestError(
                    f"the reprocess action is not in the org: {exc}",
                    hint="Deploy force-app (it ships JtelQuarantineReprocessAction).",
                ) from None
            raise
        for answer in answers or []:
            if not answer.get("isSuccess"):
                errors = "; ".join(
                    f"{e.get('statusCode', '')}: {e.get('message', '')}".strip(": ")
                    for e in answer.get("errors") or []
                )
                raise CheckFailed(
                    f"the reprocess action failed: {errors or 'no reason given'}",
                    hint="The user running it needs JtelCallStatisticsAdmin "
                    "(docs/admin-setup.md section 12).",
                )
            values = answer.get("outputValues") or {}
            outcome.reprocessed += int(values.get("reprocessed") or 0)
            outcome.failed += int(values.get("failed") or 0)
            outcome.waiting += int(values.get("waiting") or 0)
            outcome.answers.extend(str(a) for a in values.get("answers") or [])
    return outcome


def discard(org: OrgSession, keys: list[str]) -> list[str]:
    lines = []
    for record in find(org, keys):
        if record.get("Status__c") == DISCARDED:
            lines.append(f"{record.get('Name')} ({record['Id']}): already discarded")
            continue
        org.rest_json("PATCH", f"sobjects/{OBJECT}/{record['Id']}", json={"Status__c": DISCARDED})
        lines.append(f"{record.get('Name')} ({record['Id']}): discarded (was {record.get('Status__c')})")
    return lines


def render_list(records: list[dict[str, Any]]) -> list[str]:
    if not records:
        return ["No quarantined requests."]
    lines = []
    for r in records:
        lines.append(
            f"{r.get('Name')}  {r.get('Status__c')}  "
            f"{r.get('Reason__c') or ''}/{r.get('ErrorCode__c') or ''}  "
            f"call {r.get('StatisticsPartAID__c') or '-'}  attempts {int(r.get('Attempts__c') or 0)}  "
            f"last {r.get('LastReceived__c') or '-'}  key {r.get('BodyKey__c')}"
        )
    return lines


def render_record(record: dict[str, Any]) -> list[str]:
    lines = []
    for name in SHOW_FIELDS:
        value = record.get(name)
        if name == "RawBody__c":
            lines.append("Raw body:")
            lines.extend(f"  {line}" for line in str(value or "").splitlines() or [""])
        elif name == "Errors__c":
            lines.append("Errors:")
            lines.extend(f"  {line}" for line in str(value or "").splitlines() or [""])
        else:
            lines.append(f"{name}: {'' if value is None else value}")
    return lines
