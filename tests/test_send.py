"""jtel-sf send: reading, routing, retries, token renewal, report and resume (servers on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import five_rows, run_cli
from jtel_sf.contract import load_cases
from jtel_sf.engine import parse_body
from jtel_sf.local.server import LocalServer
from jtel_sf.send.report import FinalRows, ReportWriter
from jtel_sf.send.runner import backoff, classify
from jtel_sf.send.source import read_rows


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@dataclass
class Ran:
    exit_code: int
    out: str  # stdout (the --json document)
    err: str  # stderr (summary, messages)

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture()
def invoke(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``jtel-sf send ARGS`` through the real entry point (cli.main, the error edge included)."""

    def run(*args: str) -> Ran:
        return Ran(*run_cli(["send", *args], capsys))

    return run


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class OrgLimits:
    """The fake org's daily API requests (see Stub)."""

    max: int
    used: int = 0
    step: int = 1  # calls the org uses per request the stub answers (ours, plus others' when > 1)
    status: int = 200  # of GET /limits: 403 = the user lacks View Setup and Configuration
    header: bool = True  # send Sforce-Limit-Info


# -- a scriptable stub endpoint ------------------------------------------------------------------


class Stub:
    """An endpoint built from docs/contract.md ("Answers"), not recorded from Salesforce: the answer
    for each row is decided by ``decide(row, token, count)``; a JSON array gets the contract's batch
    answer with one result per element (``{"index", "httpStatus", "body"}``), unless
    ``decide_request(array, token)`` answers the whole request (a 413 or 503, say).

    With ``org=OrgLimits(...)`` it also plays the org's API budget, built from the REST API
    Developer Guide ("List Org Limits": ``GET /services/data/vXX.X/limits`` with
    ``DailyApiRequests {Max, Remaining}``; "Limit Info Header": ``Sforce-Limit-Info:
    api-usage=USED/MAX`` on every answer), not recorded from Salesforce. Without it, GET answers
    404 (no /limits: not an org)."""

    def __init__(
        self,
        decide: Callable[[dict[str, Any], str, int], tuple[int, Any]],
        decide_request: Callable[[list[Any], str], tuple[int, Any] | None] | None = None,
        org: OrgLimits | None = None,
    ) -> None:
        self.decide = decide
        self.decide_request = decide_request
        self.org = org
        self.limits_reads = 0
        self.received: list[tuple[str, dict[str, Any]]] = []  # every row that reached decide()
        self.requests: list[Any] = []  # every endpoint request body (object or array)
        self.tokens_issued = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def one(self, parsed: Any, token: str) -> tuple[int, Any]:
                if not isinstance(parsed, dict):
                    return 409, {"status": "rejected", "code": "invalid_payload"}
                with stub.lock:
                    stub.received.append((token, parsed))
                    count = sum(1 for _, b in stub.received if b == parsed)
                return stub.decide(parsed, token, count)

            def reply(self, status: int, reply: Any) -> None:
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                org = stub.org
                if org is not None and org.header:
                    with stub.lock:
                        org.used += org.step  # each request costs the org calls (step > 1: others use it too)
                        header = f"api-usage={org.used}/{org.max}; api-bursts=0/750"
                    self.send_header("Sforce-Limit-Info", header)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                org = stub.org
                if org is None or not self.path.startswith("/services/data/v61.0/limits"):
                    self.reply(
                        404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
                    )
                    return
                with stub.lock:
                    stub.limits_reads += 1
                if org.status != 200:
                    self.reply(org.status, [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no View Setup"}])
                    return
                remaining = max(org.max - org.used, 0)
                self.reply(
                    200,
                    {
                        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                        "DailyApiRequests": {"Max": org.max, "Remaining": remaining},
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/services/oauth2/token":
                    with stub.lock:
                        stub.tokens_issued += 1
                        status, reply = (
                            200,
                            {"access_token": f"token-{stub.tokens_issued}", "token_type": "Bearer"},
                        )
                else:
                    token = (self.headers.get("Authorization") or "").split(" ")[-1]
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        parsed = None
                    with stub.lock:
                        stub.requests.append(parsed)
                    whole = stub.decide_request(parsed, token) if stub.decide_request else None
                    if whole is not None:
                        status, reply = whole
                    elif isinstance(parsed, list):
                        results = []
                        for index, element in enumerate(parsed):
                            http, answer = self.one(element, token)
                            if http == 401:
                                status, reply = http, answer
                                break
                            results.append({"index": index, "httpStatus": http, "body": answer})
                        else:
                            status = 200
                            reply = {"status": "batch", "code": "batch_processed", "results": results}
                    else:
                        status, reply = self.one(parsed, token)
                self.reply(status, reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + "/services/apexrest/jtelACD/writeCallStatistics"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def written(body: dict[str, Any]) -> tuple[int, Any]:
    return 200, {
        "status": "written",
        "code": "ok_no_record",
        "callId": str(body.get("jtelStatisticsPartAID")),
    }


@pytest.fixture()
def stub_factory() -> Iterator[Callable[..., Stub]]:
    stubs: list[Stub] = []

    def make(
        decide: Callable[[dict[str, Any], str, int], tuple[int, Any]],
        decide_request: Callable[[list[Any], str], tuple[int, Any] | None] | None = None,
        org: OrgLimits | None = None,
    ) -> Stub:
        stubs.append(Stub(decide, decide_request, org))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


# -- unit ------------------------------------------------------------------------------------------


def test_classify_contract_and_other_answers() -> None:
    ok = classify(200, b'{"status":"written","code":"ok"}')
    assert (ok.status, ok.code, ok.final) == ("written", "ok", True)
    gone = classify(404, b'{"status":"not_found","code":"record_not_found"}')
    assert gone.final and gone.reason == "record_not_found"
    bad = classify(
        409,
        b'{"status":"rejected","code":"invalid_payload","errors":[{"field":"Cause","code":"out_of_range"}]}',
    )
    assert bad.final and bad.reason == "invalid_payload (Cause: out_of_range)"
    retry = classify(503, b'{"status":"retry","code":"busy"}')
    assert not retry.final
    platform = classify(404, b'[{"errorCode":"NOT_FOUND","message":"Could not find a match for URL"}]')
    assert not platform.final and "NOT_FOUND" in (platform.reason or "")
    assert not classify(500, b"<html>").final


def test_backoff_is_jittered_exponential_and_capped() -> None:
    import random

    rng = random.Random(1)
    for attempt in range(1, 12):
        delays = [backoff(attempt, 0.5, 30.0, rng) for _ in range(50)]
        assert all(0 <= d <= min(30.0, 0.5 * 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 1


def test_jsonl_rows_keep_line_numbers_and_skip_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}, "", "not json", {"jtelStatisticsPartAID": "01"}]
    )
    rows = list(read_rows([path]))
    assert [r.line for r in rows] == [1, 3, 4]
    assert (
        rows[0].row_key == rows[2].row_key == parse_body(b'{"jtelStatisticsPartAID": 1}').elements[0].row_key
    )  # type: ignore[union-attr]
    assert rows[1].row_key.startswith("body:") and rows[0].call_key == "1"
    assert rows[0].file == str(path.resolve())


def test_csv_rows_become_json_objects_with_the_same_row_key(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "jtelStatisticsPartAID,CONNRES,Cause,CallerID\n42,1,,4989\n\n43,2,16,\n", encoding="utf-8"
    )
    rows = list(read_rows([path]))
    assert [r.call_key for r in rows] == ["42", "43"]
    assert json.loads(rows[0].body) == {
        "jtelStatisticsPartAID": "42",
        "CONNRES": "1",
        "Cause": "",
        "CallerID": "4989",
    }
    same = parse_body(b'{"jtelStatisticsPartAID": 42, "CONNRES": 1, "CallerID": "4989"}').elements[0]
    assert rows[0].row_key == same.row_key  # type: ignore[union-attr]


def test_final_rows_from_a_report_with_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = ReportWriter(path)
    writer.write({"file": "/a", "line": 1, "rowKey": "k1", "final": True})
    writer.write({"file": "/a", "line": 2, "rowKey": "k2", "final": False})
    writer.close()
    with path.open("ab") as handle:
        handle.write(b'{"file": "/a", "line": 3, "rowK')
    finals = FinalRows.from_report(path)
    assert ("/a", 1, "k1") in finals
    assert ("/a", 2, "k2") not in finals and ("/a", 3, "k3") not in finals
    assert ("/a", 1, "other-key") not in finals  # the file changed under that line
    again = ReportWriter(path)  # appending starts on a fresh line
    again.write({"file": "/a", "line": 3, "rowKey": "k3", "final": True})
    again.close()
    assert ("/a", 3, "k3") in FinalRows.from_report(path)


# -- through the command ------------------------------------------------------------------------------


def test_five_row_call_to_serve_stores_one_call_five_rows_one_task(
    tmp_path: Path, invoke: Callable[..., Ran]
) -> None:
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True) as server:
        token = requests.post(
            server.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": server.client_id,
                "client_secret": server.client_secret,
            },
        ).json()["access_token"]
        contact = requests.post(
            f"{server.base_url}/services/data/v61.0/sobjects/Contact",
            json={"LastName": "Caller"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["id"]
        path = write_jsonl(tmp_path / "call.jsonl", five_rows(5001, contact))
        result = invoke(
            str(path),
            "--url",
            server.endpoint_url,
            "--client-id",
            server.client_id,
            "--client-secret",
            server.client_secret,
            "--report",
            str(tmp_path / "r.jsonl"),
        )
        assert result.exit_code == 0, result.output
        assert "written 5" in result.output
        store = server.store
        assert store is not None
        assert (store.count("JtelCall__c"), store.count("JtelCallRow__c"), store.count("Task")) == (1, 5, 1)
        assert store.all("Task")[0]["WhoId"] == contact
    lines = report_lines(tmp_path / "r.jsonl")
    assert [(ln["line"], ln["status"], ln["final"]) for ln in sorted(lines, key=lambda x: x["line"])] == [
        (n, "written", True) for n in range(1, 6)
    ]


def test_local_flag_starts_an_endpoint_for_the_run(tmp_path: Path, invoke: Callable[..., Ran]) -> None:
    rows = five_rows(7) + five_rows(7)[:2] + ["{broken", {"jtelStatisticsPartAID": 8, "SalesForceID": "nope"}]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    db = tmp_path / "local.sqlite"
    result = invoke(
        str(path), "--local", "--db", str(db), "--report", str(tmp_path / "r.jsonl"), "--send-invalid"
    )
    assert result.exit_code == 1, result.output  # sent, but a line was unreadable
    assert "written 5, duplicate 2, not_found 1, rejected 1, failed 0" in result.output
    assert "1 input lines were unreadable" in result.err
    reasons = {ln["line"]: ln.get("reason") for ln in report_lines(tmp_path / "r.jsonl")}
    assert reasons[8] == "invalid_payload (body: invalid_json)" and reasons[9] == "invalid_record_id"
    assert db.exists()


@pytest.mark.parametrize("batch_size", ["1", "7", "200"])
def test_rows_of_one_call_keep_their_order(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran], batch_size: str
) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    rows = [{"jtelStatisticsPartAID": call, "nDuration": seq} for seq in range(6) for call in range(1, 31)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(
        str(path), "--url", stub.url, "--access-token", "t", "--concurrency", "8", "--batch-size", batch_size
    )
    assert result.exit_code == 0, result.output
    assert len(stub.received) == 180
    if batch_size == "1":
        assert all(isinstance(body, dict) for body in stub.requests)  # plain objects, as jtel sends
    else:
        assert all(isinstance(body, list) and len(body) <= int(batch_size) for body in stub.requests)
    for call in range(1, 31):
        assert [b["nDuration"] for _, b in stub.received if b["jtelStatisticsPartAID"] == call] == list(
            range(6)
        )


def test_retry_answers_are_retried_until_written(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    codes = iter([503, 500, 423])

    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if count <= 3:
            return next_code(), {"status": "retry", "code": "locked"}
        return written(body)

    lock = threading.Lock()

    def next_code() -> int:
        nonlocal codes
        with lock:
            try:
                return next(codes)
            except StopIteration:
                codes = iter([503, 500, 423])
                return next(codes)

    stub = stub_factory(decide)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 4)])
    report = tmp_path / "r.jsonl"
    result = invoke(
        str(path),
        "--url",
        stub.url,
        "--access-token",
        "t",
        "--retry-delay",
        "0.001",
        "--report",
        str(report),
        "--batch-size",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "written 3" in result.output and "9 retries" in result.output
    assert {ln["attempts"] for ln in report_lines(report)} == {4}


# -- batches ---------------------------------------------------------------------------------------


def test_each_element_answer_is_mapped_to_its_input_line(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if body.get("SalesForceID"):
            return 404, {"status": "not_found", "code": "record_not_found", "callId": "1"}
        if body.get("Cause") == 99:  # valid for send's check, refused by this "org" (a validation rule)
            return 409, {
                "status": "rejected",
                "code": "org_refused",
                "errors": [{"field": None, "code": "X"}],
            }
        return written(body)

    stub = stub_factory(decide)
    rows = [
        {"jtelStatisticsPartAID": 1, "nDuration": 1},
        {"jtelStatisticsPartAID": 1, "SalesForceID": "003000000000001AAA"},
        {"jtelStatisticsPartAID": 1, "Cause": 99},
        {"jtelStatisticsPartAID": 1, "nDuration": 4},
    ]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    report = tmp_path / "r.jsonl"
    result = invoke(
        str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "10", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert len(stub.requests) == 1 and stub.requests[0] == rows  # one array, in file order
    by_line = {ln["line"]: (ln["http"], ln["status"], ln["code"], ln["final"]) for ln in report_lines(report)}
    assert by_line == {
        1: (200, "written", "ok_no_record", True),
        2: (404, "not_found", "record_not_found", True),
        3: (409, "rejected", "org_refused", True),
        4: (200, "written", "ok_no_record", True),
    }
    assert "Requests: 1 to the endpoint (1 batches" in result.output


def test_retry_elements_are_resent_without_the_final_ones(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if body["jtelStatisticsPartAID"] in (2, 4) and count <= 2:  # locked twice, then written
            return 503, {"status": "retry", "code": "locked"}
        return written(body)

    stub = stub_factory(decide)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 6)])
    report = tmp_path / "r.jsonl"
    result = invoke(
        str(path),
        "--url",
        stub.url,
        "--access-token",
        "t",
        "--batch-size",
        "5",
        "--concurrency",
        "1",
        "--retry-delay",
        "0.001",
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.output
    ids = [[row["jtelStatisticsPartAID"] for row in body] for body in stub.requests]
    assert ids == [[1, 2, 3, 4, 5], [2, 4], [2, 4]]  # the final ones are never sent again
    attempts = {ln["line"]: ln["attempts"] for ln in report_lines(report)}
    assert attempts == {1: 1, 2: 3, 3: 1, 4: 3, 5: 1}
    assert "written 5" in result.output and "4 retries" in result.output


def test_a_batch_answered_with_a_retry_status_is_resent_whole(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    calls = {"n": 0}

    def whole(array: list[Any], token: str) -> tuple[int, Any] | None:
        calls["n"] += 1
        if calls["n"] == 1:
            return 503, {"status": "retry", "code": "busy"}
        if calls["n"] == 2:  # the platform's own answer, no contract body: also retried
            return 500, [{"errorCode": "APEX_ERROR", "message": "System.LimitException"}]
        return None

    stub = stub_factory(lambda body, token, count: written(body), whole)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 4)])
    result = invoke(
        str(path), "--url", stub.url, "--access-token", "t", "--concurrency", "1", "--retry-delay", "0.001"
    )
    assert result.exit_code == 0, result.output
    assert [len(body) for body in stub.requests] == [3, 3, 3]
    assert "written 3" in result.output and "6 retries" in result.output


def test_a_413_halves_the_batch_and_keeps_the_order(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def whole(array: list[Any], token: str) -> tuple[int, Any] | None:
        if isinstance(array, list) and len(array) > 3:  # as the endpoint answers more than it takes
            return 413, {"status": "too_large", "code": "batch_too_large"}
        return None

    stub = stub_factory(lambda body, token, count: written(body), whole)
    rows = [{"jtelStatisticsPartAID": 1, "nDuration": n} for n in range(10)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "10")
    assert result.exit_code == 0, result.output
    assert [b["nDuration"] for _, b in stub.received] == list(range(10))  # every row once, in order
    assert [len(body) for body in stub.requests] == [10, 5, 2, 3, 5, 2, 3]
    assert "written 10" in result.output and "3 halved after a 413" in result.output


def test_giving_up_is_not_final_and_fails_the_run(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(lambda body, token, count: (503, {"status": "retry", "code": "busy"}))
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    report = tmp_path / "r.jsonl"
    result = invoke(
        str(path),
        "--url",
        stub.url,
        "--access-token",
        "t",
        "--max-retries",
        "2",
        "--retry-delay",
        "0",
        "--report",
        str(report),
    )
    assert result.exit_code == 1
    assert len(stub.received) == 3
    (line,) = report_lines(report)
    assert line["final"] is False and line["reason"].startswith("gave up after 3 attempts")


def test_not_found_and_rejected_are_final_and_not_retried(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if body["jtelStatisticsPartAID"] == 1:
            return 404, {"status": "not_found", "code": "record_not_found"}
        return 409, {
            "status": "rejected",
            "code": "invalid_payload",
            "errors": [{"field": "CONNRES", "code": "out_of_range"}],
        }

    stub = stub_factory(decide)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}, {"jtelStatisticsPartAID": 2}])
    report = tmp_path / "r.jsonl"
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert len(stub.received) == 2
    by_line = {ln["line"]: ln for ln in report_lines(report)}
    assert by_line[1]["http"] == 404 and by_line[1]["final"] and by_line[1]["reason"] == "record_not_found"
    assert by_line[2]["reason"] == "invalid_payload (CONNRES: out_of_range)"


def test_a_401_gets_a_new_token_once(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if token == "token-1":  # the first token "expires" at once
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        return written(body)

    stub = stub_factory(decide)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 9)])
    result = invoke(
        str(path), "--url", stub.url, "--client-id", "id", "--client-secret", "s", "--concurrency", "4"
    )
    assert result.exit_code == 0, result.output
    assert "written 8" in result.output
    assert stub.tokens_issued == 2  # one login, one renewal shared by all workers


