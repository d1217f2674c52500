"""``jtel-sf doctor``: thin click wrapper around jtel_sf.org.doctor."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import CheckFailed
from ..options import command_epilog, json_option, login_options, settings_option, source_dir_option
from ..output import emit, warn

if TYPE_CHECKING:
    from ..settings import Settings

EXAMPLES = [
    ("jtel-sf doctor -o prod --integration-user jtel@acme.com", "every check, with the integration user"),
    ("jtel-sf doctor --instance-url URL --client-id ID --client-secret S", "as jtel logs in"),
    ("jtel-sf doctor -o my-sandbox --json", "the checks as JSON"),
]
EXIT_CODES = {0: "every check passed (warnings allowed)", 1: "a check failed", 2: None}


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.option(
    "--integration-user",
    metavar="USERNAME",
    help="The integration user (run-as user of the External Client App) whose permission set "
    "assignment is checked.",
)
@source_dir_option
@json_option
@settings_option
@login_options
def doctor(
    integration_user: str | None, source_dir: Path, as_json: bool, settings: Settings, **login: Any
) -> None:
    """Check that an org is ready for jtel, one line per check with the fix.

    Checks: API reachable and its version; endpoint Apex class deployed and active; custom metadata
    record JtelSettings.Default present and valid; integration permission set present and assigned
    to --integration-user; External Client App present; fallback owner exists and is active; how
    many active users have the agent matching field filled. --source-dir tells which endpoint
    class and External Client App to expect.
    """
    from ..auth import AuthOptions, connect
    from ..org.doctor import FAIL, DoctorContext, render_result, run_doctor

    auth = AuthOptions.from_click(login)
    org = connect(auth, warn=warn, default_api_version=settings.api_version)
    ctx = DoctorContext(org=org, settings=settings, source_dir=source_dir, integration_user=integration_user)

    def show(result: Any) -> None:
        if not as_json:
            for line in render_result(result):
                click.echo(line)

    results = run_doctor(ctx, show)
    failed = [r for r in results if r.status == FAIL]
    emit({"ok": not failed, "checks": [asdict(r) for r in results]})
    if failed:
        raise CheckFailed(
            f"{len(failed)} of {len(results)} checks failed: {', '.join(r.name for r in failed)}"
        )
