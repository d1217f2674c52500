"""``send`` from start to end: check the input, choose the target (--url, an org, or a local
endpoint started for the run), check the org's API budget, send, and summarise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jtel_sf.errors import UsageError
from jtel_sf.settings import Settings

from .budget import Budget, LimitsUnavailable, read_limits
from .check import CheckReport, check_input
from .contract import max_batch_size
from .progress import Progress, duration, progress_line
from .report import FinalRows, ReportWriter
from .runner import Sender, SendOptions, SendResult
from .source import INVALID, UNREADABLE, check_files, read_rows
from .target import Target, TokenSource, client_credentials_fetcher, limits_url, url_target


@dataclass
class SendRun:
    """Everything a run found: the check, the send (None for a dry run or a refusal)."""

    check: CheckReport
    options: SendOptions
    result: SendResult | None = None
    refused: str | None = None  # why nothing was sent
    refused_hint: str | None = None
    check_seconds: float = 0.0
    budget: Budget | None = None


def org_target(auth_kwargs: Mapping[str, Any], settings: Settings) -> Target:
    """The endpoint in an org reached through ``jtel_sf.auth.connect`` (any of its flows)."""
    from jtel_sf.auth import AuthOptions, connect

    org = connect(AuthOptions.from_click(auth_kwargs))

    def current_token() -> str:
        header = str(org.session.headers.get("Authorization", ""))
        return header.split(" ", 1)[1] if " " in header else header

    def fetch() -> str:
        org.refresh()
        return current_token()

    url = f"{org.instance_url}/services/apexrest/{settings.url_path.strip('/')}"
    tokens = TokenSource(current_token(), fetch if org.can_refresh else None)
    return Target(url, tokens, f"{url} ({org.method})", limits_url(org.instance_url, org.api_version))


def check_options(options: SendOptions) -> None:
    """Option mistakes, found before anything is started or sent."""
    if options.resume and options.report is None:
        raise UsageError("--resume needs --report FILE (the report of the run to resume)")
    if options.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    largest = max_batch_size()
    if not 1 <= options.batch_size <= largest:
        raise UsageError(f"--batch-size must be 1..{largest} (the endpoint's largest array)")
    if options.report is not None and options.report.exists() and not options.resume and not options.dry_run:
        raise UsageError(
            f"report file exists: {options.report}",
            hint="Use --resume to continue that run, or another file.",
        )


def _checked(paths: list[Path], options: SendOptions, finals: FinalRows | None, out: Any) -> CheckReport:
    lock = threading.Lock()
    total = sum(path.stat().st_size for path in paths)  # the check's total comes from the file sizes
    report = CheckReport()  # filled as the check goes; the progress line reads it under the lock
    started = time.monotonic()

    def line() -> str:
        with lock:
            done, lines = min(report.bytes_read, total), report.lines
        seconds = max(time.monotonic() - started, 1e-9)
        rate = done / seconds
        eta = duration((total - done) / rate) if rate > 0 else "?"
        share = 100.0 * done / total if total else 100.0
        return (
            f"checking: {done / 1e6:.1f}/{total / 1e6:.1f} MB ({share:.0f}%), {lines:,} lines, "
            f"{lines / seconds:,.0f} lines/s, ETA {eta}"
        )

    with Progress(line, enabled=options.progress, interval=options.progress_interval, out=out):
        check_input(paths, options, finals, report, lock)
        with lock:
            report.bytes_read = total  # all read (the count above is the rows' size, close to the file's)
    return report


def refusal(check: CheckReport, options: SendOptions) -> str | None:
    if options.send_invalid or not (check.invalid or check.unreadable):
        return None
    return (
        f"the input has {check.invalid} rows the endpoint would reject and {check.unreadable} unreadable "
        "lines; nothing was sent"
    )


def send_files(
    paths: list[Path],
    *,
    url: str | None,
    local: bool,
    db_path: Path | None,
    auth_kwargs: Mapping[str, Any],
    settings: Settings,
    options: SendOptions,
    echo: Callable[[str], Any],
    out: Any = None,
) -> SendRun:
    """Check the input, resolve the target, send, and stop a local endpoint started for the run."""
    if not paths:
        raise UsageError("give at least one input FILE (JSON Lines or CSV)")
    chosen = [name for name, on in (("--url", bool(url)), ("--local", local)) if on]
    if len(chosen) > 1:
        raise UsageError("use one of --url and --local (or org options)")
    if db_path is not None and not local:
        raise UsageError("--db goes with --local")
    check_options(options)
    check_files(paths)
    finals = FinalRows.from_report(options.report) if (options.resume and options.report) else None
    if finals is not None:
        echo(f"Resuming: {len(finals)} rows already answered finally in {options.report}")
    started = time.monotonic()
    check = _checked(paths, options, finals, out)
    run = SendRun(check, options, check_seconds=time.monotonic() - started)
    if options.dry_run:
        return run
    run.refused = refusal(check, options)
    if run.refused:
        return run
    with ExitStack() as stack:
        if local:
            from jtel_sf.local.server import LocalServer

            server = stack.enter_context(LocalServer(db_path=db_path, settings=settings, quiet=True))
            fetch = client_credentials_fetcher(server.token_url, server.client_id, server.client_secret)
            target = Target(
                server.endpoint_url,
                TokenSource(None, fetch),
                f"local endpoint {server.base_url}",
                limits_url(server.base_url, settings.api_version),
            )
            echo(f"Local endpoint {server.base_url}, database {server.db_path}")
        elif url:
            target = url_target(
                url,
                auth_kwargs.get("access_token"),
                auth_kwargs.get("client_id"),
                auth_kwargs.get("client_secret"),
                settings.api_version,
            )
            echo(f"Sending to {target.description}")
        else:
            target = org_target(auth_kwargs, settings)
            echo(f"Sending to {target.description}")
        run.budget = budget_for(target, options, check, echo)
        try:
            run.budget.refuse_if_over(check.planned_requests)
        except UsageError as exc:  # refused like bad input: the summary and --json still come
            run.refused, run.refused_hint = str(exc), exc.hint
            return run
        run.result = _send(paths, target, options, check, finals, out, run.budget)
    return run


def budget_for(
    target: Target, options: SendOptions, check: CheckReport, echo: Callable[[str], Any]
) -> Budget:
    """Read the org's limits and refuse a run that would use more than its share."""
    if target.limits_url is None:
        return Budget(None, options.max_api_share)
    try:
        limits = read_limits(target)
    except LimitsUnavailable as exc:
        echo(f"API budget: not checked ({exc}: not a Salesforce org)")
        return Budget(None, options.max_api_share)
    except UsageError:
        if options.max_api_share < 100:
            raise
        echo("API budget: /limits not readable (403); --max-api-share 100: not checked before the start")
        return Budget(None, options.max_api_share)
    budget = Budget(limits, options.max_api_share)
    echo(
        f"API budget: {limits.remaining} of {limits.max} daily API requests remaining; this run may use "
        f"{budget.allowance} (--max-api-share {options.max_api_share:g}%) and plans "
        f"{check.planned_requests} (+1 for /limits)."
    )
    return budget


