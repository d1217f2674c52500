"""``jtel-sf contract-test``: parse options, run ``jtel_sf.contract_test``, print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..contract import ContractCase
from ..errors import CheckFailed
from ..options import command_epilog, json_option, login_options, settings_option
from ..output import emit
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf contract-test --local", "the local endpoint (no org needed)"),
    ("jtel-sf contract-test -o my-scratch-org", "an org through the sf CLI (or any login option)"),
    ("jtel-sf contract-test --replay tests/recordings/local-stand-in", "a recording, offline"),
    ("jtel-sf contract-test --local -k 'rejected_*' --junit out.xml", "some cases, with a JUnit report"),
]
EXIT_CODES = {0: "every case passed (or was skipped)", 1: "a case failed", 2: None, 3: None}


def _style(text: str, colour: str) -> str:
    return text if colour == "reset" else click.style(text, fg=colour)


@click.command("contract-test", epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.option(
    "--local",
    is_flag=True,
    help="Start the local endpoint on a free port with a temporary database and run every case "
    "that runs on 'local' against it.",
)
@click.option(
    "--cases",
    "cases_path",
    type=click.Path(path_type=Path),
    help="A case file or a directory of them (default: the built-in contract cases).",
)
@click.option(
    "-k",
    "pattern",
    metavar="PATTERN",
    help="Only cases whose name contains PATTERN (or matches it as a glob: *, ?).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JUnit XML report to FILE.",
)
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every HTTP exchange, scrubbed, to DIR (a recording --replay can run).",
)
@click.option(
    "--replay",
    "replay_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run offline from the recording in DIR; a request that differs from the recorded one "
    "fails its case.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Derive the call ids from this seed (printed at the start of every run) to repeat a run's requests.",
)
@click.option(
    "--keep", is_flag=True, help="Leave what each case created in place and print it, instead of deleting it."
)
@json_option
@settings_option
@login_options
def contract_test(
    local: bool,
    cases_path: Path | None,
    pattern: str | None,
    junit_path: Path | None,
    as_json: bool,
    record_dir: Path | None,
    replay_dir: Path | None,
    keep: bool,
    seed: int | None,
    settings: Settings,
    **auth: Any,
) -> None:
    """Run the contract cases end to end against the local endpoint, an org or a recording.

    Each case sends its requests exactly as jtel does, checks the answer and what was stored,
    resends, then cleans up. Targets: --local, an org (the login options), or --replay DIR.
    Progress goes to stderr, the summary table (or with --json the report) to stdout.
    """
    from ..contract_test import RunOptions, run_contract_test
    from ..contract_test.report import case_lines, header_line, summary_table, write_junit

    options = RunOptions(
        cases_path=cases_path,
        pattern=pattern,
        local=local,
        record_dir=record_dir,
        replay_dir=replay_dir,
        keep=keep,
        seed=seed,
        auth=auth,
        settings=settings,
    )
    width = 44
    holder: dict[str, Any] = {}

    def on_start(report: Any, cases: list[ContractCase]) -> None:
        nonlocal width
        holder["report"] = report
        width = max(len(c.name) for c in cases)
        click.echo(header_line(report, len(cases)), err=True)

    def on_result(result: Any) -> None:
        for line in case_lines(result, width, _style):
            click.echo(line, err=True)

    try:
        report = run_contract_test(options, on_start=on_start, on_result=on_result)
    except KeyboardInterrupt:
        partial = holder.get("report")
        if partial is not None:
            click.echo("", err=True)
            click.echo(summary_table(partial, _style), err=True)
        raise
    if junit_path:
        write_junit(report, junit_path)
    emit(report.as_dict(), ["", summary_table(report, _style)])
    if report.recorded_to is not None:
        click.echo(f"Recording written to {report.recorded_to}", err=True)
    failed = report.count("failed")
    if failed and not report.replayed:
        click.echo(f"Run again with --seed {report.seed} to send the same call ids.", err=True)
    if failed:
        raise CheckFailed(f"{failed} of {len(report.results)} contract cases failed")
