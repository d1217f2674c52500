"""``jtel-sf serve``: thin click wrapper around jtel_sf.local.serve.run_serve."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from .. import output
from ..local.serve import run_serve
from ..options import command_epilog, json_option, settings_option
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf serve", "on 127.0.0.1:8765, credentials generated and printed"),
    ("jtel-sf serve --port 0 --json", "a free port; URLs and credentials as JSON when ready"),
    ("jtel-sf serve --simulate lock-timeout", "answer every valid row 503, to test jtel's resend"),
]
EXIT_CODES = {0: "stopped with Ctrl-C or SIGTERM", 2: "bad options or settings, or the port is taken"}
# The lines run_serve prints when it is ready -> the keys of the --json result.
_READY_LABELS = {
    "jtel-sf local endpoint": "baseUrl",
    "endpoint": "endpointUrl",
    "token URL": "tokenUrl",
    "database": "database",
    "simulating": "simulating",
    "client id": "clientId",
    "client secret": "clientSecret",
}


def _ready_fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        label, sep, value = line.strip().partition(":")
        if sep and label in _READY_LABELS:
            fields[_READY_LABELS[label]] = value.strip().split("  (")[0]
    return fields


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite database (WAL). Default: $XDG_DATA_HOME/jtel-sf/local.sqlite (~/.local/share/...).",
)
@click.option("--client-id", envvar="JTEL_SF_LOCAL_CLIENT_ID", help="Client id the token endpoint accepts.")
@click.option(
    "--client-secret", envvar="JTEL_SF_LOCAL_CLIENT_SECRET", help="Client secret the token endpoint accepts."
)
@click.option("--quiet", is_flag=True, help="No request log on stderr.")
@click.option(
    "--simulate",
    type=click.Choice(["lock-timeout", "org-refusal"]),
    help="Answer every valid row as the org would on a row lock timeout (503 retry) or a validation "
    "rule (409 org_refused, quarantined): to check how jtel's daemon handles them.",
)
@json_option
@settings_option
def serve(
    host: str,
    port: int,
    db_path: Path | None,
    client_id: str | None,
    client_secret: str | None,
    quiet: bool,
    simulate: str | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Run the local endpoint: the writeCallStatistics contract on this machine, with a real database.

    Answers like an org with the endpoint deployed: OAuth client-credentials token, the Apex REST
    endpoint and the REST resources contract-test uses. Without --client-id/--client-secret it
    generates credentials for this run and prints them with the base URL (stderr; with --json
    also as one JSON document on stdout as soon as it listens).
    """
    lines: list[str] = []
    ready = threading.Event()

    def echo(text: str) -> None:
        lines.append(text)
        click.echo(text, err=True)

    def announce() -> None:
        if ready.wait() and lines:
            output.emit(_ready_fields(lines))
            output.flush()

    if as_json:
        threading.Thread(target=announce, name="jtel-sf-serve-ready", daemon=True).start()
    try:
        run_serve(
            host=host,
            port=port,
            db_path=db_path,
            client_id=client_id,
            client_secret=client_secret,
            settings=settings,
            echo=echo,
            quiet=quiet,
            fault={"lock-timeout": "lockTimeout", "org-refusal": "orgRefusal"}.get(simulate or ""),
            ready=ready,
        )
    finally:
        ready.set()  # failed before it was ready: let the announcer end (it finds nothing to announce)
