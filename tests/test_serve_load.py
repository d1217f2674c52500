"""Load and faults of the local endpoint (issue 11 point 2), against the real server on 127.0.0.1.

Each test names the fault it proves handled; most would fail on the server before the fix (connection
leak, listen backlog of 5, no socket timeouts, short bodies processed, loose chunked parsing, 500 on
a lone surrogate, sObject REST without Salesforce's errors, interleaved log lines, a world-readable
database).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import resource
import socket
import stat
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

from conftest import token_for
from jtel_sf.local.server import LocalServer

FILE_LIMIT = 256


# -- a server in its own process, under an open-file limit ---------------------------------------


class ServeProcess:
    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def start_serve(
    tmp_path: Path, *extra: str, limit_files: bool = False, env: dict[str, str] | None = None
) -> ServeProcess:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jtel_sf.cli", "serve", "--port", "0", "--quiet"]  # noqa: RUF005
        + ["--db", str(tmp_path / "db.sqlite"), "--ready-file", str(ready), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
        preexec_fn=_limit_open_files
        if limit_files
        else None,  # the child only: the test process keeps its limit
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("serve did not get ready: " + (proc.communicate()[1] or ""))
        time.sleep(0.05)
    return ServeProcess(proc, json.loads(ready.read_text()))


def stop_serve(server: ServeProcess) -> str:
    server.proc.terminate()
    _out, err = server.proc.communicate(timeout=20)
    return err


def token(info: dict[str, Any]) -> str:
    reply = requests.post(
        info["tokenUrl"],
        data={
            "grant_type": "client_credentials",
            "client_id": info["clientId"],
            "client_secret": info["clientSecret"],
        },
        timeout=10,
        verify=info.get("caPath") or True,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def test_ten_thousand_connection_per_request_posts_under_an_open_file_limit_of_256(tmp_path: Path) -> None:
    """The leak: one SQLite connection per TCP connection, never closed (500s after ~506 at 1024 files)."""
    server = start_serve(tmp_path, limit_files=True)
    try:
        limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
        soft, _hard = map(int, limits.split("Max open files")[1].split()[:2])
        assert soft == FILE_LIMIT
        url = server.info["endpointUrl"]
        host, port = url.split("//")[1].split("/")[0].split(":")
        path = "/" + url.split("//")[1].split("/", 1)[1]
        headers = {"Authorization": "Bearer " + token(server.info), "Content-Type": "application/json"}
        statuses: Counter[int] = Counter()
        codes: Counter[str] = Counter()
        peak_files = [0]
        lock = threading.Lock()

        def worker(first: int, count: int) -> None:
            for n in range(first, first + count):
                conn = http.client.HTTPConnection(host, int(port), timeout=30)  # a new connection each time
                conn.request(
                    "POST", path, body=json.dumps({"jtelStatisticsPartAID": 700000 + n}), headers=headers
                )
                reply = conn.getresponse()
                code = json.loads(reply.read()).get("code", "")
                conn.close()
                with lock:
                    statuses[reply.status] += 1
                    codes[code] += 1
                if n % 500 == 0:
                    files = server.open_files()
                    with lock:
                        peak_files[0] = max(peak_files[0], files)

        threads = [threading.Thread(target=worker, args=(k * 2500, 2500)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == Counter({200: 10000}), statuses
        assert codes == Counter({"ok_no_record": 10000}), codes
        assert peak_files[0] < 64, f"open files grew to {peak_files[0]}"
    finally:
        stop_serve(server)


def test_thirty_two_clients_connecting_at_once_all_get_an_answer(tmp_path: Path) -> None:
    """The backlog: the standard library listens with 5, so a burst overflows before accept runs."""
    server = LocalServer(db_path=tmp_path / "db.sqlite", quiet=True)
    server.bind()  # listening, not accepting yet: every connect must fit in the listen queue
    try:
        sockets = []
        for _ in range(32):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=0.5)  # SYN dropped: 1 s retry
            sockets.append(sock)
        server.start()
        bearer = "Bearer " + token_for(server)
        for n, sock in enumerate(sockets):
            body = json.dumps({"jtelStatisticsPartAID": 800 + n}).encode()
            sock.settimeout(10)
            sock.sendall(head(bearer, f"Content-Length: {len(body)}\r\nConnection: close\r\n") + body)
        answers = [read_all(sock) for sock in sockets]
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), [a[:40] for a in answers]
        assert server.store is not None and server.store.count("JtelCallRow__c") == 32
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- an in-process server with short timeouts -----------------------------------------------------


@pytest.fixture()
def quick(tmp_path: Path) -> Iterator[tuple[LocalServer, str]]:
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True, idle_timeout=0.5) as server:
        yield server, "Bearer " + token_for(server)


def raw_request(server: LocalServer, data: bytes, *, shut_write: bool = False, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def head(bearer: str, extra: str) -> bytes:
    return (
        "POST /services/apexrest/jtelACD/writeCallStatistics HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {bearer}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


ROW = json.dumps({"jtelStatisticsPartAID": 4242, "CallerID": "0301234"}).encode()


def rows(server: LocalServer) -> int:
    assert server.store is not None
    return server.store.count("JtelCallRow__c") + server.store.count("JtelQuarantine__c")


def test_an_idle_connection_is_closed_after_the_timeout(quick: tuple[LocalServer, str]) -> None:
    server, _ = quick
    started = time.monotonic()
    assert raw_request(server, b"") == b""  # nothing sent: the server hangs up, it does not wait forever
    assert time.monotonic() - started < 5


def test_a_partial_body_times_out_and_is_not_processed(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    reply = raw_request(server, head(bearer, f"Content-Length: {len(ROW)}\r\n") + ROW[:10])
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert rows(server) == 0


def test_a_body_shorter_than_its_content_length_is_not_processed(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    reply = raw_request(server, head(bearer, f"Content-Length: {len(ROW) + 5}\r\n") + ROW, shut_write=True)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"shorter than its Content-Length" in reply
    assert rows(server) == 0


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    reply = raw_request(
        server,
        head(bearer, "Transfer-Encoding: chunked\r\nConnection: close\r\n") + chunked(ROW[:7], ROW[7:]),
    )
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"ok_no_record"' in reply
    assert rows(server) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n" + ROW + b"\r\n0\r\n\r\n",  # not hex
        b"-5\r\n" + ROW + b"\r\n0\r\n\r\n",  # negative
        b"0x10\r\n" + ROW + b"\r\n0\r\n\r\n",  # a prefix int(..., 16) would accept
        b"%x\r\n%s" % (len(ROW) - 3, ROW) + b"\r\n0\r\n\r\n",  # data longer than its size
        b"f" * 5000 + b"\r\n",  # an endless size line
    ],
    ids=["not-hex", "negative", "0x-prefix", "data-longer-than-size", "huge-size-line"],
)
def test_a_bad_chunk_is_a_400_and_nothing_is_stored(quick: tuple[LocalServer, str], body: bytes) -> None:
    server, bearer = quick
    reply = raw_request(server, head(bearer, "Transfer-Encoding: chunked\r\n") + body, shut_write=True)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    assert rows(server) == 0


def test_a_chunked_body_that_stops_is_not_processed_and_does_not_block(
    quick: tuple[LocalServer, str],
) -> None:
    server, bearer = quick
    started = time.monotonic()
    reply = raw_request(
        server, head(bearer, "Transfer-Encoding: chunked\r\n") + b"%x\r\n%s" % (len(ROW), ROW[:5])
    )
    assert reply.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started < 5
    reply = raw_request(
        server,
        head(bearer, "Transfer-Encoding: chunked\r\n") + b"%x\r\n%s" % (len(ROW), ROW[:5]),
        shut_write=True,
    )
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert rows(server) == 0


@pytest.mark.parametrize(
    "extra",
    [
        "Content-Length: 12abc\r\n",
        "Content-Length: " + "9" * 5000 + "\r\n",
        "Transfer-Encoding: gzip\r\n",
        f"Transfer-Encoding: chunked\r\nContent-Length: {len(ROW)}\r\n",
    ],
    ids=["not-a-number", "5000-digits", "unknown-coding", "both-framings"],
)
def test_broken_framing_headers_are_a_400(quick: tuple[LocalServer, str], extra: str) -> None:
    server, bearer = quick
    reply = raw_request(server, head(bearer, extra) + ROW, shut_write=True)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    assert rows(server) == 0


# -- bodies the contract answers (never a 500) --------------------------------------------------------


def post(server: LocalServer, bearer: str, body: bytes) -> requests.Response:
    return requests.post(
        server.endpoint_url,
        data=body,
        headers={"Authorization": bearer, "Content-Type": "application/json"},
        timeout=30,
    )


def test_lone_surrogates_are_stored_as_the_org_would_never_a_500(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    single = post(
        server, bearer, b'{"jtelStatisticsPartAID": 51, "CallerID": "a\\ud800b", "AgentUID": "\\udfff"}'
    )
    assert single.status_code == 200 and single.json()["code"] == "ok_no_record", single.text
    batch = post(server, bearer, b'[{"jtelStatisticsPartAID": 52, "CallerID": "\\udc00"}, {"x": "\\ud800"}]')
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["httpStatus"] for r in results] == [200, 409]
    # resent: the same row key (Apex's Blob.valueOf turns a lone surrogate into "?"), so a duplicate
    again = post(
        server, bearer, b'{"jtelStatisticsPartAID": 51, "CallerID": "a\\ud800b", "AgentUID": "\\udfff"}'
    )
    assert again.json()["status"] == "duplicate", again.text
    page = requests.get(server.base_url + "/", timeout=10)  # the status page shows the stored text
    assert page.status_code == 200 and 'data-call="51"' in page.text and "<td>?</td>" in page.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"jtelStatisticsPartAID": 53, "nDuration": ' + b"9" * 5000 + b"}",
        b'{"jtelStatisticsPartAID": 54, "nDuration": "' + b"9" * 5000 + b'"}',
        b'{"jtelStatisticsPartAID": 55, "CallerID": ' + b"9" * 5000 + b"}",
        b'{"jtelStatisticsPartAID": 56, "nDuration": 1' + b"0" * 5000 + b"e-5000}",
        b'[{"jtelStatisticsPartAID": ' + b"1" * 5000 + b"}]",
    ],
)
def test_huge_digit_strings_are_answered_by_the_contract(quick: tuple[LocalServer, str], body: bytes) -> None:
    server, bearer = quick
    reply = post(server, bearer, body)
    assert reply.status_code in (200, 409), reply.text[:300]
    assert reply.json()["status"] in ("written", "rejected", "batch")


# -- sObject REST answers as Salesforce does ------------------------------------------------------


def sobject(server: LocalServer, bearer: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{server.base_url}/services/data/v61.0/sobjects/{path}",
        json=body,
        headers={"Authorization": bearer},
        timeout=10,
    )


def test_a_second_record_with_the_same_external_id_is_duplicate_value(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    first = sobject(server, bearer, "POST", "JtelCall__c", {"Name": "9", "CallKey__c": "9"})
    assert first.status_code == 201
    second = sobject(server, bearer, "POST", "JtelCall__c", {"Name": "9", "CallKey__c": "9"})
    assert second.status_code == 400
    assert (
        second.json()[0]["errorCode"] == "DUPLICATE_VALUE"
        and first.json()["id"] in second.json()[0]["message"]
    )
    other = sobject(server, bearer, "POST", "JtelCall__c", {"Name": "10", "CallKey__c": "10"}).json()["id"]
    patched = sobject(server, bearer, "PATCH", f"JtelCall__c/{other}", {"CallKey__c": "9"})
    assert patched.status_code == 400 and patched.json()[0]["errorCode"] == "DUPLICATE_VALUE"


def test_the_running_user_cannot_be_deleted(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    assert server.store is not None
    user = server.store.running_user_id
    reply = sobject(server, bearer, "DELETE", f"User/{user}")
    assert reply.status_code == 405 and reply.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    assert sobject(server, bearer, "GET", f"User/{user}").status_code == 200
    assert (
        requests.post(
            server.endpoint_url, json={"jtelStatisticsPartAID": 1}, headers={"Authorization": bearer}
        ).status_code
        == 200
    )


def test_a_client_cannot_choose_an_id(quick: tuple[LocalServer, str]) -> None:
    server, bearer = quick
    reply = sobject(server, bearer, "POST", "Account", {"Name": "A", "Id": "001000000000001AAA"})
    assert reply.status_code == 400 and reply.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert server.store is not None and server.store.count("Account") == 0


# -- the log, the database file, the bind address ----------------------------------------------------


class WriteRecorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.writes.append(text)
        time.sleep(0)  # let another thread in between writes, as a real file would
        return len(text)


def test_log_lines_are_written_whole_and_escaped(tmp_path: Path) -> None:
    log = WriteRecorder()
    with LocalServer(db_path=tmp_path / "db.sqlite", log=log) as server:
        bearer = "Bearer " + token_for(server)

        def worker(n: int) -> None:
            for k in range(20):
                post(server, bearer, json.dumps({"jtelStatisticsPartAID": n * 100 + k}).encode())

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        raw_request(server, b"GET /x\x1b[31mred\xc3\xa9\\ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in log.writes), [
        w for w in log.writes if w.count("\n") != 1
    ][:3]
    posts = [w for w in log.writes if w.startswith("POST /services/apexrest/")]
    assert len(posts) == 160
    odd = [w for w in log.writes if w.startswith("GET /x")]
    assert (
        odd == ["GET /x\\x1b[31mred\\xc3\\xa9\\\\ 404 NOT_FOUND " + odd[0].rsplit(" ", 1)[1]]
        if odd
        else False
    )
    assert all("\x1b" not in w for w in log.writes)


def test_the_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        with LocalServer(db_path=tmp_path / "data" / "db.sqlite", quiet=True) as server:
            post(server, "Bearer " + token_for(server), ROW)
            files = [tmp_path / "data" / name for name in ("db.sqlite", "db.sqlite-wal", "db.sqlite-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        os.umask(previous)
    assert modes == {"db.sqlite": 0o600, "db.sqlite-wal": 0o600, "db.sqlite-shm": 0o600}


def test_binding_to_anything_but_loopback_warns(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--host", "0.0.0.0")
    err = stop_serve(server)
    assert "WARNING:" in err and "not loopback" in err
    server = start_serve(tmp_path / "b")
    assert "WARNING" not in stop_serve(server)


def test_the_ready_file_is_private_and_names_everything_a_client_needs(tmp_path: Path) -> None:
    server = start_serve(tmp_path)
    try:
        ready = tmp_path / "ready.json"
        assert stat.S_IMODE(ready.stat().st_mode) == 0o600
        info = server.info
        assert set(info) >= {"baseUrl", "tokenUrl", "clientId", "clientSecret", "caPath", "endpointUrl"}
        assert info["caPath"] is None
        reply = requests.post(
            info["endpointUrl"],
            json={"jtelStatisticsPartAID": 1},
            headers={"Authorization": "Bearer " + token(info)},
        )
        assert reply.json()["code"] == "ok_no_record"
    finally:
        stop_serve(server)
    assert not ready.exists()  # removed on stop: a watcher never reads a dead server's file


def test_credentials_from_environment_variables(tmp_path: Path) -> None:
    creds = {"JTEL_SF_LOCAL_CLIENT_ID": "jtel-from-env", "JTEL_SF_LOCAL_CLIENT_SECRET": "s3cret-from-env"}
    server = start_serve(tmp_path, env=creds)
    try:
        assert (server.info["clientId"], server.info["clientSecret"]) == ("jtel-from-env", "s3cret-from-env")
        assert token(server.info)
    finally:
        err = stop_serve(server)
    assert "s3cret-from-env" not in err  # a given secret is never printed


def test_connections_beyond_the_cap_get_the_retry_answer(tmp_path: Path) -> None:
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True, max_connections=2) as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)  # both accepted and waiting for a request
            reply = raw_request(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in reply
            assert b'"code": "busy"' in reply
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert requests.get(server.base_url + "/services/data/", timeout=5).status_code == 200
