"""jtel-sf send: reading, routing, retries, token renewal, report and resume (servers on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from conftest import five_rows
from jtel_sf.cli import cli
from jtel_sf.engine import parse_body
from jtel_sf.errors import AuthError, UsageError
from jtel_sf.local.server import LocalServer
from jtel_sf.send.report import FinalRows, ReportWriter
from jtel_sf.send.runner import backoff, classify
from jtel_sf.send.source import read_rows


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["send", "--no-progress", *args], catch_exceptions=False)


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- a scriptable stub endpoint ------------------------------------------------------------------


class Stub:
    """An endpoint whose answer for each request is decided by ``decide(body, token, count)``."""

    def __init__(self, decide: Callable[[dict[str, Any], str, int], tuple[int, Any]]) -> None:
        self.decide = decide
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.tokens_issued = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

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
                    parsed = json.loads(body)
                    with stub.lock:
                        stub.received.append((token, parsed))
                        count = sum(1 for _, b in stub.received if b == parsed)
                    status, reply = stub.decide(parsed, token, count)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = (
            f"http://127.0.0.1:{self.httpd.server_address[1]}/services/apexrest/jtelACD/writeCallStatistics"
        )
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

    def make(decide: Callable[[dict[str, Any], str, int], tuple[int, Any]]) -> Stub:
        stubs.append(Stub(decide))
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


def test_five_row_call_to_serve_stores_one_call_five_rows_one_task(tmp_path: Path) -> None:
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


def test_local_flag_starts_an_endpoint_for_the_run(tmp_path: Path) -> None:
    rows = five_rows(7) + five_rows(7)[:2] + ["{broken", {"jtelStatisticsPartAID": 8, "SalesForceID": "nope"}]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    db = tmp_path / "local.sqlite"
    result = invoke(str(path), "--local", "--db", str(db), "--report", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 0, result.output
    assert "written 5, duplicate 2, not_found 1, rejected 1, failed 0" in result.output
    reasons = {ln["line"]: ln.get("reason") for ln in report_lines(tmp_path / "r.jsonl")}
    assert reasons[8] == "invalid_payload (body: invalid_json)" and reasons[9] == "invalid_record_id"
    assert db.exists()


def test_rows_of_one_call_keep_their_order(tmp_path: Path, stub_factory: Callable[..., Stub]) -> None:
    stub = stub_factory(lambda body, token, count: written(body))
    rows = [{"jtelStatisticsPartAID": call, "nDuration": seq} for seq in range(6) for call in range(1, 31)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(str(path), "--url", stub.url, "--access-token", "t", "--concurrency", "8")
    assert result.exit_code == 0, result.output
    assert len(stub.received) == 180
    for call in range(1, 31):
        assert [b["nDuration"] for _, b in stub.received if b["jtelStatisticsPartAID"] == call] == list(
            range(6)
        )


def test_retry_answers_are_retried_until_written(tmp_path: Path, stub_factory: Callable[..., Stub]) -> None:
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
        str(path), "--url", stub.url, "--access-token", "t", "--retry-delay", "0.001", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert "written 3" in result.output and "9 retries" in result.output
    assert {ln["attempts"] for ln in report_lines(report)} == {4}


def test_giving_up_is_not_final_and_fails_the_run(tmp_path: Path, stub_factory: Callable[..., Stub]) -> None:
    stub = stub_factory(lambda body, token, count: (503, {"status": "retry", "code": "busy"}))
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    report = tmp_path / "r.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "send",
            "--no-progress",
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
        ],
    )
    assert result.exit_code == 1
    assert len(stub.received) == 3
    (line,) = report_lines(report)
    assert line["final"] is False and line["reason"].startswith("gave up after 3 attempts")


def test_not_found_and_rejected_are_final_and_not_retried(
    tmp_path: Path, stub_factory: Callable[..., Stub]
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


def test_a_401_gets_a_new_token_once(tmp_path: Path, stub_factory: Callable[..., Stub]) -> None:
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
    tmp_path: Path, stub_factory: Callable[..., Stub]
) -> None:
    stub = stub_factory(
        lambda body, token, count: (401, [{"errorCode": "INVALID_SESSION_ID", "message": "x"}])
    )
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    result = CliRunner().invoke(
        cli, ["send", "--no-progress", str(path), "--url", stub.url, "--access-token", "tok-secret-4711"]
    )
    assert isinstance(result.exception, AuthError)  # cli.main turns it into exit code 2
    assert "401" in str(result.exception) and "cannot be renewed" in str(result.exception)
    assert "tok-secret-4711" not in result.output


def test_resume_sends_only_rows_not_final(tmp_path: Path, stub_factory: Callable[..., Stub]) -> None:
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
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    result = CliRunner().invoke(cli, ["send", str(path), *args])
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output


def test_existing_report_without_resume_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": 1}])
    (tmp_path / "r.jsonl").write_text("")
    result = CliRunner().invoke(cli, ["send", str(path), "--local", "--report", str(tmp_path / "r.jsonl")])
    assert isinstance(result.exception, UsageError)
    assert "report file exists" in str(result.exception)


def test_dry_run_reads_without_sending(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"jtelStatisticsPartAID": n} for n in range(1, 8)])
    result = invoke(str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: 7 rows read" in result.output


def test_org_auth_options_reach_the_endpoint_of_an_org(tmp_path: Path) -> None:
    """Without --url/--local, send logs in through jtel_sf.auth (here: client credentials against
    the local endpoint standing in for an org on 127.0.0.1) and posts to its apexrest URL."""
    with LocalServer(db_path=tmp_path / "org.sqlite", quiet=True) as org:
        path = write_jsonl(tmp_path / "in.jsonl", five_rows(6001))
        env = {"SF_CLIENT_SECRET": org.client_secret}
        result = CliRunner(env=env).invoke(
            cli,
            [
                "send",
                "--no-progress",
                str(path),
                "--instance-url",
                org.base_url,
                "--client-id",
                org.client_id,
            ],
            catch_exceptions=False,
        )
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
