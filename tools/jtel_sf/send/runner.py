"""The replay loop: route each call to one worker, post rows alone or in batches, retry, report.

Rows of one call (same jtelStatisticsPartAID) always go to the same worker, which sends its
batches one after the other, so the rows of a call arrive in file order: in the same batch in
order, or in successive batches. Different calls run in parallel. Queues are bounded, so memory
stays flat whatever the input size.

A batch is a JSON array of up to ``batch_size`` rows (the endpoint takes up to 200, outcomes.json
``maxBatchSize``); its answer has one result per element (docs/contract.md "Answers"), which is
mapped back to the element's input line. Elements answered finally (written, duplicate,
not_found, rejected) are reported at once; elements answered ``retry`` (or ``error``) are sent
again, alone in a smaller batch, and a whole batch answered with a retry status (503, 500, 423)
or lost to a connection failure is sent again, always with exponential backoff and full jitter up
to ``max_retries`` rounds. A 413 halves the batch (the halves go in order). A 401 gets a new token
once. With ``batch_size`` 1 every row is its own request with a plain JSON object, as jtel's
daemon sends it.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from jtel_sf.contract import load_outcomes
from jtel_sf.errors import AuthError

from .contract import UNREADABLE
from .report import FinalRows, ReportWriter
from .source import SourceRow
from .target import Target

RETRY_HTTP = (500, 503, 423)
QUEUE_DEPTH = 64  # rows waiting per worker
DEFAULT_BATCH_SIZE = 200
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
    progress: bool | None = None  # None: on a terminal only
    progress_interval: float = 1.0
    batch_size: int = DEFAULT_BATCH_SIZE
    send_invalid: bool = False
    max_api_share: float = 50.0  # percent of the org's remaining daily API requests


@dataclass
class Counts:
    sent: int = 0  # rows with an answer (final or not) reported
    written: int = 0
    duplicate: int = 0
    not_found: int = 0
    rejected: int = 0
    retried: int = 0  # row re-sends
    failed: int = 0  # rows without a final answer
    skipped: int = 0  # rows already final in the report (--resume)
    other: int = 0  # final answers outside the four row statuses (e.g. a line that was an array)
    requests: int = 0  # HTTP requests to the endpoint
    batches: int = 0  # of those, JSON arrays
    halved: int = 0  # batches split in two after a 413

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
    """At most ``rate`` rows a second over all workers; a batch takes as many slots as it has rows."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, rows: int = 1) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval * rows
        if slot > now:
            time.sleep(slot - now)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    return rng.uniform(0, min(cap, base * (2 ** (attempt - 1))))


def classify_answer(http: int, body: Any) -> Outcome:
    """Turn an HTTP status and its decoded JSON body into the contract outcome."""
    outcomes = load_outcomes()
    if isinstance(body, dict) and isinstance(body.get("status"), str) and body["status"] in outcomes.statuses:
        status = body["status"]
        code = str(body.get("code", ""))
        final = bool(outcomes.statuses[status]["final"]) and http not in RETRY_HTTP
        reason = None
        if status in ("not_found", "rejected", "error", "retry", "too_large"):
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


def decode(text: bytes) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def classify(http: int, text: bytes) -> Outcome:
    """Turn an HTTP answer (status and raw body) into the contract outcome."""
    return classify_answer(http, decode(text))


def worker_of(call_key: str, workers: int) -> int:
    """The worker of a call: the same for every row of the call, spread evenly over the workers."""
    return int.from_bytes(hashlib.blake2b(call_key.encode(), digest_size=4).digest(), "big") % workers


@dataclass
class Item:
    """A row on its way: how often it was in a request and how often that was a re-send."""

    row: SourceRow
    attempts: int = 0
    retries: int = 0


@dataclass
class Group:
    """Rows sent in one request: ``array`` False means one row as a plain JSON object."""

    items: list[Item]
    array: bool


@dataclass
class Reply:
    http: int | None
    whole: Outcome  # the answer to the request as a whole
    elements: list[Outcome] | None = None  # a batch answer: one outcome per element, in order


