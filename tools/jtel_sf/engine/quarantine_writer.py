"""``JtelQuarantineWriter``: the bodies a request rejects, written once per body key.

A body seen before (same BodyKey__c) only counts another attempt; a new one keeps its text (cut to
the field's size), the answer's code and errors (with the platform's detail, which answers never
carry), reason and HTTP status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..contract import load_records
from .answers import Answer
from .storage import Storage
from .time import format_instant

_RECORDS = load_records()  # contract/records.json, as JtelContractSpec in Apex
REASON_INVALID = _RECORDS.quarantine_reasons["invalid"]  # the reasons are the answer codes of outcomes.json
REASON_REFUSED = _RECORDS.quarantine_reasons["refused"]
REASON_UNEXPECTED = _RECORDS.quarantine_reasons["unexpected"]
REASON_ARCHIVED = _RECORDS.quarantine_reasons["archived"]  # a new row of a call frozen by retention
STATUS_NEW = _RECORDS.quarantine_statuses["new"]
RAW_TEXT_LIMIT = _RECORDS.raw_text_limit  # JtelQuarantine__c.RawBody__c and JtelCallRow__c.RawPayload__c
ERRORS_LIMIT = _RECORDS.errors_limit  # JtelQuarantine__c.Errors__c
DETAIL_LIMIT = _RECORDS.error_detail_limit  # platform text kept per error: the errors fit whole


def stored_errors(text: str | None) -> list[dict[str, Any]]:
    """The errors kept on a quarantine record; none when the text was cut and is no JSON array."""
    try:
        errors = json.loads(text or "[]")
    except ValueError:
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


@dataclass
class Entry:
    body_key: str
    raw_text: str
    call_id: str | None
    reason: str
    answer: Answer
    errors: list[dict[str, Any]]  # as stored: with ``detail``
    indexes: list[int] = field(default_factory=list)  # the answers that name this record


class QuarantineWriter:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(
        self,
        body_key: str,
        raw_text: str,
        call_id: str | None,
        reason: str,
        answer: Answer,
        errors: list[dict[str, Any]] | None = None,
        index: int = 0,
    ) -> None:
        """Keep a rejected body; its answer names the record (``quarantineKey``)."""
        answer.body["quarantineKey"] = body_key
        stored = errors if errors is not None else list(answer.body.get("errors", []))
        self.entries.append(Entry(body_key, raw_text, call_id, reason, answer, stored, [index]))

    def write(self, storage: Storage) -> None:
        """One upsert for all entries (the first entry of a key wins, as in Apex)."""
        if not self.entries:
            return
        distinct: dict[str, Entry] = {}
        for entry in self.entries:
            distinct.setdefault(entry.body_key, entry)
        existing = storage.held_bodies(distinct)
        now = format_instant(datetime.now(UTC).replace(microsecond=0))
        records = []
        for key, entry in distinct.items():
            before = existing.get(key)
            if before is not None:
                records.append(
                    {
                        "BodyKey__c": key,
                        "Attempts__c": float(before.attempts or 1) + 1,
                        "LastReceived__c": now,
                    }
                )
                continue
            text = entry.raw_text or ""
            records.append(
                {
                    "BodyKey__c": key,
                    "RawBody__c": text[:RAW_TEXT_LIMIT],
                    "BodyTruncated__c": len(text) > RAW_TEXT_LIMIT,
                    "Errors__c": json.dumps(entry.errors, ensure_ascii=False)[:ERRORS_LIMIT],
                    "ErrorCode__c": entry.answer.code,
                    "Reason__c": entry.reason,
                    "HttpStatus__c": float(entry.answer.http),
                    "StatisticsPartAID__c": entry.call_id,
                    "Status__c": STATUS_NEW,
                    "Attempts__c": 1.0,
                    "LastReceived__c": now,
                    "ReprocessResult__c": None,
                }
            )
        storage.upsert_quarantine(records)
