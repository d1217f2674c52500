"""The call roll-up and the call's Task, recomputed from all rows (docs/contract.md "Stored records").

Pure functions: the caller hands in every row of the call with what was decided when the row
was written (link status, matched agent user), and gets back the call's field values and the
Task's field values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jtel_sf.contract import load_limits, load_outcomes, load_records
from jtel_sf.settings import Settings

from .body import Row
from .time import format_instant, stored_instant, to_utc, zone

_RECORDS = load_records()  # contract/records.json, as JtelContractSpec in Apex
LINKED = _RECORDS.link_statuses["linked"]
UNLINKED = _RECORDS.link_statuses["unlinked"]
NO_RECORD = _RECORDS.link_statuses["no_record"]
INBOUND = _RECORDS.directions["inbound"]
OUTBOUND = _RECORDS.directions["outbound"]
CALL_TYPES = _RECORDS.task_call_types  # Task.CallType by direction key
JOIN = "; "
TEXT_LIMIT = load_outcomes().max_string_length  # the call's Text(255) fields (outcomes.json)
LEG_FIELDS = (
    "AcdAgentGroupsName",
    "AgentUID",
    "dtCallAlert",
    "dtCallConnect",
    "dtCallEnd",
    "nDuration",
    "CONNRES",
    "Cause",
)
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class CallRow:
    """A stored row as the roll-up sees it."""

    row: Row
    link_status: str  # Linked / Unlinked / NoRecord
    agent_user_id: str | None = None  # the active user matched to AgentUID, if any

    @property
    def row_key(self) -> str:
        return self.row.row_key

    def get(self, name: str) -> object:
        return self.row.values.get(name)

    # A stored row is read again on every write of its call: its keys are computed once per zone.
    def leg_key(self, time_zone: str) -> tuple[object, ...]:
        """The leg's values, date-times as the stored instants (whole seconds), as the Apex compares them."""
        cache: dict[str, tuple[object, ...]] = self.__dict__.setdefault("_leg_keys", {})
        found = cache.get(time_zone)
        if found is None:
            found = cache[time_zone] = tuple(_stored_value(self.get(name), time_zone) for name in LEG_FIELDS)
        return found

    def order_key(self, time_zone: str) -> tuple[object, ...]:
        cache: dict[str, tuple[object, ...]] = self.__dict__.setdefault("_order_keys", {})
        found = cache.get(time_zone)
        if found is None:
            parts: list[object] = []
            for name in ("dtCallAlert", "dtCallConnect", "dtCallStart"):
                moment = _instant(self.get(name), time_zone)
                parts.extend((moment is None, moment.timestamp() if moment else 0.0))
            code = self.get("TransactionCodeExportKey")
            parts.extend((code is None, code or ""))
            parts.append(self.row_key)
            found = cache[time_zone] = tuple(parts)
        return found


@functools.lru_cache(maxsize=65536)
def _stored(value: datetime, time_zone: str) -> datetime:
    return stored_instant(value, time_zone)  # a zone lookup per value: cached, the roll-up asks often


def _instant(value: object, time_zone: str) -> datetime | None:
    """The stored instant (whole seconds), as the roll-up reads it back in the org."""
    return _stored(value, time_zone) if isinstance(value, datetime) else None


def canonical_order(rows: Iterable[CallRow], time_zone: str) -> list[CallRow]:
    """dtCallAlert, dtCallConnect, dtCallStart ascending (absent last), TransactionCodeExportKey
    (absent last), then RowKey."""

    return sorted(rows, key=lambda item: item.order_key(time_zone))


def legs(ordered: Sequence[CallRow], time_zone: str) -> list[CallRow]:
    """The first row of each distinct leg, in canonical order; date-times compared as the stored
    instants (whole seconds), as the Apex compares them."""
    seen: set[tuple[object, ...]] = set()
    result = []
    for item in ordered:
        leg = item.leg_key(time_zone)
        if leg not in seen:
            seen.add(leg)
            result.append(item)
    return result


def _stored_value(value: object, time_zone: str) -> object:
    return _stored(value, time_zone) if isinstance(value, datetime) else value


def _distinct(ordered: Sequence[CallRow], name: str) -> list[str]:
    values: dict[str, None] = {}  # insertion-ordered set: linear, not quadratic, in the rows
    for item in ordered:
        value = item.get(name)
        if value is not None:
            values.setdefault(str(value), None)
    return list(values)


