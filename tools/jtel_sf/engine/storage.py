"""The storage the writeCallStatistics service runs on: the org's selectors and DML, as a small interface.

The Apex service reads through selectors (``JtelCallSelector``, ``JtelRecordSelector``,
``JtelUserSelector``, ``JtelQuarantineSelector``) and writes through ``JtelDml``; the Python engine
(:mod:`jtel_sf.engine.call_statistics_service`) does the same through a :class:`Storage`. Two
implementations: :class:`jtel_sf.local.store.Store` (SQLite, ``serve``) and
:class:`jtel_sf.engine.memory.MemoryStorage` (in memory, the engine's tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .rollup import CallRow

CALL = "JtelCall__c"
ROW = "JtelCallRow__c"
QUARANTINE = "JtelQuarantine__c"
TASK = "Task"
WHO_TYPES = frozenset({"Contact", "Lead"})
FAULT_LOCK_TIMEOUT = "lockTimeout"
FAULT_ORG_REFUSAL = "orgRefusal"
FAULTS = (FAULT_LOCK_TIMEOUT, FAULT_ORG_REFUSAL)
SIMULATED_REFUSAL = "FIELD_CUSTOM_VALIDATION_EXCEPTION"  # what a validation rule reports
# Retention (docs/contract.md, Retention; Apex JtelRetentionService): a call whose rows were deleted keeps
# their keys and is frozen.
PURGED_KEYS_FIELD = "PurgedRowKeys__c"
PURGED_AT_FIELD = "RowsPurged__c"
KEY_SEPARATOR = "\n"


class Transient(Exception):
    """``JtelTransientException``: a record lock or busy database; the pass answers retry."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class Refusal:
    """A DML failure the org reports for one record (``JtelDml.Result`` that is not a success)."""

    status_code: str
    detail: str  # the org's own message: kept in the quarantine record, never answered


@dataclass
class StoredCall:
    id: str
    key: str
    fields: dict[str, Any] = field(default_factory=dict)  # the JtelCall__c field values


@dataclass(frozen=True)
class StoredRow:
    """A JtelCallRow__c as the service reads it back."""

    id: str
    call_id: str
    row_key: str
    outcome: str  # Outcome__c
    answer_code: str  # AnswerCode__c
    call_row: CallRow  # the values the roll-up reads
    record_id: str | None = None  # the linked record (18 characters), when Linked
    record_type: str | None = None


@dataclass(frozen=True)
class NewRow:
    """A JtelCallRow__c to insert (``JtelRowBuilder``'s output)."""

    call_id: str
    fields: dict[str, Any]  # the record's field values
    call_row: CallRow
    record_id: str | None
    record_type: str | None


@dataclass(frozen=True)
class HeldBody:
    """The JtelQuarantine__c fields the service reads."""

    body_key: str
    status: str
    reason: str
    error_code: str | None
    errors: list[dict[str, Any]]
    attempts: float


class Storage(Protocol):
    """What the writeCallStatistics service needs from the org."""

    running_user_id: str
    fault: str | None  # a simulated org-only outcome (local endpoint and tests only)

    # -- transaction ---------------------------------------------------------------------------
    def savepoint(self) -> object:
        """``Database.setSavepoint()``."""
        ...

    def rollback(self, savepoint: object) -> None:
        """``Database.rollback(savepoint)``."""
        ...

    # -- JtelCallSelector ----------------------------------------------------------------------
    def lock_calls(self, call_keys: Iterable[str]) -> dict[str, StoredCall]:
        """The calls with these keys, locked (``FOR UPDATE``); raises :class:`Transient` on a lock timeout."""
        ...

    def rows_by_key(self, row_keys: Iterable[str]) -> dict[str, StoredRow]: ...

    def rows_of_calls(self, call_ids: Iterable[str]) -> dict[str, list[StoredRow]]: ...

    # -- JtelRecordSelector, JtelUserSelector, JtelQuarantineSelector -----------------------------
    def type_of(self, record_id: str) -> str | None:
        """The sObject type its key prefix names (Apex: ``Id.getSObjectType()``), or None."""
        ...

    def visible_records(self, record_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """18-character Id -> (sObject type, fields) of the records the integration user can see."""
        ...

    def users(self) -> list[dict[str, Any]]:
        """Every User record (the selectors filter them as their SOQL does)."""
        ...

    def held_bodies(self, body_keys: Iterable[str]) -> dict[str, HeldBody]: ...

    # -- JtelDml -------------------------------------------------------------------------------
    def insert_call(self, call_key: str, fields: dict[str, Any]) -> StoredCall: ...

    def insert_rows(self, rows: list[NewRow]) -> list[Refusal | None]:
        """One result per row, in order: None when inserted."""
        ...

    def update_call(self, call: StoredCall) -> None: ...

    def task_exists(self, task_id: str) -> bool: ...

    def insert_task(self, fields: dict[str, Any]) -> str: ...

    def update_task(self, task_id: str, fields: dict[str, Any]) -> None: ...

    def upsert_quarantine(self, records: list[dict[str, Any]]) -> None:
        """Insert by BodyKey__c, or update the fields given of the record with that key."""
        ...
