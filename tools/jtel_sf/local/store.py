"""SQLite storage of the local endpoint: records of every sObject type, keyed like an org.

One table holds every record (Id, type, fields as JSON) with a unique (type, external key) index
for ``CallKey__c``, ``RowKey__c`` and ``BodyKey__c``: two writers of the same key cannot both
succeed, exactly as with a unique External ID field. Rows of one call serialize through
``BEGIN IMMEDIATE``; a database that stays locked longer than the busy timeout answers ``retry``.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jtel_sf.contract import load_fields, load_outcomes
from jtel_sf.engine import body as body_mod
from jtel_sf.engine.answers import Answer, answer
from jtel_sf.engine.body import FieldError, Invalid, Row
from jtel_sf.engine.ids import make_id, to_18
from jtel_sf.engine.rollup import (
    LINKED,
    NO_RECORD,
    UNLINKED,
    CallRow,
    choose_owner,
    roll_up,
    task_values,
    wants_task,
)
from jtel_sf.engine.time import format_instant, stored_instant
from jtel_sf.settings import Settings

CALL = "JtelCall__c"
ROW = "JtelCallRow__c"
QUARANTINE = "JtelQuarantine__c"
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Lead": "00Q",
    "Task": "00T",
    "Case": "500",
    "Organization": "00D",
    CALL: "a0J",
    ROW: "a0K",
    QUARANTINE: "a0L",
}
TYPES_BY_PREFIX = {prefix: sobject for sobject, prefix in KEY_PREFIXES.items()}
EXTERNAL_ID_FIELDS = {CALL: "CallKey__c", ROW: "RowKey__c", QUARANTINE: "BodyKey__c"}
WHO_TYPES = frozenset({"Contact", "Lead"})
NOT_ACTIVITY_ENABLED = frozenset({"User", "Task", "Organization", ROW, QUARANTINE, CALL})
REQUIRED_ON_CREATE = {"Contact": ("LastName",), "Lead": ("LastName", "Company"), "Account": ("Name",)}
RAW_LIMIT = 131072
ERRORS_LIMIT = 32768
NUMBER_FIELDS = ("TalkTimeSeconds__c", "AgentsTriedCount__c", "ResultCode__c", "RowCount__c", "LegCount__c")
AGENT_MATCH_FIELDS = ("CommunityNickname", "FederationIdentifier", "Alias", "EmployeeNumber", "Username")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (prefix TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    id15 TEXT NOT NULL UNIQUE,
    sobject TEXT NOT NULL,
    ext_key TEXT,
    parent_id TEXT,
    fields TEXT NOT NULL,
    internal TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS records_external_id ON records (sobject, ext_key) WHERE ext_key IS NOT NULL;
DROP INDEX IF EXISTS records_parent;
CREATE INDEX IF NOT EXISTS records_parent_type ON records (parent_id, sobject);
CREATE INDEX IF NOT EXISTS records_type ON records (sobject);
"""


FAULT_LOCK_TIMEOUT = "lockTimeout"
FAULT_ORG_REFUSAL = "orgRefusal"
FAULTS = (FAULT_LOCK_TIMEOUT, FAULT_ORG_REFUSAL)
SIMULATED_REFUSAL = "FIELD_CUSTOM_VALIDATION_EXCEPTION"  # what a validation rule reports


