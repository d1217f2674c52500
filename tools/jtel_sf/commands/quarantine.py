"""``jtel-sf quarantine list | show | reprocess | discard``: thin wrappers around jtel_sf.org.quarantine."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import CheckFailed
from ..options import json_option, org_auth_options


def _org(kwargs: dict[str, Any]) -> Any:
    from ..auth import AuthOptions, connect

    return connect(
        AuthOptions.from_click(kwargs),
        warn=lambda message: click.echo(message, err=True),
        negotiate_version=True,
    )


@click.group()
def quarantine() -> None:
    """Review and clear the quarantine (jtel Quarantined Requests) from the command line.

    KEY is the quarantineKey of the endpoint's 409 answer (64 hex digits), the record number
    (JQ-00000042) or the record Id. Reprocessing runs the package's own action
    (JtelQuarantineReprocessAction) as the logged-in user, exactly as the Flow button would.
    """


@quarantine.command("list")
@click.option(
    "--status",
    type=click.Choice(["New", "Reprocessed", "Failed", "Discarded", "all"]),
    default="New",
    show_default=True,
    help="Which records to list.",
)
@click.option(
    "--limit", type=click.IntRange(1, 2000), default=200, show_default=True, help="At most this many."
)
@json_option
@org_auth_options
def list_command(**kwargs: Any) -> None:
    """List quarantined requests, newest first."""
    from ..org.quarantine import list_records, render_list

    records = list_records(_org(kwargs), kwargs["status"], kwargs["limit"])
    if kwargs["as_json"]:
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "attributes"} for r in records], indent=2))
        return
    for line in render_list(records):
        click.echo(line)


@quarantine.command("show")
@click.argument("key")
@json_option
@org_auth_options
def show_command(key: str, **kwargs: Any) -> None:
    """Show one quarantined request: its errors and the raw body as jtel sent it."""
    from ..org.quarantine import SHOW_FIELDS, find, render_record

    (record,) = find(_org(kwargs), [key], SHOW_FIELDS)
    if kwargs["as_json"]:
        click.echo(json.dumps({k: v for k, v in record.items() if k != "attributes"}, indent=2))
        return
    for line in render_record(record):
        click.echo(line)


@quarantine.command("reprocess")
@click.argument("keys", nargs=-1, required=True)
@json_option
@org_auth_options
def reprocess_command(keys: tuple[str, ...], **kwargs: Any) -> None:
    """Send quarantined requests through the endpoint's rules again (after fixing the cause).

    Exit codes: 0 every one was stored; 1 some were rejected again or must wait (transient).
    """
    from dataclasses import asdict

    from ..org.quarantine import reprocess

    outcome = reprocess(_org(kwargs), list(keys))
    if kwargs["as_json"]:
        click.echo(json.dumps(asdict(outcome), indent=2))
    else:
        for line in outcome.answers:
            click.echo(line)
        click.echo(
            f"Reprocessed {outcome.reprocessed}, failed {outcome.failed}, still waiting {outcome.waiting}."
        )
    if outcome.failed or outcome.waiting:
        raise CheckFailed(
            f"{outcome.failed} rejected again, {outcome.waiting} still waiting",
            hint="`jtel-sf quarantine show KEY` shows why; a waiting one can be reprocessed later.",
        )


@quarantine.command("discard")
@click.argument("keys", nargs=-1, required=True)
@org_auth_options
def discard_command(keys: tuple[str, ...], **kwargs: Any) -> None:
    """Mark quarantined requests as not to be reprocessed (Status Discarded; the record stays)."""
    from ..org.quarantine import discard

    for line in discard(_org(kwargs), list(keys)):
        click.echo(line)