class Sender:
    def __init__(
        self,
        target: Target | None,
        options: SendOptions,
        *,
        out: Any = None,
        on_reply: Callable[[requests.Response], None] | None = None,
        before_request: Callable[[], None] | None = None,
    ) -> None:
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
        self.on_reply = on_reply
        self.before_request = before_request
        self.started = time.monotonic()

    # -- bookkeeping -------------------------------------------------------------------------
    def _finish(self, done: list[tuple[Item, Outcome]], batch: int | None) -> None:
        """Report and count rows whose answer is known (final, or given up)."""
        if not done:
            return
        if self.report is not None:
            entries = []
            for item, outcome in done:
                row = item.row
                entry: dict[str, Any] = {
                    "file": row.file,
                    "line": row.line,
                    "rowKey": row.row_key,
                    "callId": row.call_key,
                    "http": outcome.http,
                    "status": outcome.status,
                    "code": outcome.code,
                    "final": outcome.final,
                    "attempts": item.attempts,
                }
                if batch is not None:
                    entry["batch"] = batch
                if outcome.reason:
                    entry["reason"] = outcome.reason
                entries.append(entry)
            try:
                self.report.write_many(entries)
            except OSError as exc:
                self._fatal(f"cannot write the report: {exc.strerror or exc}")
                return
        with self.lock:
            for item, outcome in done:
                self.counts.sent += 1
                self.counts.retried += item.retries
                if outcome.final and outcome.status in ("written", "duplicate", "not_found", "rejected"):
                    setattr(self.counts, outcome.status, getattr(self.counts, outcome.status) + 1)
                elif outcome.final:
                    self.counts.other += 1
                else:
                    self.counts.failed += 1
                    if len(self.failures) < 20:
                        where = f"line {item.row.line}: " if item.row.line else ""
                        self.failures.append(where + (outcome.reason or "failed"))

    def _fatal(self, reason: str) -> None:
        with self.lock:
            if self.abort_reason is None:
                self.abort_reason = reason
        self.abort.set()

    def stop(self, reason: str) -> None:
        """Stop sending (the budget hook uses it): rows not answered yet are left for --resume."""
        self._fatal(reason)

    # -- one request -------------------------------------------------------------------------
    def _request(self, http: requests.Session, group: Group) -> Reply:
        assert self.target is not None
        if group.array:
            data = b"[" + b",".join(item.row.body for item in group.items) + b"]"
        else:
            data = group.items[0].row.body
        renewed = False
        while True:
            if self.before_request is not None:
                self.before_request()
            if self.abort.is_set():
                return Reply(None, Outcome(None, None, None, False, self.abort_reason or "stopped"))
            token = self.target.tokens.current()
            self.limiter.wait(len(group.items))
            for item in group.items:
                item.attempts += 1
            with self.lock:
                self.counts.requests += 1
                if group.array:
                    self.counts.batches += 1
            try:
                reply = http.post(
                    self.target.url,
                    data=data,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    timeout=self.options.timeout,
                )
            except requests.RequestException as exc:
                return Reply(
                    None, Outcome(None, None, None, False, f"connection failed: {type(exc).__name__}")
                )
            if self.on_reply is not None:
                self.on_reply(reply)
            if reply.status_code == 401:
                if renewed:
                    raise AuthError("the endpoint answered 401 (INVALID_SESSION_ID) again after a new token")
                if not self.target.tokens.can_renew:
                    raise AuthError(
                        "the endpoint answered 401 (INVALID_SESSION_ID); the access token cannot be renewed"
                    )
                self.target.tokens.renew(token)
                renewed = True
                for item in group.items:
                    item.attempts -= 1  # the platform refused the token; the rows were not read
                continue
            body = decode(reply.content)
            whole = classify_answer(reply.status_code, body)
            if group.array and whole.status == "batch" and whole.final:
                results = body.get("results") if isinstance(body, dict) else None
                if isinstance(results, list) and len(results) == len(group.items):
                    elements = []
                    for result in results:
                        if isinstance(result, dict) and isinstance(result.get("httpStatus"), int):
                            elements.append(classify_answer(result["httpStatus"], result.get("body")))
                        else:
                            elements.append(
                                Outcome(None, None, None, False, "a batch result without httpStatus")
                            )
                    return Reply(reply.status_code, whole, elements)
                count = len(results) if isinstance(results, list) else 0
                return Reply(
                    reply.status_code,
                    Outcome(
                        reply.status_code,
                        None,
                        None,
                        False,
                        f"a batch answer with {count} results for {len(group.items)} rows",
                    ),
                )
            return Reply(reply.status_code, whole)

    # -- one group, with retries and halving -------------------------------------------------
    def _deliver(self, http: requests.Session, first: Group, rng: random.Random, batch: int) -> None:
        work: deque[Group] = deque([first])
        while work:
            group = work.popleft()
            rounds = 0
            while group.items:
                if self.abort.is_set():
                    return  # not reported: --resume sends these rows again
                reply = self._request(http, group)
                if self.abort.is_set() and reply.http is None:
                    return
                if reply.http == 413 and group.array and len(group.items) > 1:
                    half = len(group.items) // 2
                    work.appendleft(Group(group.items[half:], True))
                    work.appendleft(Group(group.items[:half], True))
                    with self.lock:
                        self.counts.halved += 1
                    break
                if reply.elements is not None:
                    done = []
                    again = []
                    for item, outcome in zip(group.items, reply.elements, strict=True):
                        if outcome.final:
                            done.append((item, outcome))
                        elif outcome.http is None or outcome.http in RETRY_HTTP:
                            again.append((item, outcome))
                        else:
                            done.append((item, outcome))  # not final and not transient: give up at once
                    self._finish(done, batch)
                    pending = again
                else:
                    transient = reply.http is None or reply.http in RETRY_HTTP
                    if not transient:
                        self._finish([(item, reply.whole) for item in group.items], batch)
                        break
                    pending = [(item, reply.whole) for item in group.items]
                if not pending:
                    break
                if rounds >= self.options.max_retries or self.abort.is_set():
                    given_up = []
                    for item, outcome in pending:
                        reason = (
                            f"gave up after {item.attempts} attempts: "
                            f"{outcome.reason or outcome.code or outcome.http}"
                        )
                        given_up.append(
                            (item, Outcome(outcome.http, outcome.status, outcome.code, False, reason))
                        )
                    if not self.abort.is_set():
                        self._finish(given_up, batch)
                    break
                rounds += 1
                for item, _ in pending:
                    item.retries += 1
                group = Group([item for item, _ in pending], group.array)
                time.sleep(backoff(rounds, self.options.backoff_base, self.options.backoff_max, rng))

    def _worker(self, inbox: queue.Queue[Any], seed: int) -> None:
        http = requests.Session()
        http.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        http.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        rng = random.Random(seed)
        sequence = 0
        try:
            while True:
                group = inbox.get()
                if group is _STOP:
                    return
                if self.abort.is_set():
                    continue  # drain: rows not sent are not reported, so --resume sends them
                sequence += 1
                try:
                    self._deliver(http, group, rng, seed * 1_000_000_000 + sequence)
                except AuthError as exc:
                    self._fatal(str(exc))
                except Exception as exc:  # a bug must not hang the run: record and go on
                    outcome = Outcome(None, None, None, False, type(exc).__name__)
                    self._finish([(item, outcome) for item in group.items], None)
        finally:
            http.close()

    # -- the run -----------------------------------------------------------------------------
    def run(self, rows: Iterable[SourceRow], finals: FinalRows | None = None) -> SendResult:
        """Send ``rows`` (already checked; the caller decides which kinds may go)."""
        self.started = time.monotonic()
        workers = max(1, self.options.concurrency)
        size = max(1, self.options.batch_size)
        depth = max(2, QUEUE_DEPTH // size)
        inboxes: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in range(workers)]
        threads = [
            threading.Thread(target=self._worker, args=(inbox, index), name=f"send-{index}", daemon=True)
            for index, inbox in enumerate(inboxes)
        ]
        for thread in threads:
            thread.start()
        pending: list[list[Item]] = [[] for _ in range(workers)]
        interrupted = False

        def put(index: int, group: Group) -> None:
            while not self.abort.is_set():
                try:
                    inboxes[index].put(group, timeout=0.2)
                    return
                except queue.Full:
                    continue

        try:
            for row in rows:
                if self.abort.is_set():
                    break
                if finals is not None and row.identity in finals:
                    with self.lock:
                        self.counts.skipped += 1
                    continue
                index = worker_of(row.call_key, workers)
                if size == 1 or row.kind == UNREADABLE:  # an unreadable line can only go alone, as it is
                    put(index, Group([Item(row)], False))
                    continue
                pending[index].append(Item(row))
                if len(pending[index]) >= size:
                    put(index, Group(pending[index], True))
                    pending[index] = []
            for index, items in enumerate(pending):
                if items:
                    put(index, Group(items, True))
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
        result = SendResult(
            self.counts, time.monotonic() - self.started, self.abort_reason, list(self.failures)
        )
        if interrupted:
            raise KeyboardInterrupt
        return result


def plan_requests(rows_per_worker: list[int], batch_size: int) -> int:
    """Requests a run makes without retries: per worker, its rows in batches of ``batch_size``."""
    return sum(-(-rows // batch_size) for rows in rows_per_worker)
