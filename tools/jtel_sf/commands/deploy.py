"""``jtel-sf deploy``: thin click wrapper around jtel_sf.org.package and jtel_sf.org.deploy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import CheckFailed, TimeoutExceeded
from ..options import command_epilog, json_option, login_options, settings_option, source_dir_option
from ..output import emit, warn

if TYPE_CHECKING:
    from ..settings import Settings

EXAMPLES = [
    ("jtel-sf deploy -o my-sandbox --check-only", "validate: compile and run the tests, change nothing"),
    ("jtel-sf deploy -o my-sandbox --assign-permset jtel@acme.com", "deploy, then assign the permission set"),
    ("jtel-sf deploy -o prod --test-level RunLocalTests --wait 60", "production, every local test"),
]
EXIT_CODES = {
    0: "deployed (or validated)",
    1: "a component, Apex test or coverage failure",
    2: None,
    3: "still running after --wait minutes (the deploy goes on in the org)",
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
    help="Which Apex tests the org runs. RunSpecifiedTests without --tests runs every @IsTest class in "
    "the source (production deploys require tests).",
)
@click.option(
    "--tests",
    callback=_split_tests,
    metavar="CLASS,...",
    help="Comma-separated test classes for RunSpecifiedTests (default: every @IsTest class in the source).",
)
@click.option(
    "--wait",
    "wait_minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="MIN",
    help="Minutes to follow the deploy before giving up with exit code 3 (the deploy goes on in the org).",
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
    help="Fail (exit 1) when a deployed non-test Apex class has less line coverage than this.",
)
@click.option(
    "--assign-permset",
    metavar="USERNAME",
    help="After a successful deploy, assign the integration permission set (settings: permission_set) "
    "to this user; nothing happens if it is already assigned.",
)
@source_dir_option
@json_option
@settings_option
@login_options
def deploy(
    check_only: bool,
    test_level: str,
    tests: tuple[str, ...],
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
    found, decomposed objects are recomposed; no sf CLI needed), deploys, and shows progress on
    stderr. At the end: component failures as file:line:col: problem, failed tests with message
    and stack trace, and per-class code coverage.
    """
    from ..auth import AuthOptions, connect
    from ..org.deploy import DeployOptions, LiveLine, render_report, run_deploy
    from ..org.package import build_package

    auth = AuthOptions.from_click(login)
    api_version = auth.api_version or settings.api_version
    package = build_package(source_dir, api_version.lstrip("vV"))
    options = DeployOptions(
        check_only=check_only,
        test_level=test_level,
        tests=tests,
        wait_minutes=wait_minutes,
        poll_interval=poll_interval,
        coverage_threshold=coverage_threshold,
        assign_permset=assign_permset,
        permission_set=settings.permission_set,
    )
    org = connect(auth, warn=warn, default_api_version=settings.api_version)
    click.echo(
        f"Deploying {len(package.components)} components from {source_dir} to {org.instance_url} "
        f"({options.test_level}{', check only' if options.check_only else ''})",
        err=True,
    )
    outcome = run_deploy(org, package, options, LiveLine(sys.stderr))
    emit(outcome.to_json(), lambda: [click.echo(line) for line in render_report(outcome)])
    if outcome.timed_out:
        raise TimeoutExceeded(
            f"deploy {outcome.status.id} was still {outcome.status.status} "
            f"after {options.wait_minutes:g} min",
            hint="It goes on in the org: see Setup > Deployment Status, or run again with a larger --wait.",
        )
    if not outcome.status.succeeded:
        raise CheckFailed(f"deploy {outcome.status.id} {outcome.status.status.lower()}")
    if outcome.coverage_below:
        names = ", ".join(c.name for c in outcome.coverage_below)
        raise CheckFailed(f"code coverage below {options.coverage_threshold:g}% for {names}")
