"""``jtel-sf send``: thin click wrapper around jtel_sf.send.run.send_files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import AuthError, CheckFailed
from ..options import command_epilog, json_option, login_options, settings_option
from ..output import emit
from ..send.run import send_files, summary
from ..send.runner import SendOptions
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf send calls.jsonl --local", "to a local endpoint started for the run"),
    ("jtel-sf send calls.csv -o prod --report r.jsonl", "to an org, every row's final answer in r.jsonl"),
    ("jtel-sf send calls.csv -o prod --report r.jsonl --resume", "continue a run that was stopped"),
    ("jtel-sf send calls.jsonl --dry-run", "read and check the input only"),
]
EXIT_CODES = {
    0: "every row got a final answer (written, duplicate, not_found or rejected)",
    1: "rows without a final answer (retries used up, or the run stopped)",
    2: "bad options or input; the endpoint refused the token (401) twice",
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
@click.option("--dry-run", is_flag=True, help="Read and check the input only; send nothing.")
@click.option("--no-progress", is_flag=True, help="No progress line on stderr.")
@json_option
@settings_option
@login_options
def send(
    files: tuple[Path, ...],
    url: str | None,
    local: bool,
    db_path: Path | None,
    concurrency: int,
    rate: float | None,
    report: Path | None,
    resume: bool,
    max_retries: int,
    retry_delay: float,
    input_format: str,
    dry_run: bool,
    no_progress: bool,
    as_json: bool,
    settings: Settings,
    **auth: Any,
) -> None:
    """Replay jtel statistics rows (JSON Lines or CSV with jtel's field names), one row per request.

    Rows of one call keep their order; 503/500/423 are retried with backoff, 404 and 409 are final,
    a 401 gets a new token once. With --report every row's final answer is written as a JSON line,
    and --resume continues a run that was stopped, without loss or duplicates. Progress and the
    summary go to stderr; with --json the counts come on stdout.
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
        progress_interval=0 if no_progress else 1.0,
    )

    def echo(text: str) -> None:
        click.echo(text, err=True)

    result = send_files(
        list(files),
        url=url,
        local=local,
        db_path=db_path,
        auth_kwargs=auth,
        settings=settings,
        options=options,
        echo=echo,
    )
    for line in summary(result):
        echo(line)
    emit(
        {
            "counts": result.counts.as_dict(),
            "seconds": round(result.seconds, 3),
            "rowsPerSecond": round(result.rows_per_second, 1),
            "aborted": result.aborted,
            "failures": list(result.failures),
            "report": str(report) if report else None,
        }
    )
    if result.aborted and "401" in result.aborted:
        raise AuthError(result.aborted)
    if result.counts.failed or result.aborted:
        raise CheckFailed(
            f"{result.counts.failed} rows got no final answer"
            + (f" ({result.aborted})" if result.aborted else ""),
            hint="Run again with --resume and the same --report to send them again.",
        )
