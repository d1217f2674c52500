"""``jtel-sf doctor`` through the real entry point: against the fake org (tests/fakes/org.py, built from
Salesforce documentation, not recorded), and its auth paths against documented answers (responses)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from conftest import run_cli as invoke_cli
from fakes.org import FakeOrg
from jtel_sf.org.doctor import camel_to_key

REPO = Path(__file__).resolve().parents[1]

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


def add(rsps: responses.RequestsMock, method: str, url: str, name: str, status: int | None = None) -> None:
    if name.endswith(".xml"):
        body = (FIXTURES / name).read_text(encoding="utf-8")
        rsps.add(method, url, body=body, status=status or 200, content_type="text/xml")
    else:
        doc = fixture(name)
        rsps.add(method, url, json=doc["body"], status=doc["status"])


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


INTEGRATION_USER = "jtel.integration@acme.example"
JTEL_ID, JTEL_SECRET = "3MVGjtel-consumer-key", "jtel-consumer-secret-5f1e"


@pytest.fixture
def fake() -> Iterator[FakeOrg]:
    with FakeOrg() as org:
        yield org


@pytest.fixture
def jtel_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "force-app", tmp_path / "force-app")
    shutil.copy(REPO / "sfdx-project.json", tmp_path / "sfdx-project.json")
    monkeypatch.chdir(tmp_path)
    for name in (
        "SF_ACCESS_TOKEN",
        "SF_INSTANCE_URL",
        "SF_TARGET_ORG",
        "SF_CLIENT_ID",
        "SF_CLIENT_SECRET",
        "JTEL_CLIENT_ID",
        "JTEL_CLIENT_SECRET",
        "SF_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def doctor_args(org: FakeOrg, *extra: str) -> list[str]:
    return ["doctor", "--instance-url", org.url, "--access-token", org.admin_token, *extra]


def full(org: FakeOrg) -> list[str]:
    return doctor_args(
        org,
        "--integration-user",
        INTEGRATION_USER,
        "--jtel-client-id",
        JTEL_ID,
        "--jtel-client-secret",
        JTEL_SECRET,
    )


def lines_by_check(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        match = re.match(r"^(PASS|FAIL|WARN|SKIP|NOT RUN)  ([^:]+): (.*)$", line)
        if match:
            found[match.group(2)] = f"{match.group(1)} {match.group(3)}"
    return found


def test_every_named_check_passes_on_a_ready_org(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    code, out, err = invoke_cli(full(fake), capsys)
    assert code == 0, out + err
    checks = lines_by_check(out)
    assert list(checks) == [
        "API reachable",
        "Endpoint class",
        "Settings record",
        "Permission sets",
        "Integration user",
        "External Client App",
        "Client credentials token",
        "Endpoint answers jtel",
        "Activity sharing",
        "Fallback owner",
        "Agent matching",
        "Quarantine backlog",
        "Daily API usage",
        "Storage",
        "Retention job",
    ]
    assert checks["API reachable"] == f"PASS {fake.url}: API 68.0 (latest 68.0)"
    assert checks["Permission sets"] == (
        f"PASS JtelCallStatisticsIntegration, JtelCallStatisticsRecordAccess assigned to {INTEGRATION_USER}"
    )
    assert checks["Integration user"] == (
        f"PASS {INTEGRATION_USER}: active, licence Salesforce Integration, "
        "profile Minimum Access - API Only Integrations"
    )
    assert checks["Client credentials token"] == f"PASS token issued for {INTEGRATION_USER}"
    assert checks["Endpoint answers jtel"].startswith(
        "PASS GET /services/apexrest/jtelACD/writeCallStatistics answered 405"
    )
    assert checks["Activity sharing"].startswith("PASS Activities: Controlled by Parent")
    assert checks["Daily API usage"] == "PASS 2000 of 100000 API requests used in the last 24 h (2%)"
    assert checks["Storage"].startswith("PASS JtelCall__c 0, JtelCallRow__c 0, JtelQuarantine__c 0 records")
    assert checks["Retention job"].startswith("PASS 'jtel retention' scheduled (0 0 3 * * ?), next run")
    assert JTEL_SECRET not in out + err and fake.admin_token not in out + err
    # the endpoint check stored nothing: no POST reached the Apex REST resource
    assert not [r for r in fake.requests if r[0] == "POST" and r[1].startswith("/services/apexrest/")]


def test_each_failure_names_its_fix_and_exits_1(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    user = fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    record_access = next(
        p for p in fake.rows("PermissionSet") if p["Name"] == "JtelCallStatisticsRecordAccess"
    )
    fake.tables["PermissionSetAssignment"] = [
        a for a in fake.rows("PermissionSetAssignment") if a["PermissionSetId"] != record_access["Id"]
    ]
    integration = next(p for p in fake.rows("PermissionSet") if p["Name"] == "JtelCallStatisticsIntegration")
    fake.tables["PermissionSetAssignment"] = [
        a for a in fake.rows("PermissionSetAssignment") if a["PermissionSetId"] != integration["Id"]
    ]
    user["Profile"] = {"Name": "System Administrator", "UserLicense": {"Name": "Salesforce"}}
    next(r for r in fake.rows("EntityDefinition", tooling=True))["InternalSharingModel"] = "Private"
    fake.insert("JtelQuarantine__c", {"Status__c": "New", "Reason__c": "org_refused"})
    fake.limits["DailyApiRequests"] = {"Max": 100000, "Remaining": 500}
    code, out, err = invoke_cli(full(fake), capsys)
    assert code == 1
    checks = lines_by_check(out)
    assert checks["Permission sets"] == (
        "FAIL JtelCallStatisticsIntegration, JtelCallStatisticsRecordAccess not assigned to "
        + INTEGRATION_USER
    )
    assert checks["Integration user"].startswith("WARN")
    assert checks["Endpoint answers jtel"].startswith("FAIL answered HTTP 403")
    assert checks["Activity sharing"].startswith("FAIL Activities: Private")
    assert checks["Quarantine backlog"] == "WARN 1 quarantined request(s) waiting"
    assert checks["Daily API usage"].startswith("WARN 99500 of 100000")
    assert "fix: Run `jtel-sf deploy --assign-permset" in out
    assert "fix: Review them: `jtel-sf quarantine list`." in out
    assert "Error: 3 of 15 checks failed or could not run" in err


def test_client_credentials_without_the_policy_fails_with_invalid_grant(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    fake.clients[JTEL_ID]["run_as"] = None  # the policy that names the run-as user is missing
    code, out, _err = invoke_cli(full(fake), capsys)
    assert code == 1
    checks = lines_by_check(out)
    assert checks["Client credentials token"] == (
        "FAIL the org refused jtel's token request: invalid_grant (no client credentials user enabled)"
    )
    assert "enable the Client Credentials Flow and set its Run As user" in out
    assert checks["Endpoint answers jtel"].startswith("SKIP")


def test_checks_not_asked_for_are_skipped_not_passed(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    code, out, err = invoke_cli(doctor_args(fake), capsys)
    assert code == 0, out + err
    checks = lines_by_check(out)
    assert checks["Client credentials token"] == "SKIP not asked for"
    assert checks["Endpoint answers jtel"].startswith("SKIP")
    assert checks["Permission sets"].startswith("WARN")


def test_an_org_lost_mid_run_is_not_run_never_pass_and_exits_5(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    from jtel_sf.org import doctor as doctor_mod

    original = doctor_mod.check_settings_record

    def lose_the_org(ctx: Any) -> Any:
        fake.down = True
        return original(ctx)

    monkeypatch.setattr(
        doctor_mod,
        "CHECKS",
        tuple((name, lose_the_org if check is original else check) for name, check in doctor_mod.CHECKS),
    )
    code, out, err = invoke_cli(full(fake), capsys)
    assert code == 5
    checks = lines_by_check(out)
    assert checks["API reachable"].startswith("PASS") and checks["Endpoint class"].startswith("PASS")
    host = fake.url.removeprefix("http://")
    assert checks["Settings record"].startswith(f"NOT RUN not run: cannot reach {host}: ")
    assert all(
        v.startswith("NOT RUN") for k, v in checks.items() if k not in ("API reachable", "Endpoint class")
    )
    assert err.startswith(f"Error: cannot reach {host}: ")


def test_a_check_the_org_refuses_names_the_cause(
    jtel_project: Path, fake: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    del fake.tables["JtelQuarantine__c"]
    fake.tables.pop("JtelSettings__mdt")
    code, out, _err = invoke_cli(full(fake), capsys)
    assert code == 1
    checks = lines_by_check(out)
    assert checks["Settings record"] == "FAIL the custom metadata type JtelSettings__mdt is not in the org"
    assert checks["Quarantine backlog"].startswith("NOT RUN not run: missing feature or object: ")
    assert "INVALID_TYPE" in checks["Quarantine backlog"]


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
    """Answer the versions request (and /limits, which proves the session); every later request gets
    no answer, which the doctor reports as "not run" with exit 5 (it never reports PASS for them)."""
    rsps.add("GET", f"{INSTANCE}/services/data/", json=fixture("rest_versions.json")["body"])
    rsps.add("GET", f"{INSTANCE}/services/data/", json=fixture("rest_versions.json")["body"])
    rsps.add(
        "GET", f"{INSTANCE}/services/data/v62.0/limits", json={"DailyApiRequests": {"Max": 1, "Remaining": 1}}
    )


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
    assert code == 5  # the other checks got no answer: not run
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
    assert code == 5  # the other checks got no answer: not run


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
    assert code == 5
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


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([], "WARN 'jtel retention' is not scheduled: rows are not deleted after 90 days"),
        ([{"State": "ERROR"}], "FAIL 'jtel retention' is scheduled but will not run (state ERROR)"),
        (
            [{"State": "WAITING", "NextFireTime": "2026-12-02T02:00:00.000+0000"}],
            "PASS 'jtel retention' scheduled",
        ),
    ],
)
def test_the_retention_job_is_found_by_its_schedule_name(
    jtel_project: Path,
    fake: FakeOrg,
    capsys: pytest.CaptureFixture[str],
    jobs: list[dict[str, Any]],
    expected: str,
) -> None:
    fake.seed_jtel(INTEGRATION_USER, JTEL_ID, JTEL_SECRET)
    fake.tables["CronTrigger"].clear()
    for job in jobs:
        fake.insert(
            "CronTrigger",
            {"CronJobDetail": {"Name": "jtel retention"}, "CronExpression": "0 0 3 * * ?", **job},
        )
    fake.insert("CronTrigger", {"CronJobDetail": {"Name": "someone else"}, "State": "WAITING"})
    _code, out, err = invoke_cli(full(fake), capsys)
    assert lines_by_check(out)["Retention job"].startswith(expected), out + err