def _for_jtel(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors as answered: without the platform's ``detail``, which only the quarantine keeps."""
    return [{key: value for key, value in error.items() if key != "detail"} for error in errors]


class Busy(Exception):
    """The database stayed locked longer than the busy timeout."""


class DuplicateValue(Exception):
    """A second record with the same External ID value (Salesforce's DUPLICATE_VALUE)."""

    def __init__(self, field: str, existing_id: str) -> None:
        super().__init__(field)
        self.field = field
        self.existing_id = existing_id


class RequiredFieldMissing(Exception):
    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def create_private(path: Path) -> None:
    """Create the database file (and its folder) readable by its owner only, before SQLite opens it.

    SQLite gives the -wal and -shm files the database file's permissions, so they are 0600 too.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with suppress(OSError):  # an existing file of another owner stays as it is
        os.chmod(path, 0o600)


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/jtel-sf/local.sqlite`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jtel-sf" / "local.sqlite"


def now_instant() -> str:
    return format_instant(datetime.now(UTC))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store:
    """Thread-safe SQLite storage, WAL journal.

    The HTTP server borrows one connection per request from a small pool (:meth:`session`), so
    the number of open files does not grow with the number of TCP connections. Code outside a
    session (tests, the command line) gets one connection per thread, closed by :meth:`close`.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, pool_size: int = 8) -> None:
        self.fault: str | None = None  # a simulated org-only outcome (see simulate)
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._pool_free = threading.BoundedSemaphore(pool_size)
        self._pooled: list[sqlite3.Connection] = []
        create_private(self.path)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as cur:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    cur.execute(statement)
            if self._meta(cur, "org_id") is None:
                self._seed(cur)
        self.org_id = str(self._meta(conn.cursor(), "org_id"))
        self.running_user_id = str(self._meta(conn.cursor(), "running_user_id"))

    # -- connections and transactions -------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def session(self) -> Iterator[None]:
        """Borrow a pooled connection for this thread while the block runs (one request).

        Raises :class:`Busy` when every pooled connection stays in use longer than the busy timeout.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        if not self._pool_free.acquire(timeout=self.busy_timeout_ms / 1000):
            raise Busy("every database connection is in use")
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._open()
                with self._lock:
                    self._pooled.append(conn)
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None
                if conn.in_transaction:  # never hand on a connection inside a transaction
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                self._pool.put(conn)
        finally:
            self._pool_free.release()

    def open_connections(self) -> int:
        """Connections open now (pooled and per-thread): what the tests watch for leaks."""
        with self._lock:
            return len(self._connections) + len(self._pooled)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections + self._pooled:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
            self._pooled.clear()
        self._pool = queue.LifoQueue()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; everything rolls back on any exception."""
        conn = self._conn()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy(str(exc)) from exc
            raise
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise Busy(str(exc)) from exc
            raise

    # -- generic records ---------------------------------------------------------------------
    @staticmethod
    def _meta(cur: sqlite3.Cursor, key: str) -> str | None:
        row = cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _new_id(cur: sqlite3.Cursor, sobject: str) -> str:
        prefix = KEY_PREFIXES[sobject]
        row = cur.execute("SELECT next FROM counters WHERE prefix = ?", (prefix,)).fetchone()
        number = 1 if row is None else int(row[0])
        cur.execute(
            "INSERT INTO counters (prefix, next) VALUES (?, ?) "
            "ON CONFLICT(prefix) DO UPDATE SET next = excluded.next",
            (prefix, number + 1),
        )
        return make_id(prefix, number)

    def _insert(
        self,
        cur: sqlite3.Cursor,
        sobject: str,
        fields: dict[str, Any],
        *,
        parent_id: str | None = None,
        internal: dict[str, Any] | None = None,
    ) -> str:
        record_id = self._new_id(cur, sobject)
        stamped = {"Id": record_id, **fields, "CreatedDate": now_instant(), "LastModifiedDate": now_instant()}
        ext_field = EXTERNAL_ID_FIELDS.get(sobject)
        cur.execute(
            "INSERT INTO records (id, id15, sobject, ext_key, parent_id, fields, internal) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                record_id,
                record_id[:15],
                sobject,
                fields.get(ext_field) if ext_field else None,
                parent_id,
                json.dumps(stamped),
                None if internal is None else json.dumps(internal),
            ),
        )
        return record_id

    @staticmethod
    def _update(cur: sqlite3.Cursor, record_id: str, fields: dict[str, Any]) -> None:
        row = cur.execute("SELECT fields FROM records WHERE id = ?", (record_id,)).fetchone()
        current = json.loads(row[0])
        current.update(fields)
        current["LastModifiedDate"] = now_instant()
        cur.execute("UPDATE records SET fields = ? WHERE id = ?", (json.dumps(current), record_id))

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        """sObject create through the REST resource (types in KEY_PREFIXES)."""
        missing = [name for name in REQUIRED_ON_CREATE.get(sobject, ()) if fields.get(name) in (None, "")]
        if missing:
            raise RequiredFieldMissing(missing)
        with self.transaction() as cur:
            ext_field = EXTERNAL_ID_FIELDS.get(sobject)
            if ext_field and fields.get(ext_field) is not None:
                existing = cur.execute(
                    "SELECT id FROM records WHERE sobject = ? AND ext_key = ?", (sobject, fields[ext_field])
                ).fetchone()
                if existing is not None:
                    raise DuplicateValue(ext_field, str(existing[0]))
            return self._insert(cur, sobject, dict(fields))

    def update(self, record_id: str, sobject: str, fields: dict[str, Any]) -> bool:
        """sObject PATCH: False when no such record. An External ID value taken by another record
        raises :class:`DuplicateValue`."""
        full = to_18(record_id)
        if full is None:
            return False
        with self.transaction() as cur:
            found = cur.execute(
                "SELECT id FROM records WHERE id15 = ? AND sobject = ?", (full[:15], sobject)
            ).fetchone()
            if found is None:
                return False
            ext_field = EXTERNAL_ID_FIELDS.get(sobject)
            if ext_field and ext_field in fields:
                other = cur.execute(
                    "SELECT id FROM records WHERE sobject = ? AND ext_key = ? AND id != ?",
                    (sobject, fields[ext_field], found[0]),
                ).fetchone()
                if other is not None:
                    raise DuplicateValue(ext_field, str(other[0]))
                cur.execute("UPDATE records SET ext_key = ? WHERE id = ?", (fields[ext_field], found[0]))
            self._update(cur, str(found[0]), fields)
        return True

    def get(self, record_id: str, sobject: str | None = None) -> tuple[str, dict[str, Any]] | None:
        full = to_18(record_id)
        if full is None:
            return None
        row = (
            self._conn()
            .execute("SELECT sobject, fields FROM records WHERE id15 = ?", (full[:15],))
            .fetchone()
        )
        if row is None or (sobject is not None and row[0] != sobject):
            return None
        return str(row[0]), json.loads(row[1])

    def get_by_external_id(self, sobject: str, field: str, value: str) -> dict[str, Any] | None:
        if EXTERNAL_ID_FIELDS.get(sobject) != field:
            return None
        row = (
            self._conn()
            .execute("SELECT fields FROM records WHERE sobject = ? AND ext_key = ?", (sobject, value))
            .fetchone()
        )
        return None if row is None else json.loads(row[0])

    def children(self, parent_id: str) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute("SELECT fields FROM records WHERE parent_id = ? ORDER BY rowid", (parent_id,))
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    def delete(self, record_id: str, sobject: str) -> bool:
        full = to_18(record_id)
        if full is None:
            return False
        with self.transaction() as cur:
            found = cur.execute(
                "SELECT id FROM records WHERE id15 = ? AND sobject = ?", (full[:15], sobject)
            ).fetchone()
            if found is None:
                return False
            cur.execute("DELETE FROM records WHERE parent_id = ?", (found[0],))
            cur.execute("DELETE FROM records WHERE id = ?", (found[0],))
        return True

    def count(self, sobject: str) -> int:
        return int(
            self._conn().execute("SELECT COUNT(*) FROM records WHERE sobject = ?", (sobject,)).fetchone()[0]
        )

    def all(self, sobject: str) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute("SELECT fields FROM records WHERE sobject = ? ORDER BY rowid", (sobject,))
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    def find_user(self, match_field: str, value: str | None = None) -> dict[str, Any] | None:
        """An active user whose ``match_field`` equals ``value`` (any non-empty one when None).

        Agents come before the running user so that a lookup for "a user with a value" finds one.
        """
        for user in self.all("User"):
            if not user.get("IsActive"):
                continue
            found = user.get(match_field)
            if found in (None, ""):
                continue
            if value is None:
                if user["Id"] != self.running_user_id:
                    return user
            elif found == value:
                return user
        if value is None:
            running = self.get(self.running_user_id)
            if running and running[1].get(match_field):
                return running[1]
        return None

    def _seed(self, cur: sqlite3.Cursor) -> None:
        org_id = self._new_id(cur, "Organization")
        cur.execute("INSERT INTO meta (key, value) VALUES ('org_id', ?)", (org_id,))
        users = [
            ("jtel.integration@jtel-sf.local", "jtel Integration", "jtel.integration", True),
            ("agent.anna@jtel-sf.local", "Anna Agent", "agent.anna", True),
            ("agent.ben@jtel-sf.local", "Ben Agent", "agent.ben", True),
            ("agent.former@jtel-sf.local", "Former Agent", "agent.former", False),
        ]
        ids = []
        for username, name, nickname, active in users:
            fields = {
                "Username": username,
                "Name": name,
                "LastName": name.split()[-1],
                "Email": username,
                "CommunityNickname": nickname,
                "FederationIdentifier": nickname,
                "Alias": nickname[:8],
                "EmployeeNumber": nickname,
                "IsActive": active,
            }
            ids.append(self._insert(cur, "User", fields))
        cur.execute("INSERT INTO meta (key, value) VALUES ('running_user_id', ?)", (ids[0],))

    # -- the endpoint ------------------------------------------------------------------------
    def quarantine(
        self,
        raw: bytes,
        invalid_text: str,
        errors: list[dict[str, Any]],
        code: str,
        http: int,
        call_id: str | None,
    ) -> None:
        key = body_mod.body_key(raw)
        with self.transaction() as cur:
            row = cur.execute(
                "SELECT id, fields FROM records WHERE sobject = ? AND ext_key = ?", (QUARANTINE, key)
            ).fetchone()
            if row is not None:
                current = json.loads(row[1])
                self._update(
                    cur,
                    row[0],
                    {
                        "Attempts__c": float(current.get("Attempts__c") or 0) + 1,
                        "LastReceived__c": now_instant(),
                    },
                )
                return
            errors_text = json.dumps(errors, ensure_ascii=False)
            self._insert(
                cur,
                QUARANTINE,
                {
                    "BodyKey__c": key,
                    "RawBody__c": invalid_text[:RAW_LIMIT],
                    "BodyTruncated__c": len(invalid_text) > RAW_LIMIT,
                    "Errors__c": errors_text[:ERRORS_LIMIT],
                    "ErrorCode__c": code,
                    "Reason__c": code,
                    "HttpStatus__c": float(http),
                    "StatisticsPartAID__c": call_id,
                    "Status__c": "New",
                    "Attempts__c": 1.0,
                    "LastReceived__c": now_instant(),
                    "ReprocessResult__c": None,
                },
            )

    def reject(self, raw: bytes, invalid: Invalid, settings: Settings) -> Answer:
        """409 invalid_payload, with the body quarantined."""
        result = answer("invalid_payload", settings, call_id=invalid.call_id, errors=invalid.errors)
        self.quarantine(
            raw,
            invalid.raw,
            [e.as_dict() for e in invalid.errors],
            "invalid_payload",
            result.http,
            None if invalid.call_id is None else str(invalid.call_id),
        )
        result.body["quarantineKey"] = body_mod.body_key(raw)
        return result

    def _link(
        self, cur: sqlite3.Cursor, salesforce_id: str | None
    ) -> tuple[str, str, str | None, str | None]:
        """(answer code, link status, record Id (18), record type)."""
        if salesforce_id is None:
            return "ok_no_record", NO_RECORD, None, None
        full = to_18(salesforce_id)
        if full is None:
            return "invalid_record_id", UNLINKED, None, None
        # As in the org: the key prefix names the type; a type that cannot hold activities is
        # answered before any lookup, an unknown prefix is a record nobody can see.
        sobject = TYPES_BY_PREFIX.get(full[:3])
        if sobject is None:
            return "record_not_found", UNLINKED, None, None
        if sobject in NOT_ACTIVITY_ENABLED:
            return "record_not_activity_enabled", UNLINKED, None, None
        found = cur.execute("SELECT id, sobject, fields FROM records WHERE id15 = ?", (full[:15],)).fetchone()
        if found is None:
            return "record_not_found", UNLINKED, None, None
        if found[1] == "Lead" and json.loads(found[2]).get("IsConverted"):
            # As in the org: a converted Lead takes no new activity (docs/contract.md "Answers").
            return "record_not_activity_enabled", UNLINKED, None, None
        return "ok", LINKED, str(found[0]), str(found[1])

    @staticmethod
    def _can_own_tasks(user: dict[str, Any]) -> bool:
        """Only active users with UserType Standard can own a Task (a seeded user without a type is one)."""
        return bool(user.get("IsActive")) and user.get("UserType", "Standard") == "Standard"

    def _task_owners(self, cur: sqlite3.Cursor) -> frozenset[str]:
        users = (json.loads(f) for (f,) in cur.execute("SELECT fields FROM records WHERE sobject = 'User'"))
        return frozenset(str(user["Id"]) for user in users if self._can_own_tasks(user))

    def _match_agent(self, cur: sqlite3.Cursor, agent_uid: str | None, settings: Settings) -> str | None:
        if agent_uid is None:
            return None
        for (fields_text,) in cur.execute("SELECT fields FROM records WHERE sobject = 'User' ORDER BY rowid"):
            user = json.loads(fields_text)
            if self._can_own_tasks(user) and user.get(settings.agent_match_field) == agent_uid:
                return str(user["Id"])
        return None

    def _fallback_owner(self, cur: sqlite3.Cursor, settings: Settings) -> str | None:
        if not settings.fallback_owner_username:
            return None
        for (fields_text,) in cur.execute("SELECT fields FROM records WHERE sobject = 'User'"):
            user = json.loads(fields_text)
            if self._can_own_tasks(user) and user.get("Username") == settings.fallback_owner_username:
                return str(user["Id"])
        return None

    @staticmethod
    def _row_fields(row: Row, time_zone: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for spec in load_fields():
            value = row.values.get(spec.name)
            if value is None:
                fields[spec.field] = None
            elif spec.kind == "datetime":
                fields[spec.field] = format_instant(stored_instant(value, time_zone))  # type: ignore[arg-type]
            elif spec.kind == "integer":
                fields[spec.field] = float(value)  # type: ignore[arg-type]
            elif spec.kind == "salesforceId":
                fields[spec.field] = value
            else:
                fields[spec.field] = value
        return fields

    @staticmethod
    def _stored_row(internal: dict[str, Any]) -> CallRow:
        values: dict[str, Any] = {}
        for spec in load_fields():
            value = internal["values"].get(spec.name)
            if value is not None and spec.kind == "datetime":
                value = body_mod.parse_local_datetime(value)
            values[spec.name] = value
        row = Row(values=values, row_key=internal["rowKey"], raw="")
        return CallRow(row=row, link_status=internal["linkStatus"], agent_user_id=internal.get("agentUserId"))

    def write_row(self, row: Row, settings: Settings) -> Answer:
        """Store one valid row, roll its call up and keep the call's Task; the contract's answer."""
        tz = settings.time_zone
        call_key = str(row.call_id)
        with self.transaction() as cur:
            existing = cur.execute(
                "SELECT fields FROM records WHERE sobject = ? AND ext_key = ?", (ROW, row.row_key)
            ).fetchone()
            if existing is not None:
                stored = json.loads(existing[0])
                code = "already_stored" if stored.get("Outcome__c") == "written" else stored["AnswerCode__c"]
                return answer(code, settings, call_id=call_key, row_key=row.row_key)
            code, link_status, record_id, record_type = self._link(cur, row.get("SalesForceID"))  # type: ignore[arg-type]
            agent_user_id = self._match_agent(cur, row.get("AgentUID"), settings)  # type: ignore[arg-type]
            call = cur.execute(
                "SELECT id FROM records WHERE sobject = ? AND ext_key = ?", (CALL, call_key)
            ).fetchone()
            call_id = (
                str(call[0]) if call else self._insert(cur, CALL, {"Name": call_key, "CallKey__c": call_key})
            )
            values = {
                spec.name: (
                    body_mod.format_local(v)  # type: ignore[arg-type]
                    if (v := row.values.get(spec.name)) is not None and spec.kind == "datetime"
                    else v
                )
                for spec in load_fields()
            }
            internal = {
                "values": values,
                "rowKey": row.row_key,
                "linkStatus": link_status,
                "agentUserId": agent_user_id,
                "recordId": record_id,
                "recordType": record_type,
            }
            outcome = "written" if code in ("ok", "ok_no_record") else "not_found"
            fields = {
                "Call__c": call_id,
                "RowKey__c": row.row_key,
                **self._row_fields(row, tz),
                "RawPayload__c": row.raw[:RAW_LIMIT],
                "Outcome__c": outcome,
                "AnswerCode__c": code,
                "LinkStatus__c": link_status,
                "AgentUser__c": agent_user_id,
                "AgentMapped__c": agent_user_id is not None,
            }
            self._insert(cur, ROW, fields, parent_id=call_id, internal=internal)
            self._roll_up(cur, call_id, settings)
            return answer(code, settings, call_id=call_key, row_key=row.row_key)

    def _roll_up(self, cur: sqlite3.Cursor, call_id: str, settings: Settings) -> None:
        tz = settings.time_zone
        stored = cur.execute(
            "SELECT internal FROM records WHERE parent_id = ? AND sobject = ?", (call_id, ROW)
        ).fetchall()
        internals = [json.loads(s[0]) for s in stored]
        rows = [self._stored_row(i) for i in internals]
        call = roll_up(rows, tz)
        current = json.loads(cur.execute("SELECT fields FROM records WHERE id = ?", (call_id,)).fetchone()[0])
        task_id = current.get("TaskId__c")
        if wants_task(call, settings):
            record_id = str(call["SalesforceRecordId__c"])
            linked = next(
                i
                for i in sorted(internals, key=lambda i: i["rowKey"])
                if i.get("recordId") and to_18(record_id) == i["recordId"]
            )
            owners = self._task_owners(cur)
            fallback = self._fallback_owner(cur, settings)
            owner = choose_owner(rows, call, tz, fallback, self.running_user_id, owners.__contains__)
            task = task_values(
                rows,
                call,
                settings,
                record_id=linked["recordId"],
                record_is_who=linked["recordType"] in WHO_TYPES,
                owner_id=owner,
            )
            if task_id:
                self._update(cur, task_id, task)
            else:
                task_id = self._insert(cur, "Task", {**task, "IsClosed": True})
        call["TaskId__c"] = task_id
        for name in NUMBER_FIELDS:  # Number(18,0) fields read back as 120.0 from the REST API
            if call.get(name) is not None:
                call[name] = float(call[name])  # type: ignore[arg-type]
        self._update(cur, call_id, call)

    def process_element(self, raw: bytes, element: Row | Invalid, settings: Settings) -> Answer:
        """One object (the body or an array element) as if sent alone."""
        try:
            if isinstance(element, Invalid):
                return self.reject(raw, element, settings)
            simulated = self.simulate(raw, element, settings)
            if simulated is not None:
                return simulated
            return self.write_row(element, settings)
        except Busy:
            return answer("busy", settings, message="The local database is busy; resend later.")
        except Exception as exc:  # the contract: unexpected failures are quarantined
            return self.unexpected(raw, exc, settings)

    def simulate(self, raw: bytes, row: Row, settings: Settings) -> Answer | None:
        """The answers given before a row is written: a body still held in quarantine gets its first
        answer again (outcomes.json ``heldOnResend``: org_refused and unexpected_error, as in Apex),
        and the org-only outcomes on request (``fault``): a lock timeout answers retry/locked and
        stores nothing; an org refusal (as a validation rule would) answers 409 org_refused and
        quarantines the body."""
        call_key = str(row.call_id)
        if self.fault == FAULT_LOCK_TIMEOUT:
            return answer("locked", settings, call_id=call_key, row_key=row.row_key)
        key = body_mod.body_key(raw)
        held = self.get_by_external_id(QUARANTINE, "BodyKey__c", key)
        is_held = (
            held is not None
            and held.get("Status__c") == "New"
            and held.get("Reason__c") in load_outcomes().held_codes
        )
        if not is_held and self.fault != FAULT_ORG_REFUSAL:
            return None
        with self.transaction() as cur:
            stored = cur.execute(
                "SELECT 1 FROM records WHERE sobject = ? AND ext_key = ?", (ROW, row.row_key)
            ).fetchone()
        if stored is not None:
            return None  # a row stored before is a resend: write_row answers it
        if is_held:
            assert held is not None
            code = str(held.get("ErrorCode__c") or held.get("Reason__c"))
            errors = json.loads(held.get("Errors__c") or "[]")
        else:
            code = "org_refused"
            errors = [
                {
                    "field": None,
                    "code": SIMULATED_REFUSAL,
                    "message": load_outcomes().error_message(code),
                    "detail": "Simulated validation rule",
                }
            ]
        result = answer(code, settings, call_id=call_key, row_key=row.row_key, errors=_for_jtel(errors))
        self.quarantine(raw, row.raw, errors, code, result.http, call_key)
        result.body["quarantineKey"] = key
        return result

    def unexpected(self, raw: bytes, exc: BaseException, settings: Settings) -> Answer:
        # The exception's text may name internals: jtel gets a generic message, the quarantine
        # record keeps the detail (docs/contract.md "Answers").
        code = "unexpected_error"
        error = FieldError(None, type(exc).__name__, load_outcomes().error_message(code))
        result = answer(code, settings, errors=[error])
        try:
            self.quarantine(
                raw,
                body_mod.decode_raw(raw),
                [{**error.as_dict(), "detail": str(exc)[:ERRORS_LIMIT]}],
                "unexpected_error",
                result.http,
                None,
            )
        except Exception:
            return answer("quarantine_failed", settings)
        result.body["quarantineKey"] = body_mod.body_key(raw)
        return result