def test_a_second_401_stops_the_run_with_an_auth_error(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(
        lambda body, token, count: (401, [{"errorCode": "INVALID_SESSION_ID", "message": "x"}])
    )
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    result = invoke(str(path), "--url", stub.url, "--access-token", "tok-secret-4711")
    assert result.exit_code == 2  # an AuthError
    assert "401" in result.err and "cannot be renewed" in result.err
    assert "tok-secret-4711" not in result.output


def test_resume_sends_only_rows_not_final(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 11)])
    report = tmp_path / "r.jsonl"
    rows = list(read_rows([path]))
    writer = ReportWriter(report)
    for row in rows[:4]:
        writer.write({"file": row.file, "line": row.line, "rowKey": row.row_key, "final": True})
    writer.write({"file": rows[4].file, "line": rows[4].line, "rowKey": rows[4].row_key, "final": False})
    writer.close()
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--report", str(report), "--resume")
    assert result.exit_code == 0, result.output
    assert sorted(b["jtelStatisticsPartAID"] for _, b in stub.received) == list(range(5, 11))
    assert "4 skipped" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume"], "--resume needs --report"),
        (["--local", "--url", "http://127.0.0.1:1/x"], "one of --url and --local"),
        (["--url", "http://127.0.0.1:1/x"], "--access-token or --client-id"),
        (
            ["--db", "x.sqlite", "--url", "http://127.0.0.1:1/x", "--access-token", "t"],
            "--db goes with --local",
        ),
        (["--url", "ftp://x", "--access-token", "t"], "http(s) URL"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str, invoke: Callable[..., Ran]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    result = invoke(str(path), *args)
    assert result.exit_code == 2
    assert message in result.err


def test_existing_report_without_resume_is_refused(tmp_path: Path, invoke: Callable[..., Ran]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    (tmp_path / "r.jsonl").write_text("")
    result = invoke(str(path), "--local", "--report", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 2
    assert "report file exists" in result.err


def test_dry_run_reads_without_sending(tmp_path: Path, invoke: Callable[..., Ran]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 8)])
    result = invoke(str(path), "--dry-run", "--concurrency", "1", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert "Dry run: 7 rows would be sent in 3 endpoint requests" in result.output


def test_org_auth_options_reach_the_endpoint_of_an_org(
    tmp_path: Path, invoke: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url/--local, send logs in through jtel_sf.auth (here: client credentials against
    the local endpoint standing in for an org on 127.0.0.1) and posts to its apexrest URL."""
    with LocalServer(db_path=tmp_path / "org.sqlite", quiet=True) as org:
        path = write_jsonl(tmp_path / "in.jsonl", five_rows(6001))
        monkeypatch.setenv("SF_CLIENT_SECRET", org.client_secret)
        result = invoke(str(path), "--instance-url", org.base_url, "--client-id", org.client_id)
        assert result.exit_code == 0, result.output
        assert f"Sending to {org.endpoint_url} (client-credentials)" in result.output
        assert org.store is not None and org.store.count("JtelCallRow__c") == 5
        assert org.client_secret not in result.output


def test_rate_limiter_spaces_requests_evenly(monkeypatch: pytest.MonkeyPatch) -> None:
    from jtel_sf.send import runner

    clock = [100.0]
    slept: list[float] = []
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(runner.time, "sleep", lambda s: slept.append(s))
    limiter = runner.RateLimiter(4.0)
    for _ in range(4):
        limiter.wait()
    assert slept == [0.25, 0.5, 0.75]  # the first goes at once, then one slot every 1/4 s
    runner.RateLimiter(None).wait()
    assert len(slept) == 3
    batches = runner.RateLimiter(10.0)  # rows a second: a batch takes one slot per row
    slept.clear()
    batches.wait(20)
    batches.wait(5)
    batches.wait(1)
    assert slept == [2.0, 2.5]


def test_final_rows_merge_sorted_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jtel_sf.send import report as report_module

    monkeypatch.setattr(report_module, "_CHUNK", 7)  # many small chunks, merged
    path = tmp_path / "r.jsonl"
    writer = ReportWriter(path)
    for n in range(1, 101):
        writer.write({"file": "/f", "line": n, "rowKey": f"k{n}", "final": n % 3 != 0})
    writer.close()
    finals = FinalRows.from_report(path)
    assert len(finals) == 67
    assert all((("/f", n, f"k{n}") in finals) == (n % 3 != 0) for n in range(1, 101))


def test_ten_thousand_rows_in_batches_of_200_are_stored_once_in_at_most_60_requests(
    tmp_path: Path, invoke: Callable[..., Ran]
) -> None:
    """Done-when check of issue 12, against the local endpoint (the contract's reference
    implementation): every row stored exactly once, at most 60 endpoint requests."""
    path = tmp_path / "10k.jsonl"
    with path.open("w") as handle:
        for call in range(2000):
            for row in five_rows(800_000 + call):
                handle.write(json.dumps(row) + "\n")
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True) as server:
        requests_seen: list[int] = []
        endpoint = server.endpoint

        def counting(raw: bytes) -> Any:
            requests_seen.append(len(raw))
            return endpoint(raw)

        server.endpoint = counting  # type: ignore[method-assign]
        result = invoke(
            str(path),
            "--url",
            server.endpoint_url,
            "--client-id",
            server.client_id,
            "--client-secret",
            server.client_secret,
            "--batch-size",
            "200",
            "--json",
        )
        assert result.exit_code == 0, result.output
        store = server.store
        assert store is not None
        keys = [row["RowKey__c"] for row in store.all("JtelCallRow__c")]
        assert len(keys) == len(set(keys)) == 10_000
        assert store.count("JtelCall__c") == 2000
    assert len(requests_seen) <= 60
    document = json.loads(result.out)["result"]
    assert document["send"]["requests"]["total"] == len(requests_seen)
    assert document["send"]["rows"]["written"] == 10_000


# -- the check before sending --------------------------------------------------------------------


def contract_rejections() -> list[tuple[str, bytes, str, list[tuple[str | None, str]]]]:
    """(case, line, kind, expected errors) for every contract case answered ``invalid_payload``
    whose body fits on one line: the errors the endpoint (Apex and local) must answer."""
    found = []
    for case in load_cases():
        for step in case.steps:
            expect = step.get("expect") or {}
            if expect.get("code") != "invalid_payload":
                continue
            if "body" in step:
                line = json.dumps(step["body"]).replace('"{{call}}"', "4242").encode()
            else:
                line = step["rawBody"].encode()
            if not line.strip() or b"\n" in line:
                continue  # a blank line is no row; one line holds one body
            assert b"{{" not in line, case.name
            try:
                is_object = isinstance(json.loads(line), dict)
            except ValueError:
                is_object = False
            kind = "rejected" if is_object else "unreadable"
            found.append((case.name, line, kind, [(e["field"], e["code"]) for e in expect["errors"]]))
    return found


def test_dry_run_reports_the_contracts_errors_for_every_rejected_case(
    tmp_path: Path, invoke: Callable[..., Ran]
) -> None:
    cases = contract_rejections()
    assert len(cases) >= 6
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(line + b"\n" for _, line, _, _ in cases) + json.dumps(five_rows(1)[0]).encode())
    result = invoke(str(path), "--dry-run", "--json")
    assert result.exit_code == 1, result.output  # problems found: a dry run is a usable pre-flight check
    check = json.loads(result.out)["result"]["check"]
    assert (check["wouldWrite"], check["rejected"], check["unreadable"]) == (
        1,
        sum(1 for c in cases if c[2] == "rejected"),
        sum(1 for c in cases if c[2] == "unreadable"),
    )
    by_line = {p["line"]: p for p in check["problems"]}
    for number, (name, _, kind, errors) in enumerate(cases, start=1):
        problem = by_line[number]
        assert problem["kind"] == kind, name
        assert [(e["field"], e["code"]) for e in problem["errors"]] == errors, name
    every_rule = 1 + [name for name, _, _, _ in cases].index("rejected_for_every_broken_rule")
    assert f"in.jsonl:{every_rule}: rejected: AgentUID: too_long; bOutbound: out_of_range" in result.err
    assert "Dry run: 1 rows would be sent in 1 endpoint requests" in result.err


def test_a_binary_file_is_refused_before_anything_is_sent(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(bytes(range(256)) * 40)
    result = invoke(str(path), "--url", stub.url, "--access-token", "t")
    assert result.exit_code == 2
    assert "is a binary file (NUL byte at offset 0)" in result.err
    assert stub.requests == []
    dry = invoke(str(path), "--dry-run")
    assert dry.exit_code == 2 and "binary file" in dry.err


def test_text_garbage_is_refused_with_line_numbers(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    lines = [
        json.dumps({"jtelStatisticsPartAID": 1}),
        "this is not json",
        json.dumps([{"jtelStatisticsPartAID": 2}, {"jtelStatisticsPartAID": 3}]),  # an array: not taken apart
        "42",
        "\xff\xfe not utf-8",
        json.dumps({"jtelStatisticsPartAID": 4, "CONNRES": 12}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8").replace("\xff\xfe".encode(), b"\xff\xfe") + b"\n")
    result = invoke(str(path), "--url", stub.url, "--access-token", "t")
    assert result.exit_code == 2, result.output
    assert stub.requests == []  # nothing sent, not even the valid row
    for text in (
        "in.jsonl:2: unreadable: body: invalid_json",
        "in.jsonl:3: unreadable: body: wrong_type",
        "in.jsonl:4: unreadable: body: wrong_type",
        "in.jsonl:5: unreadable: body: invalid_json",
        "in.jsonl:6: rejected: CONNRES: out_of_range",
        "1 rows the endpoint would reject and 4 unreadable lines; nothing was sent",
    ):
        assert text in result.err
    again = invoke(str(path), "--url", stub.url, "--access-token", "t", "--send-invalid", "--batch-size", "1")
    assert again.exit_code == 1  # sent as jtel's daemon would, but unreadable lines make the run fail
    assert len(stub.requests) == 6


def test_a_real_run_refuses_rows_the_contract_rejects(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(
        lambda body, token, count: (
            (409, {"status": "rejected", "code": "invalid_payload"}) if "Cause" in body else written(body)
        )
    )
    path = write_jsonl(
        tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}, {"jtelStatisticsPartAID": 2, "Cause": 500}]
    )
    result = invoke(str(path), "--url", stub.url, "--access-token", "t")
    assert result.exit_code == 2 and stub.requests == []
    assert "in.jsonl:2: rejected: Cause: out_of_range" in result.err
    sent = invoke(str(path), "--url", stub.url, "--access-token", "t", "--send-invalid")
    assert sent.exit_code == 0, sent.output  # no unreadable line: the rejection was asked for
    assert "written 1, duplicate 0, not_found 0, rejected 1" in sent.err


def test_csv_rows_that_do_not_fit_the_header_are_unreadable(
    tmp_path: Path, invoke: Callable[..., Ran]
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("jtelStatisticsPartAID,CONNRES\n1,1\n2,1,extra\n3\n4,x\n", encoding="utf-8")
    result = invoke(str(path), "--dry-run")
    assert result.exit_code == 1
    assert "in.csv:3: unreadable: body: invalid_csv" in result.err
    assert "in.csv:4: unreadable: body: invalid_csv" in result.err
    assert "in.csv:5: rejected: CONNRES: not_an_integer" in result.err
    assert "1 rows to write, 1 rejected by the contract, 2 unreadable" in result.err
    other = tmp_path / "other.csv"
    other.write_text("name,phone\nAnna,123\n", encoding="utf-8")
    refused = invoke(str(other), "--dry-run")
    assert refused.exit_code == 2 and "names none of jtel's fields" in refused.err


# -- progress and the summary ---------------------------------------------------------------------


def test_progress_line_shows_total_rate_and_eta() -> None:
    from jtel_sf.send.progress import duration, progress_line

    assert progress_line(250, 1000, 10.0, "rows") == "250/1,000 rows (25%), 25 rows/s, ETA 30s"
    assert progress_line(1000, 1000, 10.0, "rows", "written 1000").endswith("ETA 0s | written 1000")
    assert progress_line(0, 1000, 10.0, "rows").endswith("ETA ?")
    assert progress_line(5, None, 1.0, "rows") == "5 rows, 5 rows/s"
    assert (duration(59), duration(61), duration(3 * 3600 + 120)) == ("59s", "1m01s", "3h02m")


def test_progress_only_on_request_when_stderr_is_no_terminal(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 21)])
    quiet = invoke(str(path), "--url", stub.url, "--access-token", "t")
    assert "ETA" not in quiet.err
    shown = invoke(
        str(path),
        "--url",
        stub.url,
        "--access-token",
        "t",
        "--progress",
        "--batch-size",
        "5",
        "--concurrency",
        "1",
    )
    assert shown.exit_code == 0, shown.output
    assert "checking: 0.0/0.0 MB (100%), 20 lines" in shown.err  # the total comes from the file size
    assert "20/20 rows (100%)" in shown.err and "ETA 0s" in shown.err and "requests 4" in shown.err


def test_json_summary_has_every_category(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    def decide(body: dict[str, Any], token: str, count: int) -> tuple[int, Any]:
        if body["jtelStatisticsPartAID"] == 2:
            return 404, {"status": "not_found", "code": "invalid_record_id"}
        if count > 1:
            return 200, {"status": "duplicate", "code": "already_stored"}
        return written(body)

    stub = stub_factory(decide)
    rows = [{"jtelStatisticsPartAID": 1}, {"jtelStatisticsPartAID": 2}, {"jtelStatisticsPartAID": 1}]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--json", "--concurrency", "1")
    assert result.exit_code == 0, result.output
    document = json.loads(result.out)["result"]
    assert document["check"]["wouldWrite"] == 3 and document["check"]["plannedRequests"] == 1
    assert document["send"]["rows"] == {
        "sent": 3,
        "written": 1,
        "duplicate": 1,
        "notFound": 1,
        "rejected": 0,
        "other": 0,
        "failed": 0,
        "skipped": 0,
        "retried": 0,
    }
    assert document["send"]["requests"] == {"total": 1, "batches": 1, "halved": 0}


# -- the org's API budget (fake org: Stub with OrgLimits, built from the REST API Developer Guide) ----


def test_budget_is_read_shown_and_counted(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    org = OrgLimits(max=15000, used=1000)
    stub = stub_factory(lambda body, token, count: written(body), org=org)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 21)])
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "1", "--json")
    assert result.exit_code == 0, result.output
    assert stub.limits_reads == 1
    assert "API budget: 14000 of 15000 daily API requests remaining; this run may use 7000" in result.err
    assert "plans 20 (+1 for /limits)" in result.err
    assert (
        "API calls used: 21 (allowance 7000, 14000 remaining at the start); the org's usage now 1021/15000"
        in (result.err)
    )
    budget = json.loads(result.out)["result"]["apiBudget"]
    assert (budget["apiCallsUsed"], budget["orgUsage"], budget["stopped"]) == (21, [1021, 15000], None)


def test_a_run_over_its_share_of_the_remaining_requests_is_refused(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    org = OrgLimits(max=5000, used=4900)  # 100 left: a 50 % share allows 50
    stub = stub_factory(lambda body, token, count: written(body), org=org)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 61)])
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "1", "--json")
    assert result.exit_code == 2
    assert "the run needs 60 API requests (+1 for /limits), more than 50% of the 100" in result.err
    assert "Hint: Use a larger --batch-size" in result.err
    assert stub.requests == []
    envelope = json.loads(result.out)
    assert envelope["name"] == "UsageError" and envelope["result"]["check"]["plannedRequests"] == 60
    assert envelope["result"]["apiBudget"]["allowance"] == 50
    batched = invoke(str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "200")
    assert batched.exit_code == 0, batched.output  # the same rows in batches fit easily
    assert len(stub.requests) <= 4


def test_the_run_stops_when_the_org_nears_its_reserve(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    # 1000 left; the run may use 500, but other clients use 99 calls for each of ours
    org = OrgLimits(max=10000, used=9000, step=100)
    stub = stub_factory(lambda body, token, count: written(body), org=org)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 41)])
    report = tmp_path / "r.jsonl"
    result = invoke(
        str(path),
        "--url",
        stub.url,
        "--access-token",
        "t",
        "--batch-size",
        "1",
        "--concurrency",
        "1",
        "--report",
        str(report),
    )
    assert result.exit_code == 1
    assert "Stopped early: the org has 500 of 10000 daily API requests left (Sforce-Limit-Info)" in result.err
    assert len(stub.requests) == 4  # answers at 9200, 9300, 9400, 9500 used: the fourth reaches the reserve
    assert len(report_lines(report)) == 4  # the rest is left for --resume


def test_the_run_stops_at_its_own_allowance(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    # 10 left, 5 allowed; the planned 2 fit, but every batch fails; no header: our own count stops it
    org = OrgLimits(max=1000, used=990, header=False)
    stub = stub_factory(
        lambda body, token, count: written(body),
        lambda array, token: (503, {"status": "retry", "code": "busy"}),
        org=org,
    )
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--retry-delay", "0")
    assert result.exit_code == 1
    assert "Stopped early: the run used its API allowance (5 requests" in result.err
    assert len(stub.requests) == 4  # 1 for /limits + 4 posts = 5


def test_limits_the_user_may_not_read_refuse_the_run_unless_the_share_is_100(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    org = OrgLimits(max=15000, status=403)
    stub = stub_factory(lambda body, token, count: written(body), org=org)
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    refused = invoke(str(path), "--url", stub.url, "--access-token", "t")
    assert refused.exit_code == 2 and "View Setup and Configuration" in refused.err
    assert stub.requests == []
    allowed = invoke(str(path), "--url", stub.url, "--access-token", "t", "--max-api-share", "100")
    assert allowed.exit_code == 0, allowed.output
    assert "not checked before the start" in allowed.err and len(stub.requests) == 1


def test_request_limit_exceeded_stops_the_run(
    tmp_path: Path, stub_factory: Callable[..., Stub], invoke: Callable[..., Ran]
) -> None:
    stub = stub_factory(
        lambda body, token, count: written(body),
        lambda array, token: (
            403,
            [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
        ),
    )
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 9)])
    result = invoke(
        str(path), "--url", stub.url, "--access-token", "t", "--batch-size", "2", "--concurrency", "1"
    )
    assert result.exit_code == 1
    assert (
        "Stopped early: the org's daily API request limit is exceeded (403 REQUEST_LIMIT_EXCEEDED)"
        in result.err
    )
    assert len(stub.requests) == 1


def test_limit_info_header_parsing() -> None:
    from jtel_sf.send.budget import parse_limit_info

    assert parse_limit_info("api-usage=10018/100000") == (10018, 100000)
    assert parse_limit_info("api-usage=110018/100000; api-bursts=1/750") == (110018, 100000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None
    assert parse_limit_info(None) is None


def test_the_shipped_examples_are_valid_and_the_csv_holds_the_same_rows(invoke: Callable[..., Ran]) -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    jsonl = list(read_rows([root / "calls.jsonl"]))
    csv_rows = list(read_rows([root / "calls.csv"]))
    assert [r.kind for r in jsonl] == ["valid"] * 7
    assert [r.row_key for r in jsonl] == [r.row_key for r in csv_rows]
    seed = [r for r in jsonl if r.call_key == "1234567"]
    assert len(seed) == 5  # the seed's five-row call
    result = invoke(str(root / "calls.jsonl"), str(root / "calls.csv"), "--dry-run", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert "14 rows to write, 0 rejected by the contract, 0 unreadable" in result.err
    assert "14 rows would be sent in 14 endpoint requests" in result.err
