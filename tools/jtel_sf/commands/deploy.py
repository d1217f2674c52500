"""``jtel-sf deploy``: thin click wrapper around jtel_sf.org.package and jtel_sf.org.deploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import CheckFailed, TimeoutExceeded, UsageError
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
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="SFDX source folder to convert into the Metadata API zip (default: force-app of the project "
    "found at or above the current folder).",
)
@json_option
@org_auth_options
def deploy(**kwargs: Any) -> None:
    """Deploy force-app to an org through the Metadata API and report like a compiler.

    Builds the deploy zip from the source format itself (package.xml lists exactly the components
    found, decomposed objects are recomposed; no sf CLI needed), deploys, prints the deploy id at
    once and shows progress on stderr. At the end: component failures as file:line:col: problem,
    failed tests with message and stack trace, and per-class code coverage.

    Exit codes: 0 success; 1 component, test or (org) coverage failure; 2 usage or authentication
    error; 3 still running after --wait minutes; 5 the org cannot be reached; 130 interrupted.
    """
    from ..auth import AuthOptions, connect
    from ..generate import find_project_dir
    from ..org.deploy import DeployOptions, LiveLine, cancel, deploy, reattach_hint, render_report
    from ..org.package import build_package
    from ..org.permsets import integration_permission_sets
    from ..settings import load_settings

    source_dir = kwargs["source_dir"]
    if source_dir is None:
        project_dir = find_project_dir()
        source_dir = project_dir / "force-app"
    else:
        project_dir = Path.cwd()
    settings = load_settings(project_dir)
    if kwargs["cancel"] and not kwargs["job_id"]:
        raise UsageError("--cancel needs --job-id ID")
    auth = AuthOptions.from_click(kwargs)
    org = connect(auth, warn=lambda message: click.echo(message, err=True), negotiate_version=True)
    if kwargs["cancel"]:
        click.echo(cancel(org, kwargs["job_id"]))
        return
    package = build_package(source_dir, settings.api_version.lstrip("vV"))
    options = DeployOptions(
        check_only=kwargs["check_only"],
        test_level=kwargs["test_level"],
        tests=kwargs["tests"],
        wait_minutes=kwargs["wait_minutes"],
        poll_interval=kwargs["poll_interval"],
        coverage_threshold=kwargs["coverage_threshold"],
        assign_permset=kwargs["assign_permset"],
        permission_sets=integration_permission_sets(settings),
        job_id=kwargs["job_id"],
        quick=kwargs["quick"],
    )
    if not options.job_id:
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

    report = deploy(options, org, package, progress=LiveLine(sys.stderr), on_started=started)
    if kwargs["as_json"]:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in render_report(report):
            click.echo(line)
    if report.timed_out:
        raise TimeoutExceeded(
            f"deploy {report.status.id} was still {report.status.status} after {options.wait_minutes:g} min",
            hint=reattach_hint(report.status.id),
        )
    if not report.status.succeeded:
        raise CheckFailed(f"deploy {report.status.id} {report.status.status.lower()}")
    if report.status.check_only and not options.job_id:
        click.echo(
            f"Quick-deploy this validation without running the tests again: "
            f"jtel-sf deploy --quick --job-id {report.status.id}",
            err=True,
        )
