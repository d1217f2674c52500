"""``jtel-sf deploy``: thin click wrapper around jtel_sf.org.package and jtel_sf.org.deploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import CheckFailed, TimeoutExceeded
from ..options import json_option, org_auth_options


def _split_tests(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (value or "").split(",") if t.strip())


@click.command()
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
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("force-app"),
    show_default=True,
    help="SFDX source folder to convert into the Metadata API zip.",
)
@json_option
@org_auth_options
def deploy(**kwargs: Any) -> None:
    """Deploy force-app to an org through the Metadata API and report like a compiler.

    Builds the deploy zip from the source format itself (package.xml lists exactly the components
    found, decomposed objects are recomposed; no sf CLI needed), deploys, and shows progress on
    stderr. At the end: component failures as file:line:col: problem, failed tests with message
    and stack trace, and per-class code coverage.

    Exit codes: 0 success; 1 component, test or coverage failure; 2 usage or authentication
    error; 3 still running after --wait minutes.
    """
    from ..auth import AuthOptions, connect
    from ..org.deploy import DeployOptions, LiveLine, render_report, run_deploy
    from ..org.package import build_package
    from ..settings import load_settings

    settings = load_settings(Path.cwd())
    auth = AuthOptions.from_click(kwargs)
    api_version = auth.api_version or settings.api_version
    package = build_package(kwargs["source_dir"], api_version.lstrip("vV"))
    options = DeployOptions(
        check_only=kwargs["check_only"],
        test_level=kwargs["test_level"],
        tests=kwargs["tests"],
        wait_minutes=kwargs["wait_minutes"],
        poll_interval=kwargs["poll_interval"],
        coverage_threshold=kwargs["coverage_threshold"],
        assign_permset=kwargs["assign_permset"],
        permission_set=settings.permission_set,
    )
    org = connect(
        auth, warn=lambda message: click.echo(message, err=True), default_api_version=settings.api_version
    )
    click.echo(
        f"Deploying {len(package.components)} components from {kwargs['source_dir']} to {org.instance_url} "
        f"({options.test_level}{', check only' if options.check_only else ''})",
        err=True,
    )
    outcome = run_deploy(org, package, options, LiveLine(sys.stderr))
    if kwargs["as_json"]:
        click.echo(json.dumps(outcome.to_json(), indent=2))
    else:
        for line in render_report(outcome):
            click.echo(line)
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
