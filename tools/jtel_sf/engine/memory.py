"""An in-memory :class:`~jtel_sf.engine.storage.Storage`: the engine's tests run the service on it.

Records are dicts by Id; a savepoint is a copy of everything (small test data only). It behaves
as the storage interface describes the org's selectors and DML, nothing more.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .ids import make_id, to_18
from .quarantine_writer import stored_errors
from .storage import (
    CALL,
    FAULT_LOCK_TIMEOUT,
    FAULT_ORG_REFUSAL,
    KEY_SEPARATOR,
    PURGED_AT_FIELD,
    PURGED_KEYS_FIELD,
    QUARANTINE,
    ROW,
    SIMULATED_REFUSAL,
    TASK,
    HeldBody,
    NewRow,
    Refusal,
    StoredCall,
    StoredRow,
    Transient,
)

PREFIXES = {"Account": "001", "Contact": "003", "User": "005", "Lead": "00Q", "Task": "00T", "Case": "500"}
PREFIXES.update({CALL: "a0J", ROW: "a0K", QUARANTINE: "a0L"})


class MemoryStorage:
    def __init__(self, *, users: list[dict[str, Any]] | None = None) -> None:
        self.fault: str | None = None
        self.records: dict[str, tuple[str, dict[str, Any]]] = {}  # Id -> (type, fields)
        self.rows: dict[str, StoredRow] = {}  # by row key
        self._next = 1
        self.running_user_id = self.create("User", {"Username": "integration@memory", "IsActive": True})
        for user in users or []:
            self.create("User", user, record_id=user.get("Id"))

    # -- plain records (test set-up) -----------------------------------------------------------------
    def create(self, sobject: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        record_id = record_id or make_id(PREFIXES[sobject], self._next)
        self._next += 1
        self.records[record_id] = (sobject, {**fields, "Id": record_id})
        return record_id

    def of_type(self, sobject: str) -> list[dict[str, Any]]:
        return [fields for kind, fields in self.records.values() if kind == sobject]

    def purge(self, call_keys: list[str]) -> None:
        """Retention on these calls now: their rows go, the call keeps their keys and is frozen."""
        for call in self.of_type(CALL):
            if call["CallKey__c"] not in call_keys or call.get(PURGED_AT_FIELD):
                continue
            rows = [r for r in self.rows.values() if r.call_id == call["Id"]]
            call[PURGED_KEYS_FIELD] = KEY_SEPARATOR.join(sorted(r.row_key for r in rows))
            call[PURGED_AT_FIELD] = "2026-01-01T00:00:00.000+0000"
            for row in rows:
                del self.rows[row.row_key]
                del self.records[row.id]

    # -- transaction ------------------------------------------------------------------------------
    def savepoint(self) -> object:
        return copy.deepcopy((self.records, self.rows, self._next))

    def rollback(self, savepoint: object) -> None:
        self.records, self.rows, self._next = copy.deepcopy(savepoint)  # type: ignore[misc]

    # -- selectors --------------------------------------------------------------------------------
    def lock_calls(self, call_keys: Iterable[str]) -> dict[str, StoredCall]:
        if self.fault == FAULT_LOCK_TIMEOUT:
            raise Transient("locked", "simulated lock timeout")
        wanted = set(call_keys)
        return {
            f["CallKey__c"]: StoredCall(f["Id"], f["CallKey__c"], f)
            for f in self.of_type(CALL)
            if f["CallKey__c"] in wanted
        }

    def rows_by_key(self, row_keys: Iterable[str]) -> dict[str, StoredRow]:
        return {key: self.rows[key] for key in row_keys if key in self.rows}

    def rows_of_calls(self, call_ids: Iterable[str]) -> dict[str, list[StoredRow]]:
        wanted = set(call_ids)
        result: dict[str, list[StoredRow]] = {c: [] for c in wanted}
        for row in self.rows.values():
            if row.call_id in wanted:
                result[row.call_id].append(row)
        return result

    def type_of(self, record_id: str) -> str | None:
        prefix = record_id[:3]
        return next((name for name, value in PREFIXES.items() if value == prefix), None)

    def visible_records(self, record_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {rid: self.records[rid] for rid in record_ids if rid in self.records}

    def users(self) -> list[dict[str, Any]]:
        return self.of_type("User")

    def held_bodies(self, body_keys: Iterable[str]) -> dict[str, HeldBody]:
        wanted = set(body_keys)
        return {
            f["BodyKey__c"]: HeldBody(
                f["BodyKey__c"],
                f["Status__c"],
                f["Reason__c"],
                f.get("ErrorCode__c"),
                stored_errors(f.get("Errors__c")),
                f.get("Attempts__c") or 1,
            )
            for f in self.of_type(QUARANTINE)
            if f["BodyKey__c"] in wanted
        }

    # -- DML ----------------------------------------------------------------------------------------
    def insert_call(self, call_key: str, fields: dict[str, Any]) -> StoredCall:
        record_id = self.create(CALL, fields)
        return StoredCall(record_id, call_key, self.records[record_id][1])

    def insert_rows(self, rows: list[NewRow]) -> list[Refusal | None]:
        if self.fault == FAULT_ORG_REFUSAL:
            return [Refusal(SIMULATED_REFUSAL, "Simulated validation rule") for _ in rows]
        for row in rows:
            record_id = self.create(ROW, row.fields)
            key = str(row.fields["RowKey__c"])
            self.rows[key] = StoredRow(
                record_id,
                row.call_id,
                key,
                row.fields["Outcome__c"],
                row.fields["AnswerCode__c"],
                row.call_row,
                row.record_id,
                row.record_type,
            )
        return [None for _ in rows]

    def update_call(self, call: StoredCall) -> None:
        self.records[call.id] = (CALL, {**call.fields, "Id": call.id})

    def task_exists(self, task_id: str) -> bool:
        full = to_18(task_id)
        return full is not None and full in self.records

    def insert_task(self, fields: dict[str, Any]) -> str:
        return self.create(TASK, fields)

    def update_task(self, task_id: str, fields: dict[str, Any]) -> None:
        kind, current = self.records[task_id]
        self.records[task_id] = (kind, {**current, **fields})

    def upsert_quarantine(self, records: list[dict[str, Any]]) -> None:
        by_key = {f["BodyKey__c"]: f["Id"] for f in self.of_type(QUARANTINE)}
        for record in records:
            existing = by_key.get(record["BodyKey__c"])
            if existing is None:
                self.create(QUARANTINE, record)
            else:
                self.records[existing][1].update(record)
