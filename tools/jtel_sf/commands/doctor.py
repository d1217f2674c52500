"""``jtel-sf doctor``: thin click wrapper around jtel_sf.org.doctor."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import CheckFailed, UsageError
from ..options import json_option, org_auth_options


@click.command()
@click.option(
    "--integration-user",
    metavar="USERNAME",
    help="The integration user (run-as user of the External Client App): its licence, profile and "
    "permission set assignments are checked.",
)
@click.option(
    "--jtel-client-id",
    envvar="JTEL_CLIENT_ID",
    show_envvar=True,
    help="Consumer key of the External Client App jtel uses: the token call is made exactly as jtel "
    "makes it, and the endpoint is called with that token (a GET, which stores nothing).",
)
@click.option(
    "--jtel-client-secret",
    envvar="JTEL_CLIENT_SECRET",
    show_envvar=True,
    help="Consumer secret of that app (prefer the environment variable).",
)
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="SFDX source folder: tells which endpoint class and External Client App to expect "
    "(default: force-app of the project at or above the current folder).",
)
@json_option
@org_auth_options
def doctor(**kwargs: Any) -> None:
    """Check that an org is ready for jtel, one line per check with the fix.

    Checks: API reachable and its version; endpoint Apex class; settings record JtelSettings.Default;
    every permission set the integration user needs, assigned to --integration-user; that user's
    licence and profile; External Client App; jtel's client-credentials token call and the endpoint
    answering that token; Activity sharing (what it means for Task updates); fallback owner; agent
    matching field; quarantine backlog; daily API usage against the limit; storage of the jtel
    objects. A check that could not run says so and why (network, TLS, permission, missing feature).

    Exit codes: 0 every check passed (warnings and skipped checks allowed); 1 a check failed or could
    not run; 2 usage or authentication error; 5 the org cannot be reached.
    """
    from ..auth import AuthOptions, connect
    from ..generate import find_project_dir
    from ..org.doctor import FAIL, NOT_RUN, DoctorContext, render_result, run_doctor
    from ..settings import load_settings

    source_dir = kwargs["source_dir"]
    try:
        project_dir = find_project_dir()
    except UsageError:  # no sfdx project: the checks that read the source fall back to defaults
        project_dir = Path.cwd()
    if source_dir is None:
        source_dir = project_dir / "force-app"
    settings = load_settings(project_dir)
    auth = AuthOptions.from_click(kwargs)
    org = connect(auth, warn=lambda message: click.echo(message, err=True), negotiate_version=True)
    ctx = DoctorContext(
        org=org,
        settings=settings,
        source_dir=source_dir,
        integration_user=kwargs["integration_user"],
        jtel_client_id=kwargs["jtel_client_id"],
        jtel_client_secret=kwargs["jtel_client_secret"],
    )
    as_json = kwargs["as_json"]

    def show(result: Any) -> None:
        if not as_json:
            for line in render_result(result):
                click.echo(line)

    results = run_doctor(ctx, show)
    bad = [r for r in results if r.status in (FAIL, NOT_RUN)]
    if as_json:
        click.echo(json.dumps({"ok": not bad, "checks": [asdict(r) for r in results]}, indent=2))
    if bad:
        raise CheckFailed(
            f"{len(bad)} of {len(results)} checks failed or could not run: {', '.join(r.name for r in bad)}"
        )
