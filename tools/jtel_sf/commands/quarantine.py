"""``jtel-sf quarantine list | show | reprocess | discard``: thin wrappers around jtel_sf.org.quarantine."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from ..contract import load_records
from ..errors import CheckFailed
from ..options import command_epilog, json_option, login_options
from ..output import emit, warn

EXAMPLES = [
    ("jtel-sf quarantine list --browser-login", "the New quarantined requests, newest first"),
    ("jtel-sf quarantine show --browser-login KEY", "one request's errors and raw body"),
    ("jtel-sf quarantine reprocess --browser-login KEY...", "run them through the endpoint's rules again"),
    ("jtel-sf quarantine discard --browser-login KEY...", "mark them as not to be reprocessed"),
    ("jtel-sf quarantine list -o prod --status all --json", "every record, as JSON"),
]
EXIT_CODES = {
    0: "done (reprocess: every one stored)",
    1: "reprocess: some were rejected again or must wait; an error answer from the org",
    2: None,
    5: None,
}
_EPILOG = command_epilog(EXAMPLES, EXIT_CODES)


def _org(login: dict[str, Any]) -> Any:
    from ..auth import AuthOptions, connect

    return connect(AuthOptions.from_click(login), warn=warn, negotiate_version=True)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


@click.group(epilog=_EPILOG)
@json_option
def quarantine(as_json: bool) -> None:
    """Review and clear the quarantine (jtel Quarantined Requests) from the command line.

    KEY is the quarantineKey of the endpoint's 409 answer (64 hex digits), the record number
    (JQ-00000042) or the record Id. Reprocessing runs the package's own action
    (JtelQuarantineReprocessAction) as the logged-in user, exactly as the Flow button would.
    Every subcommand takes --json and the login options.
    """


@quarantine.command("list", epilog=_EPILOG)
@click.option(
    "--status",
    type=click.Choice([*load_records().quarantine_statuses.values(), "all"]),
    default=load_records().quarantine_statuses["new"],
    show_default=True,
    help="Which records to list.",
)
@click.option(
    "--limit", type=click.IntRange(1, 2000), default=200, show_default=True, help="At most this many."
)
@json_option
@login_options
def list_command(status: str, limit: int, as_json: bool, **login: Any) -> None:
    """List quarantined requests, newest first."""
    from ..org.quarantine import list_records, render_list

    records = list_records(_org(login), status, limit)
    emit([_plain(r) for r in records], render_list(records))


@quarantine.command("show", epilog=_EPILOG)
@click.argument("key")
@json_option
@login_options
def show_command(key: str, as_json: bool, **login: Any) -> None:
    """Show one quarantined request: its errors and the raw body as jtel sent it."""
    from ..org.quarantine import SHOW_FIELDS, find, render_record

    (record,) = find(_org(login), [key], SHOW_FIELDS)
    emit(_plain(record), render_record(record))


@quarantine.command("reprocess", epilog=_EPILOG)
@click.argument("keys", nargs=-1, required=True)
@json_option
@login_options
def reprocess_command(keys: tuple[str, ...], as_json: bool, **login: Any) -> None:
    """Send quarantined requests through the endpoint's rules again (after fixing the cause)."""
    from ..org.quarantine import reprocess

    outcome = reprocess(_org(login), list(keys))
    counts = f"Reprocessed {outcome.reprocessed}, failed {outcome.failed}, still waiting {outcome.waiting}."
    emit(asdict(outcome), [*outcome.answers, counts])
    if outcome.failed or outcome.waiting:
        raise CheckFailed(
            f"{outcome.failed} rejected again, {outcome.waiting} still waiting",
            hint="`jtel-sf quarantine show KEY` shows why; a waiting one can be reprocessed later.",
        )


@quarantine.command("discard", epilog=_EPILOG)
@click.argument("keys", nargs=-1, required=True)
@json_option
@login_options
def discard_command(keys: tuple[str, ...], as_json: bool, **login: Any) -> None:
    """Mark quarantined requests as not to be reprocessed (Status Discarded; the record stays)."""
    from ..org.quarantine import discard

    lines = discard(_org(login), list(keys))
    emit({"discarded": lines}, lines)
