"""The replay loop: read rows, route each call to one worker, post, retry, report, resume.

Rows of one call (same jtelStatisticsPartAID) always go to the same worker and are sent one after
the other, so their order is kept; different calls run in parallel. Queues are bounded, so memory
stays flat whatever the input size. Retry answers (503, 500, 423) and connection failures are
retried with exponential backoff and full jitter up to ``max_retries``; 404 and 409 are final;
a 401 gets a new token once.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from jtel_sf.contract import load_outcomes
from jtel_sf.errors import AuthError, UsageError

from .report import FinalRows, ReportWriter
from .source import SourceRow, read_rows
from .target import Target

RETRY_HTTP = (500, 503, 423)
QUEUE_DEPTH = 64
_STOP = object()


@dataclass
class SendOptions:
    concurrency: int = 4
    rate: float | None = None  # rows per second over all workers; None = as fast as possible
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 60.0
    report: Path | None = None
    resume: bool = False
    dry_run: bool = False
    input_format: str | None = None
    progress_interval: float = 1.0


@dataclass
class Counts:
    sent: int = 0
    written: int = 0
    duplicate: int = 0
    not_found: int = 0
    rejected: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    parsed: int = 0
    other: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SendResult:
    counts: Counts
    seconds: float
    aborted: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.counts.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Outcome:
    http: int | None
    status: str | None
    code: str | None
    final: bool
    reason: str | None


class RateLimiter:
    def __init__(self, rate: float | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    return rng.uniform(0, min(cap, base * (2 ** (attempt - 1))))


def classify(http: int, text: bytes) -> Outcome:
    """Turn an HTTP answer into the contract outcome (status, code, final, reason)."""
    outcomes = load_outcomes()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("status"), str) and body["status"] in outcomes.statuses:
        status = body["status"]
        code = str(body.get("code", ""))
        final = bool(outcomes.statuses[status]["final"]) and http not in RETRY_HTTP
        reason = None
        if status in ("not_found", "rejected", "error", "retry"):
            errors = body.get("errors") or []
            details = "; ".join(
                f"{e.get('field') or 'body'}: {e.get('code')}" for e in errors if isinstance(e, dict)
            )
            reason = code + (f" ({details})" if details else "")
        return Outcome(http, status, code, final, reason)
    detail = ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        detail = f" {body[0].get('errorCode', '')}: {body[0].get('message', '')}"
    return Outcome(http, None, None, False, f"HTTP {http} without a contract answer{detail}")


class Progress:
    """A one-line status on stderr: rows/s and the counts, redrawn in place on a terminal."""

    def __init__(self, counts: Counts, lock: threading.Lock, interval: float, out: Any = None) -> None:
        self.counts = counts
        self.lock = lock
        self.interval = interval
        self.out = out or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-progress", daemon=True)

    def line(self) -> str:
        with self.lock:
            c = Counts(**self.counts.as_dict())
        seconds = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{c.sent} rows, {c.sent / seconds:.1f} rows/s | written {c.written}, duplicate {c.duplicate}, "
            f"not_found {c.not_found}, rejected {c.rejected}, retried {c.retried}, failed {c.failed}"
            + (f", skipped {c.skipped}" if c.skipped else "")
        )

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval if self.tty else max(self.interval, 5.0)):
            self._print()

    def _print(self, final: bool = False) -> None:
        try:
            if self.tty:
                self.out.write("\r\x1b[K" + self.line() + ("\n" if final else ""))
            else:
                self.out.write(self.line() + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
            if self.tty:
                self._print(final=True)


class Sender:
    def __init__(self, target: Target | None, options: SendOptions, *, out: Any = None) -> None:
        self.target = target
        self.options = options
        self.counts = Counts()
        self.lock = threading.Lock()
        self.abort = threading.Event()
        self.abort_reason: str | None = None
        self.failures: list[str] = []
        self.limiter = RateLimiter(options.rate)
        self.report: ReportWriter | None = None
        self.out = out

    # -- bookkeeping -------------------------------------------------------------------------
    def _count(self, outcome: Outcome, retries: int) -> None:
        with self.lock:
            self.counts.sent += 1
            self.counts.retried += retries
            if outcome.final and outcome.status in ("written", "duplicate", "not_found", "rejected"):
                setattr(self.counts, outcome.status, getattr(self.counts, outcome.status) + 1)
            elif outcome.final:
                self.counts.other += 1
            else:
                self.counts.failed += 1
                if len(self.failures) < 20:
                    self.failures.append(outcome.reason or "failed")

    def _record(self, row: SourceRow, outcome: Outcome, attempts: int) -> None:
        if self.report is None:
            return
        entry: dict[str, Any] = {
            "file": row.file,
            "line": row.line,
            "rowKey": row.row_key,
            "callId": row.call_key,
            "http": outcome.http,
            "status": outcome.status,
            "code": outcome.code,
            "final": outcome.final,
            "attempts": attempts,
        }
        if outcome.reason:
            entry["reason"] = outcome.reason
        self.report.write(entry)

    def _fatal(self, reason: str) -> None:
        with self.lock:
            if self.abort_reason is None:
                self.abort_reason = reason
        self.abort.set()

    # -- sending -----------------------------------------------------------------------------
    def _post(self, http: requests.Session, row: SourceRow, rng: random.Random) -> tuple[Outcome, int, int]:
        """(outcome, attempts, retries) for one row."""
        assert self.target is not None
        attempts = retries = 0
        renewed = False
        while True:
            attempts += 1
            token = self.target.tokens.current()
            self.limiter.wait()
            try:
                reply = http.post(
                    self.target.url,
                    data=row.body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    timeout=self.options.timeout,
                )
                outcome = classify(reply.status_code, reply.content)
            except requests.RequestException as exc:
                outcome = Outcome(None, None, None, False, f"connection failed: {type(exc).__name__}")
            if outcome.http == 401:
                if renewed:
                    raise AuthError("the endpoint answered 401 (INVALID_SESSION_ID) again after a new token")
                if not self.target.tokens.can_renew:
                    raise AuthError(
                        "the endpoint answered 401 (INVALID_SESSION_ID); the access token cannot be renewed"
                    )
                self.target.tokens.renew(token)
                renewed = True
                continue
            transient = outcome.http is None or outcome.http in RETRY_HTTP
            if not transient:
                return outcome, attempts, retries
            if retries >= self.options.max_retries or self.abort.is_set():
                reason = (
                    f"gave up after {attempts} attempts: {outcome.reason or outcome.code or outcome.http}"
                )
                return Outcome(outcome.http, outcome.status, outcome.code, False, reason), attempts, retries
            retries += 1
            time.sleep(backoff(retries, self.options.backoff_base, self.options.backoff_max, rng))

    def _worker(self, inbox: queue.Queue[Any], seed: int) -> None:
        http = requests.Session()
        http.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        http.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        rng = random.Random(seed)
        try:
            while True:
                row = inbox.get()
                if row is _STOP:
                    return
                if self.abort.is_set():
                    continue  # drain: rows not sent are not reported, so --resume sends them
                try:
                    outcome, attempts, retries = self._post(http, row, rng)
                except AuthError as exc:
                    self._fatal(str(exc))
                    continue
                except Exception as exc:  # a bug must not hang the run: record and go on
                    outcome, attempts, retries = Outcome(None, None, None, False, type(exc).__name__), 1, 0
                try:
                    self._record(row, outcome, attempts)
                except OSError as exc:
                    self._fatal(f"cannot write the report: {exc.strerror or exc}")
                    continue
                self._count(outcome, retries)
        finally:
            http.close()

    def run(self, rows: Iterable[SourceRow], finals: FinalRows | None = None) -> SendResult:
        started = time.monotonic()
        progress = Progress(self.counts, self.lock, self.options.progress_interval, self.out)
        if self.options.dry_run:
            for row in rows:
                with self.lock:
                    if finals is not None and row.identity in finals:
                        self.counts.skipped += 1
                    else:
                        self.counts.parsed += 1
            return SendResult(self.counts, time.monotonic() - started)
        workers = max(1, self.options.concurrency)
        inboxes: list[queue.Queue[Any]] = [queue.Queue(maxsize=QUEUE_DEPTH) for _ in range(workers)]
        threads = [
            threading.Thread(target=self._worker, args=(inbox, index), name=f"send-{index}", daemon=True)
            for index, inbox in enumerate(inboxes)
        ]
        for thread in threads:
            thread.start()
        progress.start()
        interrupted = False
        try:
            for row in rows:
                if self.abort.is_set():
                    break
                if finals is not None and row.identity in finals:
                    with self.lock:
                        self.counts.skipped += 1
                    continue
                index = int.from_bytes(hashlib.blake2b(row.call_key.encode(), digest_size=4).digest(), "big")
                inbox = inboxes[index % workers]
                while not self.abort.is_set():
                    try:
                        inbox.put(row, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except KeyboardInterrupt:
            interrupted = True
            self._fatal("interrupted")
        finally:
            for inbox in inboxes:
                while True:  # workers keep draining, so there is room soon
                    try:
                        inbox.put(_STOP, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            for thread in threads:
                thread.join()
            progress.stop()
        result = SendResult(self.counts, time.monotonic() - started, self.abort_reason, list(self.failures))
        if interrupted:
            raise KeyboardInterrupt
        return result


def check_options(options: SendOptions) -> None:
    """Option mistakes, found before anything is started or sent."""
    if options.resume and options.report is None:
        raise UsageError("--resume needs --report FILE (the report of the run to resume)")
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if options.report is not None and options.report.exists() and not options.resume and not options.dry_run:
        raise UsageError(
            f"report file exists: {options.report}",
            hint="Use --resume to continue that run, or another file.",
        )


def run_send(
    paths: list[Path],
    target: Target | None,
    options: SendOptions,
    *,
    out: Any = None,
    echo: Callable[[str], Any] | None = None,
) -> SendResult:
    """Send every row of ``paths`` to ``target`` (see the module doc); ``target`` None: dry run only."""
    check_options(options)
    if target is None and not options.dry_run:
        raise UsageError("nothing to send to")
    finals = FinalRows.from_report(options.report) if (options.resume and options.report) else None
    if finals is not None and echo is not None:
        echo(f"Resuming: {len(finals)} rows already answered finally in {options.report}")
    sender = Sender(target, options, out=out)
    if options.report is not None and not options.dry_run:
        sender.report = ReportWriter(options.report)
    try:
        return sender.run(read_rows(paths, options.input_format), finals)
    finally:
        if sender.report is not None:
            sender.report.close()
