"""``jtel-sf doctor``: thin click wrapper around jtel_sf.org.doctor."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import CheckFailed
from ..options import json_option, org_auth_options


@click.command()
@click.option(
    "--integration-user",
    metavar="USERNAME",
    help="The integration user (run-as user of the External Client App) whose permission set "
    "assignment is checked.",
)
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("force-app"),
    show_default=True,
    help="SFDX source folder: tells which endpoint class and External Client App to expect.",
)
@json_option
@org_auth_options
def doctor(**kwargs: Any) -> None:
    """Check that an org is ready for jtel, one line per check with the fix.

    Checks: API reachable and its version; endpoint Apex class deployed and active; custom metadata
    record JtelSettings.Default present and valid; integration permission set present and assigned
    to --integration-user; External Client App present; fallback owner exists and is active; how
    many active users have the agent matching field filled.

    Exit codes: 0 every check passed (warnings allowed); 1 a check failed; 2 usage or
    authentication error.
    """
    from ..auth import AuthOptions, connect
    from ..org.doctor import FAIL, DoctorContext, render_result, run_doctor
    from ..settings import load_settings

    settings = load_settings(Path.cwd())
    auth = AuthOptions.from_click(kwargs)
    org = connect(
        auth, warn=lambda message: click.echo(message, err=True), default_api_version=settings.api_version
    )
    ctx = DoctorContext(
        org=org,
        settings=settings,
        source_dir=kwargs["source_dir"],
        integration_user=kwargs["integration_user"],
    )
    as_json = kwargs["as_json"]

    def show(result: Any) -> None:
        if not as_json:
            for line in render_result(result):
                click.echo(line)

    results = run_doctor(ctx, show)
    failed = [r for r in results if r.status == FAIL]
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [asdict(r) for r in results]}, indent=2))
    if failed:
        raise CheckFailed(
            f"{len(failed)} of {len(results)} checks failed: {', '.join(r.name for r in failed)}"
        )
