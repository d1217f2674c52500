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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jtel_sf.contract import load_fields, load_records
from jtel_sf.engine import body as body_mod
from jtel_sf.engine.body import Row
from jtel_sf.engine.ids import make_id, to_18
from jtel_sf.engine.quarantine_writer import stored_errors
from jtel_sf.engine.rollup import CallRow
from jtel_sf.engine.storage import (
    CALL,
    FAULT_LOCK_TIMEOUT,
    FAULT_ORG_REFUSAL,
    FAULTS,
    KEY_SEPARATOR,
    PURGED_AT_FIELD,
    PURGED_KEYS_FIELD,
    QUARANTINE,
    ROW,
    SIMULATED_REFUSAL,
    HeldBody,
    NewRow,
    Refusal,
    StoredCall,
    StoredRow,
    Transient,
)
from jtel_sf.engine.time import format_instant

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
REQUIRED_ON_CREATE = {"Contact": ("LastName",), "Lead": ("LastName", "Company"), "Account": ("Name",)}
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


ROW_CACHE_SIZE = 20000
CLOSED_QUARANTINE_STATUSES = load_records().closed_quarantine_statuses  # contract/records.json
__all__ = ["FAULTS", "Busy", "DuplicateValue", "RequiredFieldMissing", "Store"]


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
        self._row_cache: dict[tuple[str, str], StoredRow] = {}
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
        with self.transaction() as cur:
            found = self._find(cur, record_id, sobject)
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
        self._forget_rows()
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

    @staticmethod
    def _find(cur: sqlite3.Cursor, record_id: str, sobject: str) -> tuple[str] | None:
        """The stored row of a record of ``sobject`` by its 15- or 18-character Id, or None."""
        full = to_18(record_id)
        if full is None:
            return None
        return cur.execute(
            "SELECT id FROM records WHERE id15 = ? AND sobject = ?", (full[:15], sobject)
        ).fetchone()

    def delete(self, record_id: str, sobject: str) -> bool:
        with self.transaction() as cur:
            found = self._find(cur, record_id, sobject)
            if found is None:
                return False
            cur.execute("DELETE FROM records WHERE parent_id = ?", (found[0],))
            cur.execute("DELETE FROM records WHERE id = ?", (found[0],))
        self._forget_rows()
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

    def recent(self, sobject: str, limit: int) -> list[dict[str, Any]]:
        """The records of a type changed last, newest first (the status page)."""
        rows = (
            self._conn()
            .execute(
                "SELECT fields FROM records WHERE sobject = ? "
                "ORDER BY json_extract(fields, '$.LastModifiedDate') DESC, rowid DESC LIMIT ?",
                (sobject, limit),
            )
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

    # -- the Storage interface of the engine (jtel_sf.engine.storage) ------------------------
    # The service runs inside transaction() (BEGIN IMMEDIATE: writers serialize, so the org's
    # row locks and lost races cannot happen here; a lock is simulated with ``fault``).
    def savepoint(self) -> object:
        number = getattr(self._local, "savepoints", 0) + 1
        self._local.savepoints = number
        name = f"sp{number}"
        self._conn().execute(f"SAVEPOINT {name}")
        return name

    def rollback(self, savepoint: object) -> None:
        self._conn().execute(f"ROLLBACK TO {savepoint}")

    def _by_ext_keys(self, sobject: str, keys: Iterable[str]) -> list[tuple[str, str, str | None]]:
        wanted = list(dict.fromkeys(keys))
        found: list[tuple[str, str, str | None]] = []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            found += (
                self._conn()
                .execute(
                    f"SELECT id, fields, internal FROM records WHERE sobject = ? AND ext_key IN ({marks})",
                    (sobject, *part),
                )
                .fetchall()
            )
        return found

    def lock_calls(self, call_keys: Iterable[str]) -> dict[str, StoredCall]:
        if self.fault == FAULT_LOCK_TIMEOUT:
            raise Transient("locked", "simulated lock timeout")
        result = {}
        for record_id, fields_text, _ in self._by_ext_keys(CALL, call_keys):
            fields = json.loads(fields_text)
            result[str(fields["CallKey__c"])] = StoredCall(record_id, str(fields["CallKey__c"]), fields)
        return result

    @staticmethod
    def _stored_row(record_id: str, fields: dict[str, Any], internal: dict[str, Any]) -> StoredRow:
        values: dict[str, Any] = {}
        for spec in load_fields():
            value = internal["values"].get(spec.name)
            if value is not None and spec.kind == "datetime":
                value = body_mod.parse_local_datetime(value)
            values[spec.name] = value
        row = Row(values=values, row_key=internal["rowKey"], raw="")
        call_row = CallRow(
            row=row, link_status=internal["linkStatus"], agent_user_id=internal.get("agentUserId")
        )
        return StoredRow(
            id=record_id,
            call_id=str(fields["Call__c"]),
            row_key=str(internal["rowKey"]),
            outcome=str(fields.get("Outcome__c")),
            answer_code=str(fields.get("AnswerCode__c")),
            call_row=call_row,
            record_id=internal.get("recordId"),
            record_type=internal.get("recordType"),
        )

    def _read_row(self, record_id: str, fields_text: str, internal_text: str | None) -> StoredRow:
        found = self._stored_row(record_id, json.loads(fields_text), json.loads(internal_text or "{}"))
        self._remember(found)
        return found

    def _remember(self, row: StoredRow) -> None:
        with self._lock:
            if len(self._row_cache) >= ROW_CACHE_SIZE:
                self._row_cache.clear()
            self._row_cache[(row.id, row.row_key)] = row

    def _forget_rows(self) -> None:
        with self._lock:
            self._row_cache.clear()

    def rows_by_key(self, row_keys: Iterable[str]) -> dict[str, StoredRow]:
        result = {}
        for record_id, fields_text, internal_text in self._by_ext_keys(ROW, row_keys):
            row = self._read_row(record_id, fields_text, internal_text)
            result[row.row_key] = row
        return result

    def rows_of_calls(self, call_ids: Iterable[str]) -> dict[str, list[StoredRow]]:
        """Every row of each call. A row is parsed once and kept by (Id, RowKey__c): the roll-up reads
        all rows of a call on every write of it, and stored rows do not change (a REST update or
        delete empties the cache)."""
        result: dict[str, list[StoredRow]] = {}
        conn = self._conn()
        for call_id in dict.fromkeys(call_ids):
            keys = conn.execute(
                "SELECT id, ext_key FROM records WHERE parent_id = ? AND sobject = ? ORDER BY rowid",
                (call_id, ROW),
            ).fetchall()
            with self._lock:
                known = {key: self._row_cache.get(key) for key in keys}
            missing = [key[0] for key, row in known.items() if row is None]
            for start in range(0, len(missing), 500):
                part = missing[start : start + 500]
                found = conn.execute(
                    f"SELECT id, fields, internal FROM records WHERE id IN ({','.join('?' * len(part))})",
                    part,
                )
                for record_id, fields_text, internal_text in found:
                    row = self._read_row(record_id, fields_text, internal_text)
                    known[(row.id, row.row_key)] = row
            result[call_id] = [row for row in known.values() if row is not None]
        return result

    def type_of(self, record_id: str) -> str | None:
        return TYPES_BY_PREFIX.get(record_id[:3])

    def visible_records(self, record_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        result = {}
        for record_id in record_ids:
            found = (
                self._conn()
                .execute("SELECT id, sobject, fields FROM records WHERE id15 = ?", (record_id[:15],))
                .fetchone()
            )
            if found is not None:
                result[record_id] = (str(found[1]), json.loads(found[2]))
        return result

    def users(self) -> list[dict[str, Any]]:
        return self.all("User")

    def held_bodies(self, body_keys: Iterable[str]) -> dict[str, HeldBody]:
        result = {}
        for _, fields_text, _ in self._by_ext_keys(QUARANTINE, body_keys):
            f = json.loads(fields_text)
            result[str(f["BodyKey__c"])] = HeldBody(
                body_key=str(f["BodyKey__c"]),
                status=str(f.get("Status__c")),
                reason=str(f.get("Reason__c")),
                error_code=f.get("ErrorCode__c"),
                errors=stored_errors(f.get("Errors__c")),
                attempts=float(f.get("Attempts__c") or 1),
            )
        return result

    def insert_call(self, call_key: str, fields: dict[str, Any]) -> StoredCall:
        cur = self._conn().cursor()
        record_id = self._insert(cur, CALL, fields)
        return StoredCall(record_id, call_key, {"Id": record_id, **fields})

    def insert_rows(self, rows: list[NewRow]) -> list[Refusal | None]:
        if self.fault == FAULT_ORG_REFUSAL:
            return [Refusal(SIMULATED_REFUSAL, "Simulated validation rule") for _ in rows]
        cur = self._conn().cursor()
        for row in rows:
            call_row = row.call_row
            values = {
                spec.name: (
                    body_mod.format_local(v)  # type: ignore[arg-type]
                    if (v := call_row.row.values.get(spec.name)) is not None and spec.kind == "datetime"
                    else v
                )
                for spec in load_fields()
            }
            internal = {
                "values": values,
                "rowKey": call_row.row_key,
                "linkStatus": call_row.link_status,
                "agentUserId": call_row.agent_user_id,
                "recordId": row.record_id,
                "recordType": row.record_type,
            }
            self._insert(cur, ROW, row.fields, parent_id=row.call_id, internal=internal)
        return [None for _ in rows]

    def update_call(self, call: StoredCall) -> None:
        self._update(self._conn().cursor(), call.id, call.fields)

    def task_exists(self, task_id: str) -> bool:
        return self.get(task_id, "Task") is not None

    def insert_task(self, fields: dict[str, Any]) -> str:
        return self._insert(self._conn().cursor(), "Task", fields)

    def update_task(self, task_id: str, fields: dict[str, Any]) -> None:
        self._update(self._conn().cursor(), task_id, fields)

    # -- retention ------------------------------------------------------------------------------
    def purge_rows(self, *, ended_before: str | None = None, call_keys: list[str] | None = None) -> int:
        """Delete the rows of unpurged calls that ended before ``ended_before`` (an ISO instant; calls
        without an end by their creation) or whose keys are given, keeping the rows' keys on the call
        and freezing it, as JtelRetentionService.purgeRows does. Returns the number of rows deleted."""
        deleted = 0
        with self.transaction() as cur:
            query = "SELECT id, ext_key, fields FROM records WHERE sobject = ?"
            calls = cur.execute(query, (CALL,)).fetchall()
            for call_id, call_key, fields_text in calls:
                fields = json.loads(fields_text)
                if fields.get(PURGED_AT_FIELD):
                    continue
                ended = fields.get("CallEnd__c") or fields.get("CreatedDate")
                due = (call_keys is not None and call_key in call_keys) or (
                    ended_before is not None and ended is not None and ended < ended_before
                )
                if not due:
                    continue
                rows = cur.execute(
                    "SELECT id, ext_key FROM records WHERE parent_id = ? AND sobject = ?", (call_id, ROW)
                ).fetchall()
                keys = KEY_SEPARATOR.join(sorted(str(key) for _, key in rows))
                self._update(cur, call_id, {PURGED_AT_FIELD: now_instant(), PURGED_KEYS_FIELD: keys})
                cur.executemany("DELETE FROM records WHERE id = ?", [(row_id,) for row_id, _ in rows])
                deleted += len(rows)
        self._forget_rows()
        return deleted

    def purge_quarantine(self, changed_before: str) -> int:
        """Delete reprocessed or discarded quarantine records last changed before ``changed_before``."""
        with self.transaction() as cur:
            doomed = [
                record_id
                for record_id, fields_text in cur.execute(
                    "SELECT id, fields FROM records WHERE sobject = ?", (QUARANTINE,)
                ).fetchall()
                if (f := json.loads(fields_text)).get("Status__c") in CLOSED_QUARANTINE_STATUSES
                and str(f.get("LastModifiedDate") or "") < changed_before
            ]
            cur.executemany("DELETE FROM records WHERE id = ?", [(record_id,) for record_id in doomed])
        return len(doomed)

    def upsert_quarantine(self, records: list[dict[str, Any]]) -> None:
        cur = self._conn().cursor()
        for record in records:
            existing = cur.execute(
                "SELECT id FROM records WHERE sobject = ? AND ext_key = ?", (QUARANTINE, record["BodyKey__c"])
            ).fetchone()
            if existing is None:
                self._insert(cur, QUARANTINE, record)
            else:
                self._update(cur, str(existing[0]), record)
