"""The local endpoint (jtel-sf serve / LocalServer) on 127.0.0.1: auth, REST resources, contract, storage."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import token_for
from jtel_sf.contract import load_cases
from jtel_sf.engine.ids import make_id, to_18
from jtel_sf.local.server import LocalServer
from jtel_sf.settings import Settings

API = "/services/data/v61.0"


class Client:
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.http = requests.Session()
        self.http.headers["Authorization"] = "Bearer " + token_for(server)

    def post(self, body: Any = None, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps(body).encode()
        return self.http.post(
            self.server.endpoint_url, data=data, headers={"Content-Type": "application/json"}
        )

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        reply = self.http.post(f"{self.server.base_url}{API}/sobjects/{sobject}", json=fields)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.server.base_url}{API}{path}")


@pytest.fixture()
def server(tmp_path: Path) -> Any:
    log = io.StringIO()
    with LocalServer(db_path=tmp_path / "local.sqlite", log=log) as srv:
        srv.test_log = log  # type: ignore[attr-defined]
        yield srv


@pytest.fixture()
def client(server: LocalServer) -> Client:
    return Client(server)


def case_bodies(name: str, call: int, refs: dict[str, str]) -> list[dict[str, Any]]:
    case = next(c for c in load_cases() if c.name == name)
    text = json.dumps([step["body"] for step in case.steps]).replace("{{call}}", str(call))
    for ref, value in refs.items():
        text = text.replace("{{" + ref + "}}", value)
    return json.loads(text)


# -- OAuth -------------------------------------------------------------------------------------


def test_token_endpoint_answers_like_salesforce(server: LocalServer) -> None:
    reply = requests.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": server.client_id,
            "client_secret": server.client_secret,
        },
    )
    body = reply.json()
    assert reply.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == server.base_url
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert re.match(r"^http://127\.0\.0\.1:\d+/id/00D\w{15}/005\w{15}$", body["id"])


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "wrong", "client_secret": "wrong"},
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, "invalid_client"),
        ({"grant_type": "password", "client_id": "x"}, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_refuses_wrong_credentials(
    server: LocalServer, form: dict[str, str], expected: str
) -> None:
    reply = requests.post(server.token_url, data=form)
    assert reply.status_code == 400
    assert reply.json()["error"] == expected
    if expected == "invalid_client":
        assert reply.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_endpoint_without_a_valid_token_is_401_invalid_session(
    server: LocalServer, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    reply = requests.post(server.endpoint_url, data=b"{}", headers=headers)
    assert reply.status_code == 401
    assert reply.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert server.store is not None and server.store.count("JtelQuarantine__c") == 0


def test_userinfo_names_the_running_user(server: LocalServer, client: Client) -> None:
    body = client.http.get(server.base_url + "/services/oauth2/userinfo").json()
    assert body["user_id"] == server.store.running_user_id  # type: ignore[union-attr]
    assert body["organization_id"] == server.store.org_id  # type: ignore[union-attr]
    assert body["preferred_username"].startswith("jtel.integration@")


# -- REST resources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sobject", "prefix"), [("Contact", "003"), ("Lead", "00Q"), ("Account", "001"), ("Case", "500")]
)
def test_sobject_create_get_delete(client: Client, sobject: str, prefix: str) -> None:
    fields = {"LastName": "Tester", "Company": "ACME", "Name": "ACME", "Subject": "Help"}
    record_id = client.create(sobject, fields)
    assert record_id.startswith(prefix) and len(record_id) == 18
    assert to_18(record_id[:15]) == record_id  # the checksum suffix is Salesforce's
    got = client.get(f"/sobjects/{sobject}/{record_id}")
    assert got.status_code == 200
    assert got.json()["attributes"] == {"type": sobject, "url": f"{API}/sobjects/{sobject}/{record_id}"}
    assert got.json()["Id"] == record_id
    assert got.json()["Subject"] == "Help"
    assert (
        client.http.delete(f"{client.server.base_url}{API}/sobjects/{sobject}/{record_id}").status_code == 204
    )
    gone = client.get(f"/sobjects/{sobject}/{record_id}")
    assert gone.status_code == 404
    assert gone.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def test_create_without_required_field_is_refused(client: Client) -> None:
    reply = client.http.post(f"{client.server.base_url}{API}/sobjects/Contact", json={"FirstName": "x"})
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_any_api_version_and_unknown_types(client: Client) -> None:
    record_id = client.create("Account", {"Name": "A"})
    assert client.http.get(f"{client.server.base_url}/services/data/v58.0/sobjects/Account/{record_id}").ok
    assert client.get("/sobjects/Opportunity/006000000000000AAA").status_code == 404
    assert client.get(f"/sobjects/Contact/{record_id}").status_code == 404  # wrong type for the Id


def test_query_finds_an_agent_user_and_refuses_malformed_queries(client: Client) -> None:
    q = "SELECT Id, CommunityNickname FROM User WHERE IsActive = true AND CommunityNickname != null LIMIT 1"
    body = client.get("/query?q=" + requests.utils.quote(q)).json()
    assert body["totalSize"] == 1 and body["done"] is True
    user = body["records"][0]
    assert user["Id"].startswith("005") and user["CommunityNickname"]
    assert user["Id"] != client.server.store.running_user_id  # type: ignore[union-attr]
    bad = client.get("/query?q=" + requests.utils.quote("SELECT Id FRM Contact"))
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "MALFORMED_QUERY"


# -- the contract --------------------------------------------------------------------------------


def test_five_row_call_stores_one_call_five_rows_one_task(client: Client) -> None:
    contact = client.create("Contact", {"LastName": "Caller"})
    for body in case_bodies("seed_five_row_call_shuffled", 4711, {"contact.Id": contact}):
        reply = client.post(body)
        assert (reply.status_code, reply.json()["status"], reply.json()["code"]) == (200, "written", "ok")
        assert client.post(body).json()["status"] == "duplicate"
    call = client.get("/sobjects/JtelCall__c/CallKey__c/4711").json()
    assert call["RowCount__c"] == 5 and call["LegCount__c"] == 4 and call["TalkTimeSeconds__c"] == 300
    assert call["AgentsTried__c"] == "agent.w; agent.x; agent.y; agent.z"
    assert call["CallStart__c"] == "2026-06-15T08:00:00.000+0000"
    rows = client.get(f"/sobjects/JtelCall__c/{call['Id']}/Rows").json()
    assert rows["totalSize"] == 5 and len(rows["records"]) == 5
    assert {r["Call__c"] for r in rows["records"]} == {call["Id"]}
    row = client.get(f"/sobjects/JtelCallRow__c/RowKey__c/{rows['records'][0]['RowKey__c']}").json()
    assert row["Id"] == rows["records"][0]["Id"]
    task = client.get(f"/sobjects/Task/{call['TaskId__c']}").json()
    assert task["WhoId"] == contact and task["CallDurationInSeconds"] == 300
    assert task["OwnerId"] == client.server.store.running_user_id  # type: ignore[union-attr]
    store = client.server.store
    assert store is not None
    assert (store.count("JtelCall__c"), store.count("JtelCallRow__c"), store.count("Task")) == (1, 5, 1)


def test_agent_matched_by_nickname_owns_the_task(client: Client) -> None:
    store = client.server.store
    assert store is not None
    agent = store.find_user("CommunityNickname")
    assert agent is not None
    account = client.create("Account", {"Name": "ACME"})
    body = case_bodies("agent_matched_owns_the_task", 99, {"contact.Id": account})[0]
    body["AgentUID"] = agent["CommunityNickname"]
    assert client.post(body).json()["code"] == "ok"
    call = client.get("/sobjects/JtelCall__c/CallKey__c/99").json()
    task = client.get(f"/sobjects/Task/{call['TaskId__c']}").json()
    assert call["HandledBy__c"] == agent["Id"] and task["OwnerId"] == agent["Id"]
    assert task["WhatId"] == account and task["WhoId"] is None


def test_salesforce_id_of_a_user_is_not_activity_enabled(client: Client) -> None:
    body = case_bodies("written_without_salesforce_id", 5, {})[0]
    body["SalesForceID"] = client.server.store.running_user_id  # type: ignore[union-attr]
    reply = client.post(body)
    assert reply.status_code == 404 and reply.json()["code"] == "record_not_activity_enabled"
    again = client.post(body)
    assert again.status_code == 404 and again.json()["code"] == "record_not_activity_enabled"
    body["SalesForceID"] = make_id("005", 999)  # decided by the key prefix, as in the org
    assert client.post(body).json()["code"] == "record_not_activity_enabled"
    body["SalesForceID"] = make_id("a9Z", 1)  # a prefix no object has
    assert client.post(body).json()["code"] == "record_not_found"


def test_rejected_body_is_quarantined_once_with_attempts(client: Client) -> None:
    for _ in range(2):
        reply = client.post(raw=b"not json")
        assert reply.status_code == 409
        assert reply.json()["errors"][0]["code"] == "invalid_json"
    quarantined = client.server.store.all("JtelQuarantine__c")  # type: ignore[union-attr]
    assert len(quarantined) == 1
    assert quarantined[0]["Attempts__c"] == 2 and quarantined[0]["RawBody__c"] == "not json"
    assert quarantined[0]["Reason__c"] == "invalid_payload"
    assert reply.json()["quarantineKey"] == quarantined[0]["BodyKey__c"]  # the answer names its record
    got = client.get(f"/sobjects/JtelQuarantine__c/BodyKey__c/{quarantined[0]['BodyKey__c']}")
    assert got.status_code == 200


def test_wrong_apexrest_path_and_method(client: Client) -> None:
    base = client.server.base_url + "/services/apexrest/"
    assert client.http.post(base + "jtelACD/other", data=b"{}").status_code == 404
    assert client.http.get(client.server.endpoint_url).status_code == 405


def test_url_path_comes_from_settings(tmp_path: Path) -> None:
    settings = Settings(url_path="custom/path", retry_http_status=500)
    with LocalServer(db_path=tmp_path / "x.sqlite", settings=settings, quiet=True) as srv:
        assert srv.endpoint_url.endswith("/services/apexrest/custom/path")
        reply = Client(srv).post({"jtelStatisticsPartAID": 1})
        assert reply.json()["code"] == "ok_no_record"


def test_request_log_has_method_path_status_and_never_the_token(server: LocalServer, client: Client) -> None:
    client.post({"jtelStatisticsPartAID": 12})
    lines = server.test_log.getvalue().splitlines()  # type: ignore[attr-defined]
    line = r"^POST /services/apexrest/jtelACD/writeCallStatistics 200 written ok_no_record \d+\.\dms$"
    assert any(re.match(line, ln) for ln in lines)
    assert any(ln.startswith("POST /services/oauth2/token 200 ") for ln in lines)
    token = client.http.headers["Authorization"].split()[1]
    assert token not in server.test_log.getvalue()  # type: ignore[attr-defined]
    assert server.client_secret not in server.test_log.getvalue()  # type: ignore[attr-defined]


def test_database_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keep.sqlite"
    with LocalServer(db_path=path, quiet=True) as first:
        c = Client(first)
        contact = c.create("Contact", {"LastName": "Kept"})
        assert c.post({"jtelStatisticsPartAID": 8, "SalesForceID": contact}).json()["status"] == "written"
        org = first.store.org_id  # type: ignore[union-attr]
    with LocalServer(db_path=path, quiet=True) as second:
        c = Client(second)
        assert second.store.org_id == org  # type: ignore[union-attr]
        assert c.get(f"/sobjects/Contact/{contact}").status_code == 200
        assert c.post({"jtelStatisticsPartAID": 8, "SalesForceID": contact}).json()["status"] == "duplicate"


def test_busy_database_answers_retry_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    with LocalServer(db_path=path, quiet=True, busy_timeout_ms=200) as srv:
        c = Client(srv)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            reply = c.post({"jtelStatisticsPartAID": 31, "CONNRES": 1})
            assert reply.status_code == 503
            assert (reply.json()["status"], reply.json()["code"]) == ("retry", "busy")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert srv.store.count("JtelCallRow__c") == 0  # type: ignore[union-attr]
        assert c.post({"jtelStatisticsPartAID": 31, "CONNRES": 1}).json()["status"] == "written"
        assert srv.store.count("JtelCallRow__c") == 1  # type: ignore[union-attr]


def test_db_files_use_wal(server: LocalServer) -> None:
    conn = sqlite3.connect(server.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_temporary_database_is_removed_on_stop() -> None:
    srv = LocalServer(quiet=True).start()
    path = srv.db_path
    assert path.exists()
    srv.stop()
    assert not path.exists()


# -- the command ---------------------------------------------------------------------------------


def test_serve_command_prints_url_credentials_and_serves(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jtel_sf.cli", "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        header: dict[str, str] = {}
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while time.monotonic() < deadline and "client secret" not in header:
            line = proc.stderr.readline()
            if not line:
                break
            key, _, value = line.strip().partition(":")
            header[key.strip()] = value.strip()
        base = header["jtel-sf local endpoint"]
        secret = header["client secret"].split()[0]
        assert header["database"] == str(tmp_path / "data" / "jtel-sf" / "local.sqlite")
        reply = requests.post(
            base + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": header["client id"],
                "client_secret": secret,
            },
        )
        assert reply.status_code == 200
        bearer = {"Authorization": "Bearer " + reply.json()["access_token"]}
        answer = requests.post(header["endpoint"], json={"jtelStatisticsPartAID": 3}, headers=bearer)
        assert answer.json()["code"] == "ok_no_record"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert "POST /services/apexrest/jtelACD/writeCallStatistics 200" in err
    assert "Stopped." in err


def test_serve_command_refuses_half_credentials() -> None:
    from click.testing import CliRunner

    from jtel_sf.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--client-id", "only-id"])
    assert result.exit_code != 0
    assert "both --client-id and --client-secret" in str(result.exception) + result.output


def test_a_rejected_answer_names_its_quarantine_record(client: Client) -> None:
    raw = b'{"CONNRES": 12}'
    answer = client.post(raw=raw).json()
    key = hashlib.sha256(raw).hexdigest()
    assert answer["quarantineKey"] == key
    record = client.get(f"/sobjects/JtelQuarantine__c/BodyKey__c/{key}")
    assert record.status_code == 200
    assert record.json()["ErrorCode__c"] == "invalid_payload"


def test_simulated_org_outcomes_answer_like_the_org(server: LocalServer, client: Client) -> None:
    hook = f"{server.base_url}/jtel-sf/test-hook"
    body = {"jtelStatisticsPartAID": 4711, "CONNRES": 1}
    assert client.http.post(hook, json={"hook": "lockTimeout"}).json() == {"hook": "lockTimeout"}
    locked = client.post(body)
    assert (locked.status_code, locked.json()["code"]) == (503, "locked")
    assert client.http.post(hook, json={"hook": "orgRefusal"}).status_code == 200
    refused = client.post(body)
    assert (refused.status_code, refused.json()["code"]) == (409, "org_refused")
    assert refused.json()["errors"][0]["code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert client.http.post(hook, json={"hook": None}).json() == {"hook": None}
    again = client.post(body)
    assert (again.status_code, again.json()["code"]) == (409, "org_refused"), "a refused body stays refused"
    record = client.get(f"/sobjects/JtelQuarantine__c/BodyKey__c/{refused.json()['quarantineKey']}")
    assert record.json()["Attempts__c"] == 2.0
    assert client.get("/sobjects/JtelCall__c/CallKey__c/4711").status_code == 404, "nothing stored"
    assert client.http.post(hook, json={"hook": "bogus"}).status_code == 400


def test_serve_simulate_option_answers_every_valid_row_with_the_retry(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    command = [sys.executable, "-m", "jtel_sf.cli", "serve", "--port", "0", "--quiet"]
    command += ["--simulate", "lock-timeout", "--client-id", "cid", "--client-secret", "csecret"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines: list[str] = []
        assert proc.stderr is not None
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = proc.stderr.readline()
            assert line, "serve stopped early: " + "".join(lines)
            lines.append(line)
        assert any("simulating:    lockTimeout" in line for line in lines), lines
        base = lines[0].split(": ", 1)[1].strip()
        token = requests.post(
            base + "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"},
            timeout=10,
        ).json()["access_token"]
        reply = requests.post(
            base + "/services/apexrest/jtelACD/writeCallStatistics",
            json={"jtelStatisticsPartAID": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert (reply.status_code, reply.json()["code"]) == (503, "locked")
    finally:
        proc.terminate()
        proc.wait(10)
