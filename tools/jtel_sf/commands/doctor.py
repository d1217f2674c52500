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
    (
        "jtel-sf doctor --browser-login --integration-user jtel@acme.com",
        "every check, with the integration user",
    ),
    (
        "JTEL_CLIENT_ID=... JTEL_CLIENT_SECRET=... jtel-sf doctor -o prod",
        "also jtel's own token call and the endpoint as jtel reaches it",
    ),
    ("jtel-sf doctor -o my-sandbox --json", "the checks as JSON"),
]
EXIT_CODES = {
    0: "every check passed (warnings and skipped checks allowed)",
    1: "a check failed or could not run",
    2: None,
    5: None,
}


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
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
@source_dir_option
@json_option
@settings_option
@login_options
def doctor(
    integration_user: str | None,
    jtel_client_id: str | None,
    jtel_client_secret: str | None,
    source_dir: Path,
    as_json: bool,
    settings: Settings,
    **login: Any,
) -> None:
    """Check that an org is ready for jtel, one line per check with the fix.

    Checks: API reachable and its version; endpoint Apex class; settings record JtelSettings.Default;
    every permission set the integration user needs, assigned to --integration-user; that user's
    licence and profile; External Client App; jtel's client-credentials token call and the endpoint
    answering that token; Activity sharing (what it means for Task updates); fallback owner; agent
    matching field; quarantine backlog; daily API usage against the limit; storage of the jtel
    objects. A check that could not run says so and why (network, TLS, permission, missing feature).
    """
    from ..auth import AuthOptions, connect
    from ..org.doctor import FAIL, NOT_RUN, DoctorContext, render_result, run_doctor

    org = connect(AuthOptions.from_click(login), warn=warn, negotiate_version=True)
    ctx = DoctorContext(
        org=org,
        settings=settings,
        source_dir=source_dir,
        integration_user=integration_user,
        jtel_client_id=jtel_client_id,
        jtel_client_secret=jtel_client_secret,
    )

    def show(result: Any) -> None:
        if not as_json:
            for line in render_result(result):
                click.echo(line)

    results = run_doctor(ctx, show)
    bad = [r for r in results if r.status in (FAIL, NOT_RUN)]
    emit({"ok": not bad, "checks": [asdict(r) for r in results]})
    if bad:
        raise CheckFailed(
            f"{len(bad)} of {len(results)} checks failed or could not run: {', '.join(r.name for r in bad)}"
        )
