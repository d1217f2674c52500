"""``jtel-sf deploy``: thin click wrapper around jtel_sf.org.package and jtel_sf.org.deploy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import CheckFailed, TimeoutExceeded, UsageError
from ..options import command_epilog, json_option, login_options, settings_option, source_dir_option
from ..output import emit, warn

if TYPE_CHECKING:
    from ..settings import Settings

EXAMPLES = [
    ("jtel-sf deploy --browser-login --check-only", "validate: compile and run the tests, change nothing"),
    ("jtel-sf deploy --browser-login --quick --job-id 0Af...", "deploy that validation, no tests again"),
    (
        "jtel-sf deploy -o my-sandbox --assign-permset jtel@acme.com",
        "deploy, then assign the permission sets",
    ),
    ("jtel-sf deploy -o prod --job-id 0Af...", "re-attach to a running or finished deploy"),
    ("jtel-sf deploy -o prod --test-level RunLocalTests --wait 60", "production, every local test"),
]
EXIT_CODES = {
    0: "deployed (or validated)",
    1: "a component or Apex test failure, or coverage under the org's rule",
    2: None,
    3: "still running after --wait minutes (the deploy goes on in the org; re-attach with --job-id)",
    5: None,
    130: "interrupted (the deploy goes on in the org; re-attach with --job-id)",
}


def _split_tests(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (value or "").split(",") if t.strip())


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.option(
    "--check-only", is_flag=True, help="Validate only: compile and run tests, change nothing in the org."
)
@click.option(
    "--test-level",
    type=click.Choice(["NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg"]),
    default="RunSpecifiedTests",
    show_default=True,
    help="Which Apex tests the org runs. RunSpecifiedTests without --tests runs every @IsTest class with "
    "test methods in the source (production deploys require tests).",
)
@click.option(
    "--tests",
    callback=_split_tests,
    metavar="CLASS,...",
    help="Comma-separated test classes for RunSpecifiedTests (default: every test class in the source).",
)
@click.option(
    "--job-id",
    metavar="ID",
    help="Re-attach to a deploy that is running or finished (the id printed when it started) and report "
    "it; nothing new is deployed. With --quick: the validation to quick-deploy.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="With --job-id VALIDATION_ID: deploy a validation (--check-only) that succeeded without running "
    "the tests again (Metadata API deployRecentValidation; within 10 days of the validation).",
)
@click.option("--cancel", is_flag=True, help="With --job-id ID: ask the org to cancel that deploy.")
@click.option(
    "--wait",
    "wait_minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="MIN",
    help="Minutes to follow the deploy before giving up with exit code 3 (the deploy goes on in the org; "
    "re-attach with --job-id).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    metavar="SEC",
    help="Seconds between status checks; grows (up to 30 s) while nothing changes, "
    "resets when something does.",
)
@click.option(
    "--coverage-threshold",
    type=click.FloatRange(0, 100),
    default=90.0,
    show_default=True,
    metavar="PCT",
    help="The project's own coverage target per non-test class, reported apart from the org's rule "
    "(RunSpecifiedTests: 75% per class, which decides the deploy). Below it: a note, not a failure.",
)
@click.option(
    "--assign-permset",
    metavar="USERNAME",
    help="Check before deploying that this user exists and is active; after a successful deploy assign "
    "it every permission set the integration user needs (nothing happens for those already assigned).",
)
@source_dir_option
@json_option
@settings_option
@login_options
def deploy(
    check_only: bool,
    test_level: str,
    tests: tuple[str, ...],
    job_id: str | None,
    quick: bool,
    cancel: bool,
    wait_minutes: float,
    poll_interval: float,
    coverage_threshold: float,
    assign_permset: str | None,
    source_dir: Path,
    as_json: bool,
    settings: Settings,
    **login: Any,
) -> None:
    """Deploy force-app to an org through the Metadata API and report like a compiler.

    Builds the deploy zip from the source format itself (package.xml lists exactly the components
    found, decomposed objects are recomposed; no sf CLI needed), deploys, prints the deploy id at
    once and shows progress on stderr. At the end: component failures as file:line:col: problem,
    failed tests with message and stack trace, and the code coverage of the non-test classes.
    """
    from ..auth import AuthOptions, connect
    from ..org import deploy as deploy_module
    from ..org.deploy import DeployOptions, LiveLine, reattach_hint, render_report
    from ..org.package import build_package
    from ..org.permsets import integration_permission_sets

    if cancel and not job_id:
        raise UsageError("--cancel needs --job-id ID")
    org = connect(AuthOptions.from_click(login), warn=warn, negotiate_version=True)
    if cancel:
        line = deploy_module.cancel(org, str(job_id))
        emit({"id": job_id, "canceled": line}, [line])
        return
    package = build_package(source_dir, settings.api_version.lstrip("vV"))
    options = DeployOptions(
        check_only=check_only,
        test_level=test_level,
        tests=tests,
        wait_minutes=wait_minutes,
        poll_interval=poll_interval,
        coverage_threshold=coverage_threshold,
        assign_permset=assign_permset,
        permission_sets=integration_permission_sets(settings),
        job_id=job_id,
        quick=quick,
    )
    if not job_id:
        click.echo(
            f"Deploying {len(package.components)} components from {source_dir} to {org.instance_url} "
            f"({options.test_level}{', check only' if options.check_only else ''}; API {org.api_version})",
            err=True,
        )

    def started(deploy_id: str, what: str) -> None:
        click.echo(
            f"Deploy id {deploy_id} ({what}); re-attach any time: jtel-sf deploy --job-id {deploy_id}",
            err=True,
        )

    report = deploy_module.deploy(options, org, package, progress=LiveLine(sys.stderr), on_started=started)
    emit(report.to_json(), lambda: [click.echo(line) for line in render_report(report)])
    if report.timed_out:
        raise TimeoutExceeded(
            f"deploy {report.status.id} was still {report.status.status} after {options.wait_minutes:g} min",
            hint=reattach_hint(report.status.id),
        )
    if not report.status.succeeded:
        raise CheckFailed(f"deploy {report.status.id} {report.status.status.lower()}")
    if report.status.check_only and not job_id:
        click.echo(
            "Quick-deploy this validation without running the tests again: "
            f"jtel-sf deploy --quick --job-id {report.status.id}",
            err=True,
        )