def _first(ordered: Sequence[CallRow], name: str) -> object:
    for item in ordered:
        if item.get(name) is not None:
            return item.get(name)
    return None


def _cut(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    if text is None or text == "":
        return None
    return text[:limit]


def roll_up(
    rows: Iterable[CallRow], time_zone: str, can_own: Callable[[str], bool] = lambda user_id: True
) -> dict[str, object]:
    """The JtelCall__c field values (without Id and TaskId__c). ``HandledBy__c`` is left empty for
    an agent who is no longer an active user (``can_own``), as the Apex does.

    Date-times are Salesforce REST text (``...+0000``); absent values are None.
    """
    outcomes = load_outcomes()
    ordered = canonical_order(rows, time_zone)
    if not ordered:
        raise ValueError("a call has at least one row")
    outbound = [item.get("bOutbound") for item in ordered]
    direction = OUTBOUND if 1 in outbound else (INBOUND if 0 in outbound else None)
    starts = [m for m in (_instant(i.get("dtCallStart"), time_zone) for i in ordered) if m]
    ends = [m for m in (_instant(i.get("dtCallEnd"), time_zone) for i in ordered) if m]
    answered = any(item.get("CONNRES") == 1 for item in ordered)
    call_legs = legs(ordered, time_zone)
    talk = 0
    for leg in call_legs:
        duration = leg.get("nDuration")
        if isinstance(duration, int) and duration > 0:
            talk += duration
    agents = _distinct(ordered, "AgentUID")
    handled = next((i for i in ordered if i.get("CONNRES") == 1 and i.get("AgentUID") is not None), None)
    if answered:
        result_code: int | None = 1
    else:
        with_result = [i.get("CONNRES") for i in ordered if i.get("CONNRES") is not None]
        result_code = with_result[-1] if with_result else None  # type: ignore[assignment]
    linked = next((i for i in ordered if i.link_status == LINKED), None)
    statuses = {i.link_status for i in ordered}
    link_status = LINKED if LINKED in statuses else (UNLINKED if UNLINKED in statuses else NO_RECORD)
    call_id = ordered[0].row.call_id
    return {
        "Name": str(call_id),
        "CallKey__c": str(call_id),
        "Direction__c": direction,
        "CallerID__c": _cut(_first(ordered, "CallerID")),  # type: ignore[arg-type]
        "ServiceNumber__c": _cut(_first(ordered, "ServiceNumber")),  # type: ignore[arg-type]
        "ServiceName__c": _cut(_first(ordered, "ServiceName")),  # type: ignore[arg-type]
        "AgentGroups__c": _cut(JOIN.join(_distinct(ordered, "AcdAgentGroupsName"))),
        "ConfigurationGroups__c": _cut(JOIN.join(_distinct(ordered, "AcdConfigurationGroupsName"))),
        "CallStart__c": format_instant(min(starts)) if starts else None,
        "CallEnd__c": format_instant(max(ends)) if ends else None,
        "Answered__c": answered,
        "TalkTimeSeconds__c": talk,
        "AgentsTried__c": _cut(JOIN.join(agents)),
        "AgentsTriedCount__c": len(agents),
        "HandledByAgentUID__c": _cut(handled.get("AgentUID")) if handled else None,  # type: ignore[arg-type]
        "HandledBy__c": _handled_by(handled, can_own),
        "TransactionCodes__c": _cut(JOIN.join(_distinct(ordered, "TransactionCodeExportKey"))),
        "ResultCode__c": result_code,
        "Result__c": outcomes.result_label(result_code),
        "RowCount__c": len(ordered),
        "LegCount__c": len(call_legs),
        "SalesforceRecordId__c": _cut(linked.get("SalesForceID")) if linked else None,  # type: ignore[arg-type]
        "LinkStatus__c": link_status,
        "TimeZone__c": time_zone,
    }


def _handled_by(handled: CallRow | None, can_own: Callable[[str], bool]) -> str | None:
    user_id = handled.agent_user_id if handled else None
    return user_id if user_id and can_own(user_id) else None


def wants_task(call: dict[str, object], settings: Settings) -> bool:
    """One Task per linked call; unanswered calls only when configured."""
    if call.get("LinkStatus__c") != LINKED:
        return False
    return bool(call.get("Answered__c")) or settings.task_for_unanswered_calls


def choose_owner(
    rows: Iterable[CallRow],
    call: dict[str, object],
    time_zone: str,
    fallback_owner_id: str | None,
    running_user_id: str,
    can_own: Callable[[str], bool] = lambda user_id: True,
) -> str:
    """HandledBy user; else the first matched agent in canonical order, each only while ``can_own``
    (an active Standard user: an agent deactivated since must not make later rows fail); else
    fallback; else running user."""
    handled = call.get("HandledBy__c")
    if isinstance(handled, str) and handled and can_own(handled):
        return handled
    for item in canonical_order(rows, time_zone):
        if item.agent_user_id and can_own(item.agent_user_id):
            return item.agent_user_id
    return fallback_owner_id or running_user_id


def render_subject(template: str, call: dict[str, object]) -> str:
    values = {
        "direction": call.get("Direction__c"),
        "caller": call.get("CallerID__c"),
        "serviceNumber": call.get("ServiceNumber__c"),
        "serviceName": call.get("ServiceName__c"),
        "agentGroups": call.get("AgentGroups__c"),
        "agent": call.get("HandledByAgentUID__c"),
        "result": call.get("Result__c"),
        "callId": call.get("CallKey__c"),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return "" if value is None else str(value)

    return _PLACEHOLDER_RE.sub(replace, template)[: load_limits().subject_max_length]


def _local_time(value: object, time_zone: str) -> str:
    """``HH:mm:ss`` of the instant in the configured zone (as the Apex formats it), ``-`` if absent."""
    if not isinstance(value, datetime):
        return "-"
    return to_utc(value, time_zone).astimezone(zone(time_zone)).strftime("%H:%M:%S")


def describe(rows: Iterable[CallRow], time_zone: str) -> str:
    """One line per leg (``group / agent: result, connect - end, duration s``, ``-`` for absent
    values) and a ``Transaction codes: ...`` line when the call has codes."""
    outcomes = load_outcomes()
    ordered = canonical_order(rows, time_zone)
    lines = []
    for leg in legs(ordered, time_zone):
        connres = leg.get("CONNRES")
        duration = leg.get("nDuration")
        lines.append(
            f"{leg.get('AcdAgentGroupsName') or '-'} / {leg.get('AgentUID') or '-'}: "
            f"{outcomes.result_label(connres if isinstance(connres, int) else None)}, "
            f"{_local_time(leg.get('dtCallConnect'), time_zone)} - "
            f"{_local_time(leg.get('dtCallEnd'), time_zone)}, "
            f"{'-' if duration is None else duration} s"
        )
    codes = _cut(JOIN.join(_distinct(ordered, "TransactionCodeExportKey")))
    if codes:
        lines.append("Transaction codes: " + codes)
    return "\n".join(lines)[: load_limits().description_max_length]


def activity_date(rows: Iterable[CallRow], time_zone: str) -> str | None:
    """The local (jtel wall-clock) date of the earliest dtCallStart."""
    starts = [i.get("dtCallStart") for i in rows if isinstance(i.get("dtCallStart"), datetime)]
    if not starts:
        return None
    earliest = min(starts, key=lambda local: to_utc(local, time_zone))  # type: ignore[arg-type]
    return earliest.date().isoformat()  # type: ignore[union-attr]


def _call_duration(talk_time: object) -> int:
    seconds = int(talk_time) if isinstance(talk_time, int | float) else 0
    return min(seconds, load_limits().call_duration_max)


def task_values(
    rows: Sequence[CallRow],
    call: dict[str, object],
    settings: Settings,
    *,
    record_id: str,
    record_is_who: bool,
    owner_id: str,
) -> dict[str, object]:
    """The Task's field values for a linked call (docs/contract.md "Task")."""
    return {
        "WhoId": record_id if record_is_who else None,
        "WhatId": None if record_is_who else record_id,
        "OwnerId": owner_id,
        "Subject": render_subject(settings.subject_template, call),
        "TaskSubtype": _RECORDS.task_subtype,
        "Status": _RECORDS.task_status,
        "Priority": _RECORDS.task_priority,
        "CallType": CALL_TYPES["outbound" if call.get("Direction__c") == OUTBOUND else "inbound"],
        "CallObject": call.get("CallKey__c"),
        # Task.CallDurationInSeconds holds 8 digits (fields.json taskLimits): a longer talk time is capped
        "CallDurationInSeconds": _call_duration(call.get("TalkTimeSeconds__c")),
        "CallDisposition": call.get("Result__c"),
        "ActivityDate": activity_date(rows, settings.time_zone),
        "Description": describe(rows, settings.time_zone),
    }
