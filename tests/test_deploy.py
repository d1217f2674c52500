"""``jtel-sf deploy`` through the real entry point, the org replayed from documented SOAP/REST answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from conftest import run_cli as invoke_cli
from jtel_sf.org.deploy import LiveLine, progress_line
from jtel_sf.org.package import build_package
from test_deploy_package import WIDGET_SOURCE, write_tree

FIXTURES = Path(__file__).parent / "fixtures" / "http"
INSTANCE = "https://acme.my.salesforce.com"
TOKEN = "00D000000000000!AQ0-deploy-test-token-93be"
DEPLOY_ID = "0Af000000000001AAA"
MDAPI = f"{INSTANCE}/services/Soap/m/61.0/deployRequest"
QUERY = f"{INSTANCE}/services/data/v61.0/query"
TOOLING_QUERY = f"{INSTANCE}/services/data/v61.0/tooling/query"
AUTH = ["--instance-url", INSTANCE, "--access-token", TOKEN]


def fixture_text(name: str, **fill: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in fill.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def add_json(method: str, url: str, name: str) -> None:
    doc = json.loads(fixture_text(name))
    responses.add(method, url, json=doc["body"], status=doc["status"])


def add_soap(url: str, name: str, status: int = 200, **fill: str) -> None:
    responses.add("POST", url, body=fixture_text(name, **fill), status=status, content_type="text/xml")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code, out, err = invoke_cli(args, capsys)
    assert TOKEN not in out + err, "the access token leaked into the output"
    return code, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path / "force-app", WIDGET_SOURCE)
    monkeypatch.chdir(tmp_path)
    for name in (
        "SF_ACCESS_TOKEN",
        "SF_INSTANCE_URL",
        "SF_TARGET_ORG",
        "SF_CLIENT_ID",
        "SF_USERNAME",
        "SF_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def soap_calls(kind: str) -> list[str]:
    bodies = []
    for call in responses.calls:
        if call.request.url.startswith(MDAPI) and call.request.headers.get("SOAPAction") == kind:
            body = call.request.body
            bodies.append(body.decode() if isinstance(body, bytes) else body)
    return bodies


def soql_sent() -> list[str]:
    return [
        parse_qs(urlparse(c.request.url).query).get("q", [""])[0]
        for c in responses.calls
        if "/query" in c.request.url
    ]


@responses.activate
def test_deploy_follows_queued_in_progress_succeeded_and_prints_coverage(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    status_url = f"{MDAPI}/{DEPLOY_ID}"
    for name in (
        "mdapi_check_pending.xml",
        "mdapi_check_in_progress_components.xml",
        "mdapi_check_in_progress_components.xml",
        "mdapi_check_in_progress_tests.xml",
        "mdapi_check_succeeded.xml",
    ):
        add_soap(status_url, name)
    code, out, err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001"], capsys)
    assert code == 0, err
    # the request: the project's test classes, RunSpecifiedTests, a real deploy
    (deploy_body,) = soap_calls("deploy")
    assert "<met:testLevel>RunSpecifiedTests</met:testLevel>" in deploy_body
    assert re.findall(r"<met:runTests>(\w+)</met:runTests>", deploy_body) == ["WidgetTest"]
    assert "<met:checkOnly>False</met:checkOnly>" in deploy_body
    assert "<met:rollbackOnError>True</met:rollbackOnError>" in deploy_body
    assert len(soap_calls("checkDeployStatus")) == 5
    # live display on stderr: one line per change
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [re.sub(r"^\[\d\d:\d\d\] ", "", line) for line in progress] == [
        "Pending | components 0/0 | tests 0/0",
        "InProgress (Processing Type: CustomObject) | components 4/9 | tests 0/0",
        "InProgress (Running Test: WidgetTest.it_counts_widgets) | components 9/9 | tests 1/3",
        "Succeeded | components 9/9 | tests 3/3",
    ]
    assert out.splitlines()[0].startswith(
        f"Deploy {DEPLOY_ID}: Succeeded - components 9/9 deployed, 0 failed;"
    )
    assert "Code coverage (threshold 90%):" in out
    assert re.search(r"^  Widget\s+95\.0% \(19/20 lines\)  ok$", out, re.M)
    assert "WidgetException" not in out  # nothing executable to cover
    assert not any("/tooling/" in c.request.url for c in responses.calls)


@responses.activate
def test_component_failures_are_reported_against_the_source_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = build_package(project / "force-app", "61.0")
    lines = package.files["objects/Widget__c.object"].decode().splitlines()
    size_line = next(i for i, t in enumerate(lines, 1) if "<precision>99" in t)
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_component_failure.xml", SIZE_LINE=str(size_line))
    code, out, err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001"], capsys)
    assert code == 1
    failures = out.split("Component failures:\n", 1)[1].splitlines()
    assert failures[:3] == [
        "force-app/main/default/classes/Widget.cls:7:16: error: "
        "Variable does not exist: sizeInCm [ApexClass Widget]",
        "force-app/main/default/objects/Widget__c/fields/Size__c.field-meta.xml:5:13: error: "
        "Invalid value for precision: 99 [CustomField Widget__c.Size__c]",
        "force-app/main/default/permissionsets/WidgetAccess.permissionset-meta.xml:1:1: error: "
        "In field: field - no CustomField named Widget__c.Colour__c found [PermissionSet WidgetAccess]",
    ]
    assert f"Error: deploy {DEPLOY_ID} failed" in err
    assert "Code coverage" not in out  # no test ran


@responses.activate
def test_test_failures_show_message_stack_trace_and_tooling_coverage(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_in_progress_tests.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_test_failure.xml")
    add_json("GET", TOOLING_QUERY, "tooling_coverage_aggregate.json")
    code, out, err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001", "--json"], capsys)
    assert code == 1
    envelope = json.loads(out)
    assert envelope["status"] == 1 and envelope["name"] == "CheckFailed"
    document = envelope["result"]
    assert document["result"] == "failed"
    assert document["deployResult"]["testFailures"] == [
        {
            "className": "WidgetTest",
            "method": "it_counts_widgets",
            "message": "System.AssertException: Assertion Failed: widgets counted: Expected: 3, Actual: 2",
            "stackTrace": "Class.WidgetTest.it_counts_widgets: line 9, column 1\n"
            "Class.Widget.count: line 4, column 1",
            "frames": [
                "force-app/main/default/classes/WidgetTest.cls:9:1",
                "force-app/main/default/classes/Widget.cls:4:1",
            ],
        }
    ]
    assert document["coverage"] == [
        {
            "name": "Widget",
            "covered": 17,
            "uncovered": 3,
            "origin": "tooling",
            "percent": 85.0,
            "belowThreshold": True,
        }
    ]
    (soql,) = [q for q in soql_sent() if "ApexCodeCoverageAggregate" in q]
    assert "ApexClassOrTrigger.Name IN ('Widget')" in soql
    assert f"Error: deploy {DEPLOY_ID} failed" in err


@responses.activate
def test_test_failure_text_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_test_failure.xml")
    add_json("GET", TOOLING_QUERY, "tooling_coverage_aggregate.json")
    code, out, _err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001"], capsys)
    assert code == 1
    report = out.split("Test failures:\n", 1)[1].splitlines()
    assert report[:3] == [
        "WidgetTest.it_counts_widgets: "
        "System.AssertException: Assertion Failed: widgets counted: Expected: 3, Actual: 2",
        "    Class.WidgetTest.it_counts_widgets: line 9, column 1"
        "  (force-app/main/default/classes/WidgetTest.cls:9:1)",
        "    Class.Widget.count: line 4, column 1  (force-app/main/default/classes/Widget.cls:4:1)",
    ]
    assert re.search(r"^  Widget\s+85\.0% \(17/20 lines\)  FAIL$", out, re.M)


@responses.activate
def test_coverage_below_threshold_fails_a_successful_deploy(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded_no_coverage.xml")
    add_json("GET", TOOLING_QUERY, "tooling_coverage_aggregate.json")
    code, out, err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001"], capsys)
    assert code == 1
    assert "Error: code coverage below 90% for Widget" in err
    code, out, err = run_cli(
        ["deploy", *AUTH, "--poll-interval", "0.001", "--coverage-threshold", "85"], capsys
    )
    assert code == 0, err
    assert re.search(r"^  Widget\s+85\.0% \(17/20 lines\)  ok$", out, re.M)


@responses.activate
def test_timeout_exits_3_and_says_the_deploy_goes_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_in_progress_components.xml")
    code, out, err = run_cli(["deploy", *AUTH, "--poll-interval", "0.001", "--wait", "0.0005"], capsys)
    assert code == 3
    assert f"Error: deploy {DEPLOY_ID} was still InProgress after 0.0005 min" in err
    assert "Deployment Status" in err
    assert f"Deploy {DEPLOY_ID} still InProgress" in out


@responses.activate
def test_assign_permset_after_success_is_idempotent(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded.xml")
    add_json("GET", QUERY, "rest_query_user.json")
    add_json("GET", QUERY, "rest_query_permission_set.json")
    add_json("GET", QUERY, "rest_query_empty.json")
    add_json(
        "POST",
        f"{INSTANCE}/services/data/v61.0/sobjects/PermissionSetAssignment",
        "rest_create_permission_set_assignment.json",
    )
    args = ["deploy", *AUTH, "--poll-interval", "0.001", "--assign-permset", "int@acme.example"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "Permission set: JtelCallStatisticsIntegration assigned to int@acme.example" in out
    (post,) = [c for c in responses.calls if c.request.method == "POST" and "sobjects" in c.request.url]
    assert json.loads(post.request.body) == {
        "AssigneeId": "005000000000002AAA",
        "PermissionSetId": "0PS000000000001AAA",
    }
    assert post.request.headers["Content-Type"] == "application/json"  # not the SOAP call's text/xml
    assert "SOAPAction" not in post.request.headers
    queries = soql_sent()
    assert queries[0] == "SELECT Id, IsActive FROM User WHERE Username = 'int@acme.example'"
    assert queries[1] == "SELECT Id FROM PermissionSet WHERE Name = 'JtelCallStatisticsIntegration'"

    # second run: already assigned, nothing inserted
    responses.reset()
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded.xml")
    add_json("GET", QUERY, "rest_query_user.json")
    add_json("GET", QUERY, "rest_query_permission_set.json")
    add_json("GET", QUERY, "rest_query_permission_set_assignment.json")
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "Permission set: JtelCallStatisticsIntegration was already assigned to int@acme.example" in out
    assert not [c for c in responses.calls if c.request.method == "POST" and "sobjects" in c.request.url]


@responses.activate
def test_check_only_with_explicit_tests_and_permset_skipped(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded.xml")
    args = [
        "deploy",
        *AUTH,
        "--check-only",
        "--tests",
        "WidgetTest, OtherTest",
        "--poll-interval",
        "0.001",
        "--assign-permset",
        "int@acme.example",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    (body,) = soap_calls("deploy")
    assert "<met:checkOnly>True</met:checkOnly>" in body
    assert re.findall(r"<met:runTests>(\w+)</met:runTests>", body) == ["WidgetTest", "OtherTest"]
    assert "Permission set: skipped: --check-only changes nothing in the org" in out


@responses.activate
def test_no_test_run_sends_no_tests(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded.xml")
    code, out, err = run_cli(
        ["deploy", *AUTH, "--test-level", "NoTestRun", "--poll-interval", "0.001"], capsys
    )
    assert code == 0, err
    (body,) = soap_calls("deploy")
    assert "<met:testLevel>NoTestRun</met:testLevel>" in body
    assert "runTests" not in body
    assert "Code coverage" not in out


def test_usage_errors_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(
        ["deploy", *AUTH, "--test-level", "RunLocalTests", "--tests", "WidgetTest"], capsys
    )
    assert code == 2
    assert "--tests only goes with --test-level RunSpecifiedTests" in err
    code, _out, err = run_cli(["deploy", *AUTH, "--test-level", "Everything"], capsys)
    assert code == 2
    code, _out, err = run_cli(["deploy", "--source-dir", "nowhere", *AUTH], capsys)
    assert code == 2 and "not a directory" in err
    code, _out, err = run_cli(["deploy"], capsys)
    assert code == 2 and "no complete org credentials" in err


@responses.activate
def test_expired_session_on_deploy_is_an_auth_error(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_soap(MDAPI, "mdapi_fault_invalid_session.xml", status=500)
    monkeypatch.setenv("SF_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SF_INSTANCE_URL", INSTANCE)
    code, _out, err = run_cli(["deploy"], capsys)
    assert code == 2
    assert "deploy: the org rejected the session: INVALID_SESSION_ID" in err


def test_deploy_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from jtel_sf.commands.deploy import deploy

    code, out, _err = run_cli(["deploy", "--help"], capsys)
    assert code == 0
    for param in deploy.params:
        for opt in param.opts:
            assert opt in out, f"{opt} missing from --help"
        assert param.help, f"{param.name} has no help text"  # type: ignore[attr-defined]
    for level in ("NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg"):
        assert level in out
    assert "Exit codes" in out


class FakeTty:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_live_line_rewrites_one_line_on_a_terminal() -> None:
    from jtel_sf.org.deploy import DeployStatus

    tty = FakeTty()
    live = LiveLine(tty)  # type: ignore[arg-type]
    live.update(DeployStatus(id="x", status="InProgress", components_total=9, components_deployed=4), 5)
    live.update(DeployStatus(id="x", status="Succeeded", components_total=9, components_deployed=9), 65)
    live.finish()
    assert tty.text.count("\r") == 2 and tty.text.endswith("\n") and tty.text.count("\n") == 1
    assert "[01:05] Succeeded | components 9/9 | tests 0/0" in tty.text


def test_progress_line_shows_failures() -> None:
    from jtel_sf.org.deploy import DeployStatus

    status = DeployStatus(
        id="x",
        status="InProgress",
        state_detail="Running Test: T.m",
        components_total=9,
        components_deployed=9,
        tests_total=5,
        tests_completed=2,
        tests_failed=1,
    )
    assert progress_line(status, 125.0) == (
        "[02:05] InProgress (Running Test: T.m) | components 9/9 | tests 3/5 (1 failed)"
    )


def test_poll_interval_grows_while_nothing_changes_and_resets_on_change(project: Path) -> None:
    """The schedule of sleeps, with a fake clock (no real waiting)."""
    from jtel_sf.auth import OrgSession
    from jtel_sf.org.deploy import DeployOptions, DeployStatus, run_deploy

    sequence = ["pending"] * 4 + ["components"] * 3 + ["succeeded"]
    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        now[0] += seconds

    class Progress:
        def update(self, status: DeployStatus, elapsed: float) -> None:
            pass

        def finish(self) -> None:
            pass

    with responses.RequestsMock() as rsps:
        rsps.add("POST", MDAPI, body=fixture_text("mdapi_deploy_queued.xml"), content_type="text/xml")
        names = {
            "pending": "mdapi_check_pending.xml",
            "components": "mdapi_check_in_progress_components.xml",
            "succeeded": "mdapi_check_succeeded.xml",
        }
        for step in sequence:
            rsps.add("POST", f"{MDAPI}/{DEPLOY_ID}", body=fixture_text(names[step]), content_type="text/xml")
        org = OrgSession(instance_url=INSTANCE, access_token=TOKEN, api_version="61.0", method="access-token")
        package = build_package(project / "force-app", "61.0")
        outcome = run_deploy(
            org,
            package,
            DeployOptions(poll_interval=2.0, test_level="NoTestRun"),
            Progress(),
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert outcome.status.succeeded
    assert sleeps == [2.0, 3.0, 4.5, 6.75, 2.0, 3.0, 4.5]


def test_outcome_json_is_serialisable(project: Path) -> None:
    from jtel_sf.org.deploy import DeployOutcome, DeployStatus

    outcome = DeployOutcome(
        status=DeployStatus(id="x", status="Succeeded"), tests=[], test_level="NoTestRun", elapsed=1
    )
    document: dict[str, Any] = json.loads(json.dumps(outcome.to_json()))
    assert document["result"] == "ok"


@responses.activate
def test_expired_session_is_renewed_once_when_the_flow_can(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_url = f"{INSTANCE}/services/oauth2/token"
    second = "00D000000000000!AQ0-deploy-renewed-token-1f2a"
    for token in (TOKEN, second):
        body = fixture_text("oauth_client_credentials_ok.json", ACCESS_TOKEN=token, INSTANCE_URL=INSTANCE)
        responses.add("POST", token_url, json=json.loads(body)["body"])
    add_soap(MDAPI, "mdapi_fault_invalid_session.xml", status=500)
    add_soap(MDAPI, "mdapi_deploy_queued.xml")
    add_soap(f"{MDAPI}/{DEPLOY_ID}", "mdapi_check_succeeded.xml")
    args = [
        "deploy",
        "--instance-url",
        INSTANCE,
        "--client-id",
        "3MVGx",
        "--client-secret",
        "deploy-secret-77",
        "--poll-interval",
        "0.001",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    first, renewed = soap_calls("deploy")
    assert f"<met:sessionId>{TOKEN}</met:sessionId>" in first
    assert f"<met:sessionId>{second}</met:sessionId>" in renewed
    assert second not in out + err and "deploy-secret-77" not in out + err
