"""``jtel-sf serve``: thin click wrapper around jtel_sf.local.serve.run_serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import output
from ..local.serve import run_serve
from ..options import command_epilog, json_option, settings_option
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf serve", "on 127.0.0.1:8765, credentials generated and printed"),
    ("jtel-sf serve --port 0 --json", "a free port; URLs and credentials as JSON when ready"),
    (
        "jtel-sf serve --tls --ready-file /tmp/jtel.json",
        "HTTPS with a generated CA; connection details in a file",
    ),
    ("jtel-sf serve --simulate lock-timeout", "answer every valid row 503, to test jtel's resend"),
]
EXIT_CODES = {0: "stopped with Ctrl-C or SIGTERM", 2: "bad options or settings, or the port is taken"}


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
@click.option(
    "--tls", is_flag=True, help="HTTPS with a certificate generated at start-up (its CA's path is printed)."
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="HTTPS with this certificate (PEM).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The private key of --tls-cert.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Once listening, write URL, token URL, client id and secret and CA path there as JSON (mode 0600); "
    "removed on stop.",
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
    tls: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    ready_file: Path | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Run the local endpoint: the writeCallStatistics contract on this machine, with a real database.

    Answers like an org with the endpoint deployed: OAuth client-credentials token, the Apex REST
    endpoint and the REST resources Salesforce clients use, and a status page at /. Without
    --client-id/--client-secret it generates credentials for this run and prints them with the base
    URL (stderr; with --json also as one JSON document on stdout as soon as it listens).
    """

    def announce(document: dict[str, Any]) -> None:
        output.emit(document)
        output.flush()

    run_serve(
        host=host,
        port=port,
        db_path=db_path,
        client_id=client_id,
        client_secret=client_secret,
        settings=settings,
        echo=lambda text: click.echo(text, err=True),
        quiet=quiet,
        fault={"lock-timeout": "lockTimeout", "org-refusal": "orgRefusal"}.get(simulate or ""),
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        ready_file=ready_file,
        announce=announce if as_json else None,
    )
