"""``jtel-sf send``: thin click wrapper around jtel_sf.send.run.send_files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import AuthError, CheckFailed, UsageError
from ..options import command_epilog, json_option, login_options, settings_option
from ..output import emit
from ..send.contract import max_batch_size
from ..send.run import send_files, summary, summary_document
from ..send.runner import DEFAULT_BATCH_SIZE, SendOptions
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf send calls.jsonl --dry-run", "check every line with the contract and plan the requests"),
    ("jtel-sf send calls.jsonl --local", "to a local endpoint started for the run"),
    (
        "jtel-sf send calls.csv -o prod --report r.jsonl",
        "to an org in batches of 200, every row's answer in r.jsonl",
    ),
    ("jtel-sf send calls.csv -o prod --report r.jsonl --resume", "continue a run that was stopped"),
    (
        "jtel-sf send calls.jsonl --url URL --client-id ID --client-secret S --batch-size 1",
        "one row a request, as jtel",
    ),
]
EXIT_CODES = {
    0: "every row got a final answer (written, duplicate, not_found, rejected); --dry-run: all lines valid",
    1: "rows without a final answer, a run stopped (API budget), unreadable lines sent with --send-invalid; "
    "--dry-run: rejected or unreadable lines",
    2: "refused before sending: bad options, a binary file, rejected or unreadable lines, over the API "
    "budget; the endpoint refused the token (401) twice",
}


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="Endpoint URL (.../services/apexrest/jtelACD/writeCallStatistics).")
@click.option("--local", is_flag=True, help="Start a local endpoint for the run and send to it.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --local: the database to use (default: a temporary one).",
)
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, max_batch_size()),
    help="Rows per request (a JSON array; 1 = one plain object per request, as jtel's daemon sends).",
)
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="Parallel workers."
)
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), help="At most this many rows per second."
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per row."
)
@click.option("--resume", is_flag=True, help="Skip rows the --report file already has as final.")
@click.option(
    "--max-retries", default=8, show_default=True, type=click.IntRange(0, 100), help="Retries per row."
)
@click.option(
    "--retry-delay",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Base of the exponential backoff in seconds (full jitter, at most 30 s).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto: *.csv is CSV (header row of jtel field names), anything else JSON Lines.",
)
@click.option("--dry-run", is_flag=True, help="Check the input and plan the requests; send nothing.")
@click.option(
    "--send-invalid",
    is_flag=True,
    help="Send rows the contract rejects and unreadable lines too (as jtel's daemon would), to test answers.",
)
@click.option(
    "--max-api-share",
    default=50.0,
    show_default=True,
    type=click.FloatRange(0, 100, min_open=True),
    help="Against an org: use at most this percentage of the daily API requests remaining.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress line on stderr (default: only when stderr is a terminal).",
)
@json_option
@settings_option
@login_options
def send(
    files: tuple[Path, ...],
    url: str | None,
    local: bool,
    db_path: Path | None,
    batch_size: int,
    concurrency: int,
    rate: float | None,
    report: Path | None,
    resume: bool,
    max_retries: int,
    retry_delay: float,
    input_format: str,
    dry_run: bool,
    send_invalid: bool,
    max_api_share: float,
    progress: bool | None,
    as_json: bool,
    settings: Settings,
    **auth: Any,
) -> None:
    """Replay jtel statistics rows (JSON Lines or CSV with jtel's field names; docs/send.md).

    Every line is checked with the contract first; a run with rejected or unreadable lines sends
    nothing unless --send-invalid. Rows go in batches of --batch-size (default 200, the endpoint's
    largest array: 0.005 API calls a row); rows of one call keep their order. 503/500/423 and
    `retry` elements are retried with backoff, 404 and 409 are final, a 413 halves the batch, a 401
    gets a new token once. Against an org the daily API budget is checked first (/limits) and
    watched while running. With --report every row's answer is a JSON line, and --resume continues
    a stopped run without loss or duplicates.
    """
    options = SendOptions(
        concurrency=concurrency,
        rate=rate,
        max_retries=max_retries,
        backoff_base=retry_delay,
        report=report,
        resume=resume,
        dry_run=dry_run,
        input_format=input_format,
        progress=progress,
        batch_size=batch_size,
        send_invalid=send_invalid,
        max_api_share=max_api_share,
    )

    def echo(text: str) -> None:
        click.echo(text, err=True)

    run = send_files(
        list(files),
        url=url,
        local=local,
        db_path=db_path,
        auth_kwargs=auth,
        settings=settings,
        options=options,
        echo=echo,
    )
    for line in summary(run):
        echo(line)
    emit(summary_document(run))
    check = run.check
    if run.refused:
        raise UsageError(
            run.refused,
            hint=run.refused_hint
            or "Fix the lines listed above, or give --send-invalid to send them anyway (to be rejected).",
        )
    if dry_run:
        if check.invalid or check.unreadable:
            raise CheckFailed(
                f"{check.invalid} rows would be rejected, {check.unreadable} lines are unreadable"
            )
        return
    result = run.result
    assert result is not None
    if result.aborted and "401" in result.aborted:
        raise AuthError(result.aborted)
    if result.counts.failed or result.aborted:
        raise CheckFailed(
            f"{result.counts.failed} rows got no final answer"
            + (f" ({result.aborted})" if result.aborted else ""),
            hint="Run again with --resume and the same --report to send them again.",
        )
    if check.unreadable:
        raise CheckFailed(f"{check.unreadable} input lines were unreadable (sent with --send-invalid)")
