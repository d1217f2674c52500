"""Real Salesforce clients, unmodified, against ``serve --tls`` (issue 11 point 3).

simple-salesforce talks HTTPS only and trusts the CA the server generated (``session.verify``); the
sf CLI test runs only where ``sf`` is installed. Resource shapes follow the REST API Developer Guide
(built from that documentation, not recorded from Salesforce).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from conftest import five_rows
from jtel_sf.local.server import LocalServer


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(db_path=tmp_path_factory.mktemp("tls") / "db.sqlite", quiet=True, tls=True) as server:
        yield server


def bearer(server: LocalServer, **kwargs: Any) -> str:
    reply = requests.post(server.token_url, verify=str(server.ca_path), timeout=10, **kwargs)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


@pytest.fixture(scope="module")
def sf(tls_server: LocalServer) -> Iterator[Salesforce]:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify (psf/requests#3829):
    # point them at the generated CA too, as a user of a machine with those set would.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_path))
        env.delenv("CURL_CA_BUNDLE", raising=False)
        yield _client(tls_server)


def _client(tls_server: LocalServer) -> Salesforce:
    session = requests.Session()
    session.verify = str(tls_server.ca_path)
    token = bearer(
        tls_server,
        data={"grant_type": "client_credentials"},
        auth=(tls_server.client_id, tls_server.client_secret),  # HTTP Basic, as simple-salesforce sends it
    )
    return Salesforce(instance_url=tls_server.base_url, session_id=token, session=session, version="61.0")


def test_the_server_speaks_https_with_the_generated_ca(tls_server: LocalServer) -> None:
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    assert tls_server.ca_path is not None and "BEGIN CERTIFICATE" in tls_server.ca_path.read_text()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.base_url + "/services/data/", timeout=10)  # not trusted without the CA
    versions = requests.get(
        tls_server.base_url + "/services/data/", verify=str(tls_server.ca_path), timeout=10
    )
    assert versions.status_code == 200  # the Versions resource needs no session
    assert {"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"} in versions.json()


def test_client_authentication_by_http_basic_and_by_form(tls_server: LocalServer) -> None:
    creds = (tls_server.client_id, tls_server.client_secret)
    assert bearer(tls_server, data={"grant_type": "client_credentials"}, auth=creds)
    form = {"grant_type": "client_credentials", "client_id": creds[0], "client_secret": creds[1]}
    assert bearer(tls_server, data=form)
    wrong = requests.post(
        tls_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(creds[0], "wrong"),
        verify=str(tls_server.ca_path),
        timeout=10,
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    both = requests.post(
        tls_server.token_url, data=form, auth=creds, verify=str(tls_server.ca_path), timeout=10
    )  # RFC 6749 2.3: one method per request
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_simple_salesforce_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Contact.create({"LastName": "Client", "Phone": "030 1234"})
    assert created["success"] and created["id"].startswith("003")
    record = sf.Contact.get(created["id"])
    assert record["LastName"] == "Client" and record["attributes"]["type"] == "Contact"
    assert sf.Contact.update(created["id"], {"Phone": "030 9999"}) == 204
    assert sf.Contact.get(created["id"])["Phone"] == "030 9999"
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(created["id"])
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.JtelCall__c.create({"Name": "1", "CallKey__c": "dup"})
        sf.JtelCall__c.create({"Name": "1", "CallKey__c": "dup"})
    assert refused.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_simple_salesforce_apexecute_query_and_relationship_fields(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Acme"})["id"]
    for row in five_rows(7100, account):
        answer = sf.apexecute("jtelACD/writeCallStatistics", method="POST", data=row)
        assert answer["status"] == "written", answer
    rows = sf.query(
        "SELECT Id, RowKey__c, Call__r.CallKey__c, Call__r.RowCount__c FROM JtelCallRow__c "
        "WHERE Call__r.CallKey__c = '7100' ORDER BY dtCallAlert__c DESC NULLS LAST, RowKey__c LIMIT 10"
    )
    assert rows["totalSize"] == 5 and rows["done"] is True
    assert {r["Call__r"]["CallKey__c"] for r in rows["records"]} == {"7100"}
    assert rows["records"][0]["Call__r"]["RowCount__c"] == 5
    count = sf.query("SELECT COUNT() FROM JtelCallRow__c WHERE Call__r.CallKey__c = '7100'")
    assert count["totalSize"] == 5 and count["records"] == []
    task = sf.query(f"SELECT Id, Subject, What.Name FROM Task WHERE WhatId = '{account[:15]}'")
    assert task["totalSize"] == 1 and task["records"][0]["What"]["Name"] == "Acme"  # 15-char Id matches
    calls = sf.query_all("SELECT CallKey__c FROM JtelCall__c WHERE Answered__c = true AND RowCount__c >= 5")
    assert [c["CallKey__c"] for c in calls["records"]] == ["7100"]


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Id FRM Account", "MALFORMED_QUERY", "unexpected token: 'FRM'"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected end of query"),
        ("SELECT Nope FROM Account", "INVALID_FIELD", "No such column 'Nope' on entity 'Account'"),
        ("SELECT Id FROM Nothing__c", "INVALID_TYPE", "sObject type 'Nothing__c' is not supported"),
        (
            "SELECT Call__x.Name FROM JtelCallRow__c",
            "INVALID_FIELD",
            "Didn't understand relationship 'Call__x'",
        ),
    ],
)
def test_refused_queries_answer_like_salesforce(sf: Salesforce, soql: str, code: str, text: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query(soql)
    error = refused.value.content[0]
    assert error["errorCode"] == code and text in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_soql_conditions_order_limit_offset(sf: Salesforce) -> None:
    for name in ("b-lead", "A-lead", "c-lead"):
        sf.Lead.create({"LastName": name, "Company": "Co" if name != "c-lead" else "Other"})
    names = lambda q: [r["LastName"] for r in sf.query(q)["records"]]  # noqa: E731
    assert names("SELECT LastName FROM Lead WHERE LastName LIKE '%-lead' ORDER BY LastName") == [
        "A-lead",
        "b-lead",
        "c-lead",
    ]
    assert names("SELECT LastName FROM Lead WHERE company = 'co' ORDER BY LastName DESC") == [
        "b-lead",
        "A-lead",
    ]
    assert names("SELECT LastName FROM Lead WHERE LastName IN ('a-lead', 'c-lead') ORDER BY LastName") == [
        "A-lead",
        "c-lead",
    ]
    assert names("SELECT LastName FROM Lead WHERE NOT (Company = 'Co' OR LastName = 'x')") == ["c-lead"]
    assert names("SELECT LastName FROM Lead ORDER BY LastName LIMIT 1 OFFSET 1") == ["b-lead"]


def test_describe_global_and_sobject_describe(sf: Salesforce) -> None:
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert {"JtelCall__c", "JtelCallRow__c", "JtelQuarantine__c", "Task", "Contact", "User"} <= names
    described = sf.JtelCallRow__c.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Call__c"]["type"] == "reference" and fields["Call__c"]["referenceTo"] == ["JtelCall__c"]
    assert fields["Call__c"]["relationshipName"] == "Call__r"
    assert fields["RowKey__c"]["externalId"] is True
    assert described["keyPrefix"] == "a0K"
    call = sf.JtelCall__c.describe()
    assert {"childSObject": "JtelCallRow__c", "relationshipName": "Rows"}.items() <= call[
        "childRelationships"
    ][0].items()
    assert sf.User.describe()["deletable"] is False


def test_limits_count_the_requests_served(sf: Salesforce, tls_server: LocalServer) -> None:
    before = sf.limits()["DailyApiRequests"]
    sf.query("SELECT COUNT() FROM Account")
    after = sf.limits()["DailyApiRequests"]
    assert (
        after["Max"] == before["Max"] and before["Remaining"] - after["Remaining"] == 2
    )  # the query + limits
    resources = requests.get(
        tls_server.base_url + "/services/data/v61.0/",
        headers=sf.headers,
        verify=str(tls_server.ca_path),
        timeout=10,
    ).json()
    assert resources["query"] == "/services/data/v61.0/query" and "sobjects" in resources


def _sf_command() -> list[str]:
    """The sf CLI: the one on PATH, else the project's pinned one (Node 22 and @salesforce/cli from
    npm into the tool cache, tests/sf_cli, as the packager comparison uses); skip when neither."""
    if shutil.which("sf"):
        return ["sf"]
    from sf_cli import ensure_sf_cli

    cli = ensure_sf_cli()
    if isinstance(cli, str):
        pytest.skip(f"no Salesforce CLI: {cli}")
    return cli.command()


def test_sf_cli_api_request_and_data_query(tmp_path: Path) -> None:
    sf = _sf_command()
    with LocalServer(db_path=tmp_path / "db.sqlite", quiet=True, tls=True) as server:
        token = bearer(
            server,
            data={
                "grant_type": "client_credentials",
                "client_id": server.client_id,
                "client_secret": server.client_secret,
            },
        )
        env = {
            **os.environ,
            "HOME": str(tmp_path),  # the CLI's auth files stay in the test's folder
            "SF_ACCESS_TOKEN": token,
            "NODE_EXTRA_CA_CERTS": str(server.ca_path),
            "SF_DISABLE_TELEMETRY": "true",
            "SF_AUTOUPDATE_DISABLE": "true",
        }

        def sf_cli(*args: str) -> dict[str, Any]:
            command = [*sf, *args, "--json"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
            return json.loads(done.stdout)

        sf_cli(
            "org",
            "login",
            "access-token",
            "--instance-url",
            server.base_url,
            "--alias",
            "local",
            "--no-prompt",
        )
        limits = subprocess.run(
            [*sf, "api", "request", "rest", "/services/data/v61.0/limits", "--target-org", "local"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert limits.returncode == 0 and "DailyApiRequests" in limits.stdout, limits.stderr
        body = json.dumps({"jtelStatisticsPartAID": 4711, "CONNRES": 1})
        rest = (*sf, "api", "request", "rest", "/services/apexrest/jtelACD/writeCallStatistics")
        posted = subprocess.run(
            [*rest, "--method", "POST", "--body", body, "--target-org", "local"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert posted.returncode == 0 and '"ok_no_record"' in posted.stdout, posted.stdout + posted.stderr
        queried = sf_cli("data", "query", "--query", "SELECT Id, Username FROM User", "--target-org", "local")
        assert queried["result"]["totalSize"] == 4
        rows = sf_cli(
            "data",
            "query",
            "--query",
            "SELECT RowKey__c, Call__r.CallKey__c FROM JtelCallRow__c WHERE Call__r.CallKey__c = '4711'",
            "--target-org",
            "local",
        )
        assert [r["Call__r"]["CallKey__c"] for r in rows["result"]["records"]] == ["4711"]


def test_serve_tls_command_prints_its_ca_and_writes_the_ready_file(tmp_path: Path) -> None:
    from test_serve_load import start_serve, stop_serve

    server = start_serve(tmp_path, "--tls", "--json")
    try:
        assert server.proc.stdout is not None
        lines = []  # --json: the ready file's document as the result of the JSON envelope on stdout
        while (line := server.proc.stdout.readline()) and line.rstrip() != "}":
            lines.append(line)
        printed = json.loads("".join(lines) + "}")["result"]
        assert printed == server.info
        ca = server.info["caPath"]
        assert server.info["baseUrl"].startswith("https://") and Path(ca).is_file()
        reply = requests.post(
            server.info["tokenUrl"],
            data={"grant_type": "client_credentials"},
            auth=(server.info["clientId"], server.info["clientSecret"]),
            verify=ca,
            timeout=10,
        )
        assert reply.status_code == 200 and reply.json()["instance_url"] == server.info["baseUrl"]
    finally:
        err = stop_serve(server)
    assert f"CA:            {ca}" in err
    assert not Path(ca).exists()  # the throw-away CA goes with the server


def test_query_columns_as_the_sf_cli_reads_them(sf: Salesforce, tls_server: LocalServer) -> None:
    # sf data query asks for the columns first (forcedotcom/plugin-data retrieveColumns)
    reply = requests.get(
        tls_server.base_url + "/services/data/v61.0/query",
        params={"q": "SELECT Id, RowKey__c, Call__r.CallKey__c FROM JtelCallRow__c", "columns": "true"},
        headers=sf.headers,
        verify=str(tls_server.ca_path),
        timeout=10,
    ).json()
    names = [(c["columnName"], [j["columnName"] for j in c["joinColumns"]]) for c in reply["columnMetadata"]]
    assert names == [("Id", []), ("RowKey__c", []), ("Call__r", ["CallKey__c"])]
    assert reply["entityName"] == "JtelCallRow__c" and reply["idSelected"] is True