def _send(
    paths: list[Path],
    target: Target,
    options: SendOptions,
    check: CheckReport,
    finals: FinalRows | None,
    out: Any,
    budget: Budget,
) -> SendResult:
    sender = Sender(target, options, out=out, on_reply=budget.observe, before_request=budget.before_request)
    budget.attach(sender.stop)
    if options.report is not None:
        sender.report = ReportWriter(options.report)
    rows = (
        row
        for row in read_rows(paths, options.input_format)
        if options.send_invalid or row.kind not in (INVALID, UNREADABLE)
    )

    def line() -> str:
        with sender.lock:
            c = sender.counts
            tail = (
                f"written {c.written}, duplicate {c.duplicate}, not_found {c.not_found}, "
                f"rejected {c.rejected}, failed {c.failed}, requests {c.requests}"
            )
            done = c.sent
        return progress_line(done, check.to_send, time.monotonic() - sender.started, "rows", tail)

    try:
        with Progress(line, enabled=options.progress, interval=options.progress_interval, out=out):
            return sender.run(rows, finals)
    finally:
        if sender.report is not None:
            sender.report.close()


def summary(run: SendRun) -> list[str]:
    """The human summary (stderr)."""
    check = run.check
    lines = [
        f"Checked {check.lines} lines in {run.check_seconds:.1f} s: {check.valid} rows to write, "
        f"{check.invalid} rejected by the contract, {check.unreadable} unreadable"
        + (f", {check.skipped} already final (--resume)" if check.skipped else "")
        + "."
    ]
    if check.problems:
        lines.extend(f"  {p.text()}" for p in check.problems)
        more = check.invalid + check.unreadable - len(check.problems)
        if more > 0:
            lines.append(f"  ... and {more} more")
        lines.append(
            "  errors by field: "
            + ", ".join(f"{key} x{count}" for key, count in check.error_codes.most_common())
        )
    size = run.options.batch_size
    if run.options.dry_run:
        lines.append(
            f"Dry run: {check.to_send} rows would be sent in {check.planned_requests} endpoint requests "
            f"(--batch-size {size}, --concurrency {run.options.concurrency}; +1 to read /limits against an "
            "org; retries not included); nothing sent."
        )
        return lines
    if run.refused:
        lines.append(f"Refused: {run.refused}.")
        return lines
    result = run.result
    assert result is not None
    c = result.counts
    lines.append(
        f"Sent {c.sent} rows in {result.seconds:.1f} s ({result.rows_per_second:.1f} rows/s): "
        f"written {c.written}, duplicate {c.duplicate}, not_found {c.not_found}, rejected {c.rejected}, "
        f"failed {c.failed}; {c.retried} retries; {c.skipped} skipped (already final)."
    )
    lines.append(
        f"Requests: {c.requests} to the endpoint ({c.batches} batches of up to {size} rows, "
        f"{c.halved} halved after a 413); {c.requests / c.sent if c.sent else 0:.3f} requests a row."
    )
    budget = run.budget
    if budget is not None:
        text = f"API calls used: {budget.used}"
        if budget.limits is not None:
            text += f" (allowance {budget.allowance}, {budget.limits.remaining} remaining at the start)"
        if budget.org_usage is not None:
            used, limit = budget.org_usage
            text += f"; the org's usage now {used}/{limit} (Sforce-Limit-Info)"
        lines.append(text + ".")
    lines.extend(f"  failed: {reason}" for reason in result.failures[:10])
    if result.aborted:
        lines.append(f"Stopped early: {result.aborted}")
    return lines


def summary_document(run: SendRun) -> dict[str, Any]:
    """The summary for machines (``--json``): the check, the plan and, after a send, every count."""
    document: dict[str, Any] = {
        "dryRun": run.options.dry_run,
        "batchSize": run.options.batch_size,
        "concurrency": run.options.concurrency,
        "check": run.check.as_dict(),
        "refused": run.refused,
    }
    if run.budget is not None:
        document["apiBudget"] = run.budget.as_dict()
    if run.result is not None:
        c = run.result.counts
        document["send"] = {
            "seconds": round(run.result.seconds, 3),
            "rowsPerSecond": round(run.result.rows_per_second, 1),
            "rows": {
                "sent": c.sent,
                "written": c.written,
                "duplicate": c.duplicate,
                "notFound": c.not_found,
                "rejected": c.rejected,
                "other": c.other,
                "failed": c.failed,
                "skipped": c.skipped,
                "retried": c.retried,
            },
            "requests": {"total": c.requests, "batches": c.batches, "halved": c.halved},
            "aborted": run.result.aborted,
            "failures": run.result.failures,
        }
    return document
