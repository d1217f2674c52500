"""``jtel-sf deploy`` end to end through the CLI entry point against the fake org
(tests/fakes/org.py: built from the Metadata API Developer Guide, not recorded from Salesforce)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli as invoke_cli
from fakes.org import DeployScript, FakeOrg
from jtel_sf.org.deploy import LiveLine, progress_line
from test_deploy_package import WIDGET_SOURCE, XML, write_tree

REPO = Path(__file__).resolve().parents[1]
INTEGRATION_USER = "jtel.integration@acme.example"
HELPER_SOURCE = {
    # an @IsTest helper without test methods: never measured, never named in RunSpecifiedTests
    "test/default/classes/WidgetTestData.cls": (
        "@IsTest\npublic class WidgetTestData {\n"
        "    public static Integer seed() {\n        return 3;\n    }\n}\n"
    ),
    "test/default/classes/WidgetTestData.cls-meta.xml": XML
    + '<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata">\n'
    "    <apiVersion>61.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n",
}
PERMSETS = ("JtelCallStatisticsIntegration", "JtelCallStatisticsRecordAccess")


@pytest.fixture
def org() -> Iterator[FakeOrg]:
    with FakeOrg() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SF_ACCESS_TOKEN",
        "SF_INSTANCE_URL",
        "SF_TARGET_ORG",
        "SF_CLIENT_ID",
        "SF_CLIENT_SECRET",
        "SF_USERNAME",
        "SF_PASSWORD",
        "SF_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def widget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path / "force-app", {**WIDGET_SOURCE, **HELPER_SOURCE})
    (tmp_path / "sfdx-project.json").write_text('{"packageDirectories": [{"path": "force-app"}]}\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def jtel_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this project's force-app: product classes, tests and @IsTest helpers."""
    shutil.copytree(REPO / "force-app", tmp_path / "force-app")
    shutil.copy(REPO / "sfdx-project.json", tmp_path / "sfdx-project.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def auth(org: FakeOrg) -> list[str]:
    return ["--instance-url", org.url, "--access-token", org.admin_token]


def run(args: list[str], org: FakeOrg, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code, out, err = invoke_cli(args, capsys)
    assert org.admin_token not in out + err, "the access token leaked into the output"
    return code, out, err


FAST = ["--poll-interval", "0.01"]


def test_successful_deploy_with_test_helpers_exits_0_and_assigns_both_permission_sets(
    jtel_project: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's live bug: helpers (JtelTestData, JtelCase*) were demanded coverage; the org never
    reports any for @IsTest classes, so every successful deploy exited 1 and skipped the permsets."""
    user = org.add_user(INTEGRATION_USER)
    code, out, err = run(["deploy", *auth(org), *FAST, "--assign-permset", INTEGRATION_USER], org, capsys)
    assert code == 0, out + err
    assert org.deploy_requests == 1
    deploy_id = next(iter(org.deploys))
    # the id is printed before the first status poll ends the run
    assert f"Deploy id {deploy_id} (deploy); re-attach any time: jtel-sf deploy --job-id {deploy_id}" in err
    assert err.index(f"Deploy id {deploy_id}") < err.index("Succeeded")
    named = org.deploys[deploy_id].run_tests
    assert "JtelTestData" not in named and "JtelContractCaseRunner" not in named
    assert "JtelLocalTimeTest" in named
    coverage_block = out.split("Code coverage", 1)[1]
    for helper in ("JtelTestData", "JtelCaseChecks", "JtelCaseExpander", "JtelContractCaseRunner"):
        assert helper not in coverage_block
    assert "JtelCallStatisticsService" in coverage_block
    for name in PERMSETS:
        assert f"Permission set: {name} assigned to {INTEGRATION_USER}" in out
    assigned = {
        a["PermissionSetId"] for a in org.rows("PermissionSetAssignment") if a["AssigneeId"] == user["Id"]
    }
    assert assigned == {p["Id"] for p in org.rows("PermissionSet") if p["Name"] in PERMSETS}


def test_assign_permset_is_idempotent(widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]) -> None:
    org.add_user(INTEGRATION_USER)
    for name in PERMSETS:
        org.insert("PermissionSet", {"Name": name})
    args = ["deploy", *auth(org), *FAST, "--assign-permset", INTEGRATION_USER]
    assert run(args, org, capsys)[0] == 0
    code, out, err = run(args, org, capsys)
    assert code == 0, err
    for name in PERMSETS:
        assert f"Permission set: {name} was already assigned to {INTEGRATION_USER}" in out
    assert len(org.rows("PermissionSetAssignment")) == 2


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda org: None, f"no user with username {INTEGRATION_USER}"),
        (lambda org: org.add_user(INTEGRATION_USER, active=False), f"user {INTEGRATION_USER} is inactive"),
    ],
)
def test_assign_permset_checks_the_user_before_anything_is_deployed(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str], setup: Any, message: str
) -> None:
    setup(org)
    code, _out, err = run(["deploy", *auth(org), *FAST, "--assign-permset", INTEGRATION_USER], org, capsys)
    assert code == 2
    assert message in err
    assert org.deploy_requests == 0


def test_helper_is_neither_run_nor_measured(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["deploy", *auth(org), *FAST, "--json"], org, capsys)
    assert code == 0, err
    document = json.loads(out)["result"]
    assert document["tests"] == ["WidgetTest"]
    assert [c["name"] for c in document["coverage"]] == ["Widget"]  # not WidgetTestData, not the exception
    assert document["orgCoverageRule"] == 75.0


def test_component_failure_is_reported_against_the_source_and_exits_1(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_script(
        DeployScript(
            component_failures=[
                {
                    "type": "ApexClass",
                    "name": "Widget",
                    "file": "classes/Widget.cls",
                    "line": 4,
                    "column": 16,
                    "problem": "Variable does not exist: sizeInCm",
                }
            ]
        )
    )
    org.add_user(INTEGRATION_USER)
    code, out, err = run(["deploy", *auth(org), *FAST, "--assign-permset", INTEGRATION_USER], org, capsys)
    assert code == 1
    assert (
        "force-app/main/default/classes/Widget.cls:4:16: error: Variable does not exist: sizeInCm "
        "[ApexClass Widget]" in out
    )
    assert "Permission set: skipped: the deploy did not succeed" in out
    assert re.search(r"Error: deploy 0Af\w+ failed", err)
    assert not org.rows("PermissionSetAssignment")


def test_test_failure_shows_message_and_located_stack_and_exits_1(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_script(
        DeployScript(test_failures={"WidgetTest.it_counts_widgets": "System.AssertException: no widgets yet"})
    )
    code, out, _err = run(["deploy", *auth(org), *FAST], org, capsys)
    assert code == 1
    assert "WidgetTest.it_counts_widgets: System.AssertException: no widgets yet" in out
    assert "(force-app/main/default/classes/WidgetTest.cls:3:1)" in out
    assert "tests 0/1 passed, 1 failed" in out


def test_coverage_below_the_orgs_75_percent_fails_as_the_org_fails_it(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_script(DeployScript(coverage={"Widget": 0.0}))
    code, out, _err = run(["deploy", *auth(org), *FAST], org, capsys)
    assert code == 1
    assert re.search(r"^  Widget\s+0\.0% \(0/1 lines\)  FAIL \(org: below 75%\)$", out, re.M)
    assert "Coverage warning from the org: Widget: Test coverage of selected Apex Class is 0%" in out


def test_coverage_between_the_orgs_rule_and_the_project_target_is_a_note_not_a_failure(
    jtel_project: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_script(DeployScript(coverage={"JtelCallStatisticsService": 0.8}))
    code, out, err = run(["deploy", *auth(org), *FAST], org, capsys)
    assert code == 0, out + err
    assert re.search(r"^  JtelCallStatisticsService\s+\d\d\.\d% .* below target 90%$", out, re.M)
    assert "Note: JtelCallStatisticsService below the project target of 90%" in out


def test_a_deploy_that_outlasts_wait_exits_3_and_is_re_attached_without_a_second_deploy(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_script(DeployScript(polls_in_progress=None))
    code, out, err = run(["deploy", *auth(org), *FAST, "--wait", "0.001"], org, capsys)
    assert code == 3
    deploy_id = next(iter(org.deploys))
    assert f"re-attach any time: jtel-sf deploy --job-id {deploy_id}" in err
    assert f"Re-attach: jtel-sf deploy --job-id {deploy_id}" in err
    org.deploys[deploy_id].script.polls_in_progress = 0  # the org finishes it meanwhile
    code, out, err = run(["deploy", *auth(org), *FAST, "--job-id", deploy_id], org, capsys)
    assert code == 0, err
    assert org.deploy_requests == 1
    assert f"Deploy {deploy_id}: Succeeded" in out


def test_ctrl_c_says_how_to_re_attach(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    org.deploy_script(DeployScript(polls_in_progress=None))

    def interrupt(self: LiveLine, status: Any, elapsed: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the deploy is being followed

    monkeypatch.setattr(LiveLine, "update", interrupt)
    code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
    deploy_id = next(iter(org.deploys))
    assert code == 130
    assert f"interrupted; deploy {deploy_id} was InProgress" in err
    assert f"Re-attach: jtel-sf deploy --job-id {deploy_id}" in err
    code, out, _err = run(["deploy", *auth(org), "--cancel", "--job-id", deploy_id], org, capsys)
    assert code == 0 and f"deploy {deploy_id}: canceled" in out
    assert org.deploys[deploy_id].status == "Canceled"


def test_a_validation_is_quick_deployed_without_running_tests_again(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["deploy", *auth(org), *FAST, "--check-only"], org, capsys)
    assert code == 0, err
    validation = next(iter(org.deploys))
    assert out.startswith(f"Validation (check-only) {validation}: Succeeded")
    assert f"jtel-sf deploy --quick --job-id {validation}" in err
    assert not any(r["Name"] == "Widget" for r in org.rows("ApexClass", tooling=True))  # nothing changed
    code, out, err = run(["deploy", *auth(org), *FAST, "--quick", "--job-id", validation], org, capsys)
    assert code == 0, err
    quick = [d for d in org.deploys.values() if d.quick_of == validation]
    assert len(quick) == 1 and org.deploy_requests == 1
    assert org.soap_actions.count("deployRecentValidation") == 1
    assert f"Quick deploy (of validation {validation}) {quick[0].id}: Succeeded" in out
    assert any(r["Name"] == "Widget" for r in org.rows("ApexClass", tooling=True))


def test_quick_deploy_of_something_that_is_not_a_validation_is_refused(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["deploy", *auth(org), *FAST], org, capsys)[0] == 0
    deployed = next(iter(org.deploys))
    code, _out, err = run(["deploy", *auth(org), *FAST, "--quick", "--job-id", deployed], org, capsys)
    assert code == 1
    assert "deployRecentValidation failed: INVALID_ID_FIELD" in err


def test_deploy_finds_the_project_root_from_a_subfolder(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(widget / "force-app" / "main" / "default" / "classes")
    code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
    assert code == 0, err
    assert "Widget" in org.deploys[next(iter(org.deploys))].classes


def test_deploy_sends_the_documented_deploy_options(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["deploy", *auth(org), *FAST, "--test-level", "NoTestRun"], org, capsys)[0] == 0
    deploy = next(iter(org.deploys.values()))
    assert deploy.test_level == "NoTestRun" and deploy.run_tests == [] and not deploy.check_only
    assert sorted(deploy.members["ApexClass"]) == [
        "Widget",
        "WidgetException",
        "WidgetTest",
        "WidgetTestData",
    ]


def test_usage_errors_exit_2(widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(
        ["deploy", *auth(org), "--test-level", "RunLocalTests", "--tests", "WidgetTest"], org, capsys
    )
    assert code == 2
    assert "--tests only goes with --test-level RunSpecifiedTests" in err
    code, _out, err = run(["deploy", *auth(org), "--test-level", "Everything"], org, capsys)
    assert code == 2
    code, _out, err = run(["deploy", "--source-dir", "nowhere", *auth(org)], org, capsys)
    assert code == 2 and "not a directory" in err
    code, _out, err = run(["deploy", *auth(org), "--quick"], org, capsys)
    assert code == 2 and "--quick needs --job-id" in err
    code, _out, err = run(["deploy", *auth(org), "--job-id", "nonsense"], org, capsys)
    assert code == 2 and "is not a deploy id" in err
    code, _out, err = run(["deploy"], org, capsys)
    assert code == 2 and "no complete org credentials" in err
    assert org.deploy_requests == 0


def test_an_expired_session_on_deploy_is_an_auth_error(
    widget: Path, org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(
        ["deploy", "--instance-url", org.url, "--access-token", "00Dexpired!token"], org, capsys
    )
    assert code == 2
    assert "deploy: the org rejected the session: INVALID_SESSION_ID" in err


def test_poll_interval_grows_while_nothing_changes_and_resets_on_change() -> None:
    """The schedule of sleeps, with a fake clock and a scripted status sequence (no real waiting)."""
    from jtel_sf.org import deploy as deploy_mod
    from jtel_sf.org.deploy import DeployOptions, DeployStatus, follow

    sequence = [("Pending", 0)] * 4 + [("InProgress", 4)] * 3 + [("Succeeded", 9)]
    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        now[0] += seconds

    statuses = iter(sequence)

    def fake_parse(element: Any) -> DeployStatus:
        state, deployed = next(statuses)
        return DeployStatus(
            id="0Af000000000001AAA", status=state, components_total=9, components_deployed=deployed
        )

    original = deploy_mod.parse_deploy_result, deploy_mod.mdapi.check_deploy_status
    deploy_mod.parse_deploy_result = fake_parse  # type: ignore[assignment]
    deploy_mod.mdapi.check_deploy_status = lambda org, deploy_id: None  # type: ignore[assignment,return-value]
    try:
        status, _elapsed, timed_out = follow(
            "0Af000000000001AAA",
            None,  # type: ignore[arg-type]
            DeployOptions(poll_interval=2.0),
            deploy_mod._NoProgress(),
            clock=lambda: now[0],
            sleep=sleep,
        )
    finally:
        deploy_mod.parse_deploy_result, deploy_mod.mdapi.check_deploy_status = original  # type: ignore[assignment]
    assert status.succeeded and not timed_out
    assert sleeps == [2.0, 3.0, 4.5, 6.75, 2.0, 3.0, 4.5]


def test_deploy_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from jtel_sf.commands.deploy import deploy

    code, out, _err = invoke_cli(["deploy", "--help"], capsys)
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


def test_outcome_json_is_serialisable() -> None:
    from jtel_sf.org.deploy import DeployReport as DeployOutcome
    from jtel_sf.org.deploy import DeployStatus

    outcome = DeployOutcome(
        status=DeployStatus(id="x", status="Succeeded"), tests=[], test_level="NoTestRun", elapsed=1
    )
    document: dict[str, Any] = json.loads(json.dumps(outcome.to_json()))
    assert document["result"] == "ok"


def test_the_tool_uses_the_orgs_newest_api_version_it_supports(
    widget: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOrg(max_version="66.0") as org:
        code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
        soap_paths = {path for method, path in org.requests if path.startswith("/services/Soap/")}
    assert code == 0, err
    assert soap_paths == {"/services/Soap/m/66.0"}
    assert "API 66.0" in err
    # the package itself keeps force-app's sourceApiVersion
    deploy = next(iter(org.deploys.values()))
    assert deploy.members  # deployed


def test_an_org_below_the_floor_is_refused(widget: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOrg(max_version="60.0") as org:
        code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
        assert org.deploy_requests == 0
    assert code == 2
    assert "offers API versions up to 60.0; jtel-sf needs 61.0 or later" in err


def test_jwt_based_access_tokens_need_api_68_for_soap(
    widget: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOrg(max_version="67.0", jwt_tokens=True) as org:
        code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
        assert org.deploy_requests == 0
    assert code == 2
    assert "JWT-based access tokens, which the SOAP Metadata API accepts only from API 68.0" in err
    with FakeOrg(max_version="68.0", jwt_tokens=True) as org:
        code, _out, err = run(["deploy", *auth(org), *FAST], org, capsys)
        assert code == 0, err
        code, _out, err = run(["deploy", *auth(org), *FAST, "--api-version", "61.0"], org, capsys)
        assert code == 2 and "--api-version 68.0" in err


def test_deploy_is_a_plain_function_other_commands_can_call(widget: Path, org: FakeOrg) -> None:
    """The API ``jtel-sf org prove`` uses: options + connection in, a DeployReport out."""
    from jtel_sf.auth import AuthOptions, connect
    from jtel_sf.org.deploy import DeployOptions, DeployReport, deploy

    session = connect(AuthOptions(instance_url=org.url, access_token=org.admin_token), negotiate_version=True)
    report = deploy(DeployOptions(poll_interval=0.01), session)
    assert isinstance(report, DeployReport) and report.ok
    assert [c.name for c in report.coverage] == ["Widget"]
