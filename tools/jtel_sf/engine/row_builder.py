"""``JtelRowBuilder``: the JtelCallRow__c records of a write pass, with each row's link decision.

The link code of a row (docs/contract.md "Answers"): no SalesForceID -> ok_no_record; not an Id ->
invalid_record_id; a key prefix of no known type -> record_not_found; a type a Task cannot name
(Task.WhoId: Contact, Lead; Task.WhatId: Account, Case, ... per the Object Reference) ->
record_not_activity_enabled, before any lookup; a record the integration user cannot see ->
record_not_found; a converted Lead -> record_not_activity_enabled; else ok.
"""

from __future__ import annotations

from typing import Any

from jtel_sf.contract import load_fields, load_outcomes
from jtel_sf.settings import Settings

from .body import format_local
from .ids import to_18
from .payload_parser import Element
from .quarantine_writer import RAW_TEXT_LIMIT
from .rollup import LINKED, NO_RECORD, UNLINKED, CallRow
from .storage import NewRow, Storage, StoredCall
from .time import format_instant, stored_instant

TASK_WHO_TYPES = frozenset({"Contact", "Lead"})
TASK_WHAT_TYPES = frozenset({"Account", "Case"})  # of the types the local endpoint knows


def can_own_tasks(user: dict[str, Any]) -> bool:
    """``JtelUserSelector``: only active users with UserType Standard own Tasks (a seeded user
    without a type is one)."""
    return bool(user.get("IsActive")) and user.get("UserType", "Standard") == "Standard"


def active_user_ids_by_value(storage: Storage, field: str, values: set[str]) -> dict[str, str]:
    """``JtelUserSelector.activeUserIdsByValue``: the first such user per value."""
    found: dict[str, str] = {}
    for user in storage.users():
        value = user.get(field)
        if can_own_tasks(user) and isinstance(value, str) and value in values:
            found.setdefault(value, str(user["Id"]))
    return found


def active_user_id_by_username(storage: Storage, username: str) -> str | None:
    if not username:
        return None
    return active_user_ids_by_value(storage, "Username", {username}).get(username)


def link_status(code: str) -> str:
    if code == "ok":
        return LINKED
    return NO_RECORD if code == "ok_no_record" else UNLINKED


def _precheck(text: str | None, storage: Storage) -> tuple[str | None, str | None]:
    """(the code decided without a query, or None) and the record's 18-character Id."""
    if text is None:
        return "ok_no_record", None
    full = to_18(text)
    if full is None:
        return "invalid_record_id", None
    sobject = storage.type_of(full)
    if sobject is None:
        return "record_not_found", None
    if sobject not in TASK_WHO_TYPES | TASK_WHAT_TYPES:
        return "record_not_activity_enabled", None
    return None, full


def resolve_links(fresh: list[Element], storage: Storage) -> dict[int, tuple[str, str | None, str | None]]:
    """Per element index: (link code, linked record Id, its type); the records in one lookup."""
    decided: dict[int, tuple[str, str | None, str | None]] = {}
    lookups: dict[int, str] = {}
    for element in fresh:
        code, full = _precheck(element.row.get("SalesForceID"), storage)  # type: ignore[arg-type]
        if code is not None:
            decided[element.index] = (code, None, None)
        else:
            assert full is not None
            lookups[element.index] = full
    visible = storage.visible_records(set(lookups.values())) if lookups else {}
    for index, full in lookups.items():
        found = visible.get(full)
        if found is None:
            decided[index] = ("record_not_found", None, None)
        elif found[0] == "Lead" and found[1].get("IsConverted"):
            decided[index] = ("record_not_activity_enabled", None, None)  # a converted Lead takes no activity
        else:
            decided[index] = ("ok", full, found[0])
    return decided


def row_fields(element: Element, time_zone: str) -> dict[str, Any]:
    """The 17 field values as stored: instants in UTC to the second, integers as Number."""
    fields: dict[str, Any] = {}
    for spec in load_fields():
        value = element.row.values.get(spec.name)
        if value is None:
            fields[spec.field] = None
        elif spec.kind == "datetime":
            fields[spec.field] = format_instant(stored_instant(value, time_zone))  # type: ignore[arg-type]
        elif spec.kind == "integer":
            fields[spec.field] = float(value)  # type: ignore[arg-type]
        else:
            fields[spec.field] = value
    return fields


def stored_values(element: Element) -> dict[str, Any]:
    """The normalised values as JSON text (date-times as local wall-clock text)."""
    return {
        spec.name: (
            format_local(v)
            if (v := element.row.values.get(spec.name)) is not None and spec.kind == "datetime"
            else v
        )  # type: ignore[arg-type]
        for spec in load_fields()
    }


def build(
    fresh: list[Element], calls_by_key: dict[str, StoredCall], storage: Storage, settings: Settings
) -> tuple[dict[int, NewRow], dict[int, str]]:
    """The rows to insert and each row's link code, by element index."""
    links = resolve_links(fresh, storage)
    agent_uids = {str(e.row.get("AgentUID")) for e in fresh if e.row.get("AgentUID") is not None}
    agents = active_user_ids_by_value(storage, settings.agent_match_field, agent_uids) if agent_uids else {}
    outcomes = load_outcomes()
    rows: dict[int, NewRow] = {}
    codes: dict[int, str] = {}
    for element in fresh:
        code, record_id, record_type = links[element.index]
        status = link_status(code)
        agent = agents.get(str(element.row.get("AgentUID")))
        call = calls_by_key[str(element.call_id)]
        fields = {
            "Call__c": call.id,
            "RowKey__c": element.row_key,
            **row_fields(element, settings.time_zone),
            "RawPayload__c": element.raw_text[:RAW_TEXT_LIMIT],
            "Outcome__c": outcomes.status_for_code(code),  # written / not_found
            "AnswerCode__c": code,
            "LinkStatus__c": status,
            "AgentUser__c": agent,
            "AgentMapped__c": agent is not None,
        }
        rows[element.index] = NewRow(
            call_id=call.id,
            fields=fields,
            call_row=CallRow(row=element.row, link_status=status, agent_user_id=agent),
            record_id=record_id,
            record_type=record_type,
        )
        codes[element.index] = code
    return rows, codes
