"""``jtel-sf doctor`` through the real entry point, the org replayed from documented answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from conftest import run_cli as invoke_cli
from jtel_sf.org.doctor import camel_to_key

FIXTURES = Path(__file__).parent / "fixtures" / "http"
INSTANCE = "https://acme.my.salesforce.com"
TOKEN = "00D000000000000!AQ0-doctor-test-token-0c4d"
DATA = f"{INSTANCE}/services/data/v61.0"
AUTH = ["--instance-url", INSTANCE, "--access-token", TOKEN]
ENDPOINT_SOURCE = (
    "@RestResource(urlMapping='/jtelACD/writeCallStatistics')\n"
    "global with sharing class JtelCallStatisticsResource {\n}\n"
)
ECA_SOURCE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ExternalClientApplication xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <distributionState>Local</distributionState>\n    <label>jtel</label>\n"
    "</ExternalClientApplication>\n"
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Org:
    """Routes each SOQL query (by a distinctive piece of its text) to a fixture file."""

    def __init__(self, rsps: responses.RequestsMock, routes: dict[str, str]) -> None:
        self.routes = routes
        self.queries: list[str] = []
        for path in ("query", "tooling/query"):
            rsps.add_callback("GET", f"{DATA}/{path}", callback=self.answer)

    def answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        self.queries.append(soql)
        for piece, name in self.routes.items():
            if piece in soql:
                doc = fixture(name)
                return doc["status"], {"Content-Type": "application/json"}, json.dumps(doc["body"])
        raise AssertionError(f"unexpected query: {soql}")


def add(rsps: responses.RequestsMock, method: str, url: str, name: str, status: int | None = None) -> None:
    if name.endswith(".xml"):
        body = (FIXTURES / name).read_text(encoding="utf-8")
        rsps.add(method, url, body=body, status=status or 200, content_type="text/xml")
    else:
        doc = fixture(name)
        rsps.add(method, url, json=doc["body"], status=doc["status"])


HEALTHY = {
    "FROM ApexClass": "tooling_query_apexclass_active.json",
    "FROM JtelSettings__mdt": "rest_query_jtel_settings_default.json",
    "FROM PermissionSet WHERE": "rest_query_permission_set.json",
    "FROM User WHERE Username = 'int@acme.example'": "rest_query_user.json",
    "FROM PermissionSetAssignment": "rest_query_permission_set_assignment.json",
    "CommunityNickname != null": "rest_query_count_17.json",
    "SELECT COUNT() FROM User WHERE IsActive = true AND UserType = 'Standard'": "rest_query_count_42.json",
}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code, out, err = invoke_cli(args, capsys)
    assert TOKEN not in out + err
    return code, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    classes = tmp_path / "force-app/main/default/classes"
    classes.mkdir(parents=True)
    (classes / "JtelCallStatisticsResource.cls").write_text(ENDPOINT_SOURCE, encoding="utf-8")
    ecas = tmp_path / "force-app/main/default/externalClientApps"
    ecas.mkdir(parents=True)
    (ecas / "JtelIntegration.eca-meta.xml").write_text(ECA_SOURCE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def healthy_org(rsps: responses.RequestsMock) -> Org:
    add(rsps, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")
    add(rsps, "GET", f"{DATA}/sobjects/JtelSettings__mdt/describe", "rest_describe_jtel_settings_mdt.json")
    add(rsps, "POST", f"{INSTANCE}/services/Soap/m/61.0", "mdapi_list_metadata_eca.xml")
    return Org(rsps, HEALTHY)


def test_every_check_passes_on_a_ready_org(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with responses.RequestsMock() as rsps:
        org = healthy_org(rsps)
        code, out, err = run_cli(["doctor", *AUTH, "--integration-user", "int@acme.example"], capsys)
        soap = [c.request for c in rsps.calls if c.request.method == "POST"]
    assert code == 0, out + err
    assert out.splitlines() == [
        f"PASS  API reachable: {INSTANCE}: API 61.0 (latest 62.0)",
        "PASS  Endpoint class: JtelCallStatisticsResource Active, API 61.0, "
        "serving /services/apexrest/jtelACD/writeCallStatistics",
        "PASS  Settings record: JtelSettings.Default present and valid (5 values set)",
        "PASS  Permission set: JtelCallStatisticsIntegration assigned to int@acme.example",
        "PASS  External Client App: JtelIntegration present",
        "PASS  Fallback owner: none configured: the integration user owns Tasks of unmatched agents",
        "PASS  Agent matching: 17 of 42 active users have CommunityNickname set",
    ]
    settings_query = next(q for q in org.queries if "JtelSettings__mdt" in q)
    assert settings_query == (
        "SELECT DeveloperName, AgentMatchField__c, FallbackOwnerUsername__c, RetryHttpStatus__c, "
        "SubjectTemplate__c, TaskForUnansweredCalls__c, TimeZone__c FROM JtelSettings__mdt "
        "WHERE DeveloperName = 'Default'"
    )
    (list_call,) = soap
    assert list_call.headers["SOAPAction"] == "listMetadata"
    assert b"<met:type>ExternalClientApplication</met:type>" in list_call.body


def test_failures_each_come_with_a_fix_and_exit_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routes = {
        **HEALTHY,
        "FROM ApexClass": "rest_query_empty.json",
        "FROM JtelSettings__mdt": "rest_query_jtel_settings_broken.json",
        "FROM PermissionSetAssignment": "rest_query_empty.json",
        "FROM User WHERE Username = 'old.owner@acme.example'": "rest_query_user_inactive.json",
        "CommunityNickname != null": "rest_query_empty.json",
    }
    with responses.RequestsMock() as rsps:
        add(rsps, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")
        add(
            rsps, "GET", f"{DATA}/sobjects/JtelSettings__mdt/describe", "rest_describe_jtel_settings_mdt.json"
        )
        add(rsps, "POST", f"{INSTANCE}/services/Soap/m/61.0", "mdapi_fault_invalid_type.xml", status=500)
        Org(rsps, routes)
        code, out, err = run_cli(["doctor", *AUTH, "--integration-user", "int@acme.example"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("PASS  API reachable")
    assert lines[1:3] == [
        "FAIL  Endpoint class: Apex class JtelCallStatisticsResource is not in the org",
        "      fix: Run `jtel-sf deploy` (the endpoint class and its tests are in force-app).",
    ]
    assert lines[3].startswith(
        "FAIL  Settings record: JtelSettings.Default: time_zone = 'Mars/Olympus_Mons': unknown"
    )
    assert lines[4].startswith("      fix: Use an IANA zone id")
    assert lines[5:7] == [
        "FAIL  Permission set: JtelCallStatisticsIntegration present but not assigned to int@acme.example",
        "      fix: Run `jtel-sf deploy --assign-permset int@acme.example` or assign it in Setup > Users.",
    ]
    assert lines[7].startswith(
        "WARN  External Client App: cannot list External Client Apps through the Metadata API:"
    )
    assert "INVALID_TYPE" in lines[7]
    assert lines[8].startswith("      fix: Check in Setup > External Client App Manager")
    assert lines[9:11] == [
        "FAIL  Fallback owner: fallback owner old.owner@acme.example is inactive",
        "      fix: Activate the user or choose another.",
    ]
    assert lines[11] == "FAIL  Agent matching: 0 of 42 active users have CommunityNickname set"
    assert (
        "Error: 5 of 7 checks failed: Endpoint class, Settings record, Permission set, Fallback owner, "
        "Agent matching" in err
    )


def test_json_output_and_warning_without_integration_user(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with responses.RequestsMock() as rsps:
        healthy_org(rsps)
        code, out, err = run_cli(["doctor", *AUTH, "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)["result"]
    assert document["ok"] is True
    by_name = {c["name"]: c for c in document["checks"]}
    assert by_name["Permission set"]["status"] == "warn"
    assert "--integration-user" in by_name["Permission set"]["fix"]
    assert [c["status"] for c in document["checks"]].count("pass") == 6


def test_unknown_agent_field_and_missing_settings_type(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "jtel-sf.toml").write_text('agent_match_field = "Jtel_UID__c"\n', encoding="utf-8")
    routes = {"Jtel_UID__c != null": "rest_query_invalid_field.json", **HEALTHY}
    with responses.RequestsMock() as rsps:
        add(rsps, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")
        add(rsps, "GET", f"{DATA}/sobjects/JtelSettings__mdt/describe", "rest_not_found.json")
        add(rsps, "POST", f"{INSTANCE}/services/Soap/m/61.0", "mdapi_list_metadata_eca.xml")
        Org(rsps, routes)
        code, out, _err = run_cli(["doctor", *AUTH], capsys)
    assert code == 1
    assert "FAIL  Settings record: the custom metadata type JtelSettings__mdt is not in the org" in out
    assert "FAIL  Agent matching: User has no field Jtel_UID__c" in out


def test_api_version_not_offered(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        healthy_org(rsps)
        rsps.add_callback("GET", f"{INSTANCE}/services/data/v66.0/query", callback=lambda r: (500, {}, "{}"))
        code, out, _err = run_cli(["doctor", *AUTH, "--api-version", "66.0"], capsys)
    assert code == 1
    assert out.splitlines()[0] == (
        f"FAIL  API reachable: {INSTANCE} answers (latest API 62.0) but does not offer API 66.0"
    )


def test_camel_to_key_matches_every_settings_field_of_the_record() -> None:
    describe = fixture("rest_describe_jtel_settings_mdt.json")["body"]
    keys = {camel_to_key(f["name"]) for f in describe["fields"] if f["name"].endswith("__c")}
    assert keys == {
        "agent_match_field",
        "fallback_owner_username",
        "retry_http_status",
        "subject_template",
        "task_for_unanswered_calls",
        "time_zone",
    }


# ---------------------------------------------------------------------------------------------
# every auth path through the CLI (doctor's first request proves the session works)
# ---------------------------------------------------------------------------------------------

CLIENT_SECRET = "cli-test-client-secret-55a1"
PASSWORD = "cli-test-password-x9"


def only_api_check(rsps: responses.RequestsMock) -> None:
    """Answer the versions request; every later request fails, which the checks report as FAIL."""
    add(rsps, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")


def token_answer(name: str) -> dict[str, Any]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    text = text.replace("{{ACCESS_TOKEN}}", TOKEN).replace("{{INSTANCE_URL}}", INSTANCE)
    return json.loads(text)["body"]


@pytest.mark.parametrize(
    ("args", "env", "token_url", "token_fixture", "method_warning"),
    [
        (AUTH, {}, None, None, None),
        ([], {"SF_ACCESS_TOKEN": TOKEN, "SF_INSTANCE_URL": INSTANCE}, None, None, None),
        (
            ["--instance-url", INSTANCE, "--client-id", "3MVGcli", "--client-secret", CLIENT_SECRET],
            {},
            f"{INSTANCE}/services/oauth2/token",
            "oauth_client_credentials_ok.json",
            None,
        ),
        (
            ["--client-id", "3MVGcli", "--username", "u@acme.example", "--password", PASSWORD],
            {"SF_CLIENT_SECRET": CLIENT_SECRET},
            "https://login.salesforce.com/services/oauth2/token",
            "oauth_password_ok.json",
            "retired",
        ),
    ],
    ids=["flags", "environment", "client-credentials", "password"],
)
def test_auth_paths_through_the_cli(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    token_url: str | None,
    token_fixture: str | None,
    method_warning: str | None,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        if token_url and token_fixture:
            rsps.add("POST", token_url, json=token_answer(token_fixture))
        only_api_check(rsps)
        code, out, err = run_cli(["doctor", *args], capsys)
        api_call = next(c for c in rsps.calls if c.request.url == f"{INSTANCE}/services/data/")
    assert api_call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert out.startswith("PASS  API reachable")
    assert code == 1  # the other checks found nothing to talk to
    for secret in (CLIENT_SECRET, PASSWORD):
        assert secret not in out + err
    if method_warning:
        assert method_warning in err
    else:
        assert "retired" not in err


def test_target_org_through_the_cli_uses_the_sf_cli(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sf = bin_dir / "sf"
    answer = json.dumps({"status": 0, "result": {"accessToken": TOKEN, "instanceUrl": INSTANCE}})
    sf.write_text(f"#!/bin/sh\necho '{answer}'\n", encoding="utf-8")
    sf.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with responses.RequestsMock() as rsps:
        only_api_check(rsps)
        code, out, _err = run_cli(["doctor", "--target-org", "acme"], capsys)
        assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert out.startswith("PASS  API reachable")
    assert code == 1  # the other checks found nothing to talk to


@pytest.mark.parametrize(
    ("fixture_name", "message"),
    [
        ("oauth_invalid_client.json", "invalid_client (invalid client credentials)"),
        ("oauth_invalid_grant_client_credentials.json", "invalid_grant (no client credentials user enabled)"),
    ],
)
def test_bad_client_credentials_exit_2_with_a_clear_message(
    project: Path, capsys: pytest.CaptureFixture[str], fixture_name: str, message: str
) -> None:
    with responses.RequestsMock() as rsps:
        doc = fixture(fixture_name)
        rsps.add("POST", f"{INSTANCE}/services/oauth2/token", json=doc["body"], status=doc["status"])
        code, out, err = run_cli(
            [
                "doctor",
                "--instance-url",
                INSTANCE,
                "--client-id",
                "3MVGcli",
                "--client-secret",
                CLIENT_SECRET,
            ],
            capsys,
        )
    assert code == 2
    assert out == ""
    assert err.splitlines()[0] == (
        "Error: client credentials: Salesforce refused the login at "
        f"{INSTANCE}/services/oauth2/token: {message}"
    )
    assert err.splitlines()[1].startswith("Hint: ")
    assert CLIENT_SECRET not in err


def test_expired_token_through_the_cli_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with responses.RequestsMock() as rsps:
        add(rsps, "GET", f"{INSTANCE}/services/data/", "rest_invalid_session.json")
        code, out, err = run_cli(["doctor", *AUTH], capsys)
    assert code == 2
    assert out == ""
    assert "Error: the org rejected the session (access-token): HTTP 401: INVALID_SESSION_ID" in err


def test_jwt_bearer_through_the_cli(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "jwt.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("SF_JWT_KEY_FILE", str(key_file))
    with responses.RequestsMock() as rsps:
        rsps.add(
            "POST",
            "https://test.salesforce.com/services/oauth2/token",
            json=token_answer("oauth_jwt_ok.json"),
        )
        only_api_check(rsps)
        args = [
            "doctor",
            "--client-id",
            "3MVGjwt",
            "--username",
            "int@acme.example",
            "--login-domain",
            "test",
        ]
        code, out, err = run_cli(args, capsys)
        assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert out.startswith("PASS  API reachable")
    assert code == 1
    key_lines = key_file.read_text().splitlines()[1:-1]
    assert not any(line in out + err for line in key_lines)


class _FieldPermissionsOrg:
    """Answers the FieldPermissions query of the match-field check with the given grants."""

    def __init__(self, grants: list[dict[str, Any]]) -> None:
        self.grants = grants
        self.queries: list[str] = []

    def query(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        return self.grants


@pytest.mark.parametrize(
    ("field_name", "grants", "fails"),
    [
        ("CommunityNickname", [], False),  # required: takes no field permissions, nothing to check
        ("EmployeeNumber", [{"PermissionsRead": True}], False),
        ("EmployeeNumber", [], True),
        ("Jtel_UID__c", [{"PermissionsRead": False}], True),
    ],
)
def test_doctor_says_when_the_integration_user_cannot_read_the_match_field(
    field_name: str, grants: list[dict[str, Any]], fails: bool
) -> None:
    from types import SimpleNamespace

    from jtel_sf.org.doctor import FAIL, match_field_unreadable
    from jtel_sf.settings import Settings

    org = _FieldPermissionsOrg(grants)
    ctx = SimpleNamespace(settings=Settings(), org=org)
    result = match_field_unreadable(ctx, field_name)  # type: ignore[arg-type]
    assert (result is not None) is fails
    if result is not None:
        assert result.status == FAIL and f"User.{field_name}" in result.detail
    if field_name != "CommunityNickname":
        assert org.queries == [
            f"SELECT PermissionsRead FROM FieldPermissions WHERE Field = 'User.{field_name}' "
            "AND Parent.Name = 'JtelCallStatisticsIntegration'"
        ]
