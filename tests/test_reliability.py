"""Reliability of the local endpoint and send, against the real server on 127.0.0.1.

- the same rows sent concurrently from several threads are stored once;
- malformed bodies (hand-written and generated) never get a 500 or a traceback and store nothing
  but the quarantine record;
- a send run killed with SIGKILL halfway and resumed stores every row exactly once.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import five_rows, token_for
from jtel_sf.contract import load_fields
from jtel_sf.local.server import LocalServer
from jtel_sf.send.report import FinalRows
from jtel_sf.send.source import read_rows

DATA_TYPES = ("JtelCall__c", "JtelCallRow__c", "Task")


def bearer(server: LocalServer) -> dict[str, str]:
    return {"Authorization": "Bearer " + token_for(server)}


# -- concurrency -----------------------------------------------------------------------------------


def test_same_rows_from_several_threads_are_stored_once(tmp_path: Path) -> None:
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True) as server:
        headers = bearer(server)
        contact = requests.post(
            f"{server.base_url}/services/data/v61.0/sobjects/Contact", json={"LastName": "C"}, headers=headers
        ).json()["id"]
        calls = [9100 + n for n in range(4)]
        bodies = [json.dumps(row).encode() for call in calls for row in five_rows(call, contact)]
        answers: list[tuple[int, str, str | None]] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def worker(seed: int) -> None:
            http = requests.Session()
            order = bodies[seed % len(bodies) :] + bodies[: seed % len(bodies)]  # each thread its own order
            start.wait()
            for body in order:
                reply = http.post(
                    server.endpoint_url, data=body, headers={**headers, "Content-Type": "application/json"}
                )
                with lock:
                    answers.append((reply.status_code, reply.json()["status"], reply.json().get("rowKey")))

        threads = [threading.Thread(target=worker, args=(n * 3,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store = server.store
        assert store is not None
        assert len(answers) == 8 * len(bodies)
        assert {status for _, status, _ in answers} <= {"written", "duplicate", "retry"}
        written = Counter(key for _, status, key in answers if status == "written")
        assert len(written) == len(bodies) and set(written.values()) == {1}  # each row written exactly once
        assert store.count("JtelCallRow__c") == len(bodies)
        assert store.count("JtelCall__c") == len(calls)
        assert store.count("Task") == len(calls)
        for call in store.all("JtelCall__c"):
            assert call["RowCount__c"] == 5 and call["TaskId__c"]
        assert store.count("JtelQuarantine__c") == 0


# -- malformed bodies -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalServer, dict[str, str], io.StringIO]]:
    log = io.StringIO()
    with LocalServer(db_path=tmp_path_factory.mktemp("corpus") / "db.sqlite", log=log) as server:
        yield server, bearer(server), log


def post_raw(
    server: LocalServer, headers: dict[str, str], body: bytes, content_type: str | None
) -> requests.Response:
    extra = {} if content_type is None else {"Content-Type": content_type}
    return requests.post(server.endpoint_url, data=body, headers={**headers, **extra}, timeout=60)


def assert_rejected_cleanly(reply: requests.Response) -> None:
    assert reply.status_code not in (500, 503), reply.text[:300]
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    body = reply.json()
    assert reply.status_code == 409, body
    assert body["status"] == "rejected" and body["code"] == "invalid_payload"
    assert body["errors"] and all(set(e) == {"field", "code", "message"} for e in body["errors"])


def nested(depth: int) -> bytes:
    return b'{"jtelStatisticsPartAID": ' + b"[" * depth + b"]" * depth + b"}"


HAND_WRITTEN: list[tuple[bytes, str | None]] = [
    (b"", "application/json"),
    (b"   \n", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b"jtelStatisticsPartAID=1&CONNRES=1", "application/x-www-form-urlencoded"),
    (b'{"jtelStatisticsPartAID": 1', "application/json"),
    (b'{"jtelStatisticsPartAID": NaN}', "application/json"),
    (b'{"jtelStatisticsPartAID": "1", "CallerID": "\xff\xfe"}', "application/json"),
    (b"\xef\xbb\xbf\xff", "text/plain"),
    (b'{"jtelStatisticsPartAID": true}', "text/plain"),
    (b'{"jtelStatisticsPartAID": 1, "AgentUID": "' + b"x" * 300_000 + b'"}', "application/json"),
    (b'{"jtelStatisticsPartAID": "' + b"9" * 100_000 + b'"}', "application/json"),
    (b'{"jtelStatisticsPartAID": ' + b"9" * 20_000 + b"}", "application/json"),
    (b'{"jtelStatisticsPartAID": 1e999999999}', "application/json"),
    (nested(50), "application/json"),
    (nested(100_000), "application/json"),
    (b"[" * 200_000, "application/json"),
    (b"<xml/>", "application/xml"),
    (b'{"jtelStatisticsPartAID": 1, "dtCallStart": "2026-02-30T10:00:00"}', None),
    (b'[1, "a", null]', "application/json"),
]


def test_hand_written_malformed_bodies(
    corpus_server: tuple[LocalServer, dict[str, str], io.StringIO],
) -> None:
    server, headers, log = corpus_server
    store = server.store
    assert store is not None
    before = store.count("JtelQuarantine__c")
    for body, content_type in HAND_WRITTEN:
        reply = post_raw(server, headers, body, content_type)
        if body.startswith(b"[1,"):
            assert reply.status_code == 200
            results = reply.json()["results"]
            assert [r["httpStatus"] for r in results] == [409, 409, 409]
            assert {e["code"] for r in results for e in r["body"]["errors"]} == {"wrong_type"}
            continue
        assert_rejected_cleanly(reply)
    assert all(store.count(t) == 0 for t in DATA_TYPES)
    # One quarantine record per distinct body; the batch's elements count alone ("null" twice).
    distinct = {body for body, _ in HAND_WRITTEN if not body.startswith(b"[1,")} | {b"1", b'"a"', b"null"}
    assert store.count("JtelQuarantine__c") - before == len(distinct)
    assert "Traceback" not in log.getvalue()
    assert " 500 " not in log.getvalue()


FIELDS = [s.name for s in load_fields()]
bad_values = st.one_of(
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.text(min_size=256, max_size=2000),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    st.integers(min_value=10**19, max_value=10**30),
    st.text(alphabet="abc:-T ", min_size=1, max_size=12),
)
any_values = st.one_of(st.none(), st.integers(), st.text(max_size=30), bad_values)


@st.composite
def broken_bodies(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """An object with at least one broken field (so it can never be a valid row), or raw junk."""
    kind = draw(st.sampled_from(["fields", "missing_id", "junk_bytes", "nested"]))
    content_type = draw(st.sampled_from([None, "application/json", "text/plain", "application/octet-stream"]))
    if kind == "junk_bytes":
        body = draw(st.binary(min_size=1, max_size=200)).replace(b"{", b"").replace(b"[", b"")
        if (
            not body.strip()
            or body.strip().lstrip(b"-").isdigit()
            or body.strip() in (b"true", b"false", b"null")
        ):
            body = b"\xff" + body
        return body, content_type
    if kind == "nested":
        return nested(draw(st.integers(min_value=1, max_value=3000))), content_type
    obj: dict[str, Any] = draw(st.dictionaries(st.sampled_from(FIELDS), any_values, max_size=8))
    if kind == "missing_id":
        obj.pop("jtelStatisticsPartAID", None)
    else:
        obj[draw(st.sampled_from(FIELDS))] = draw(bad_values)
    return json.dumps(obj).encode(), content_type


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_bodies())
def test_generated_malformed_bodies(
    corpus_server: tuple[LocalServer, dict[str, str], io.StringIO], case: tuple[bytes, str | None]
) -> None:
    server, headers, log = corpus_server
    body, content_type = case
    reply = post_raw(server, headers, body, content_type)
    if reply.status_code == 409:
        assert_rejected_cleanly(reply)
    else:  # a text value that happens to pass every rule is a valid row: never expected here
        pytest.fail(f"a broken body was accepted: {reply.status_code} {body[:200]!r}")
    store = server.store
    assert store is not None
    assert all(store.count(t) == 0 for t in DATA_TYPES)
    assert "Traceback" not in log.getvalue()


# -- kill and resume ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("batch_size", "calls"), [("1", 120), ("20", 300)])
def test_send_killed_with_sigkill_and_resumed_stores_every_row_once(
    tmp_path: Path, batch_size: str, calls: int
) -> None:
    path = tmp_path / "rows.jsonl"
    with path.open("w") as handle:
        for call in range(calls):
            for row in five_rows(300_000 + call):
                handle.write(json.dumps(row) + "\n")
    expected = {row.row_key for row in read_rows([path])}
    assert len(expected) == calls * 5
    report = tmp_path / "report.jsonl"
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True) as server:
        command = [
            sys.executable,
            "-m",
            "jtel_sf.cli",
            "send",
            str(path),
            "--url",
            server.endpoint_url,
            "--client-id",
            server.client_id,
            "--client-secret",
            server.client_secret,
            "--report",
            str(report),
            "--concurrency",
            "4",
            "--batch-size",
            batch_size,
            "--no-progress",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if report.exists() and report.read_bytes().count(b"\n") >= calls * 5 // 3:
                break
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL, "the first run ended before it could be killed"
        done_before = len(FinalRows.from_report(report))
        assert 0 < done_before < calls * 5
        second = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 0, second.stderr
        store = server.store
        assert store is not None
        stored = [row["RowKey__c"] for row in store.all("JtelCallRow__c")]
        assert len(stored) == len(set(stored)) == calls * 5
        assert set(stored) == expected
        assert store.count("JtelCall__c") == calls
        assert all(call["RowCount__c"] == 5 for call in store.all("JtelCall__c"))
    finals = FinalRows.from_report(report)
    assert all(row.identity in finals for row in read_rows([path]))
    assert f"{done_before} rows already answered finally" in second.stderr
