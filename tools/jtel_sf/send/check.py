"""The check before anything is sent: every line read and checked with the contract engine.

One pass over the input counts the rows that would be written, rejected (with their field
errors) and unreadable, the rows already final in a --resume report, and plans the requests the
run would make (rows of a worker in batches). Only counts and the first problems are kept, so
memory does not grow with the input. ``send`` then reads the input a second time to send it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import INVALID, UNREADABLE, VALID
from .report import FinalRows
from .runner import SendOptions, plan_requests, worker_of
from .source import read_rows

MAX_LISTED = 20  # problems listed with their line numbers; the rest only counted


@dataclass
class Problem:
    file: str
    line: int
    kind: str  # INVALID or UNREADABLE
    errors: tuple[tuple[str | None, str, str], ...]

    def text(self) -> str:
        what = "; ".join(f"{f or 'body'}: {code}" for f, code, _ in self.errors) or "unreadable"
        label = "rejected" if self.kind == INVALID else "unreadable"
        return f"{Path(self.file).name}:{self.line}: {label}: {what}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "kind": "rejected" if self.kind == INVALID else "unreadable",
            "errors": [{"field": f, "code": c, "message": m} for f, c, m in self.errors],
        }


@dataclass
class CheckReport:
    lines: int = 0  # non-blank lines (CSV: records) read
    valid: int = 0
    invalid: int = 0
    unreadable: int = 0
    skipped: int = 0  # already final in the --resume report
    to_send: int = 0  # rows the run would send
    planned_requests: int = 0  # endpoint requests without retries
    problems: list[Problem] = field(default_factory=list)
    error_codes: Counter[str] = field(default_factory=Counter)  # "field: code" -> rows
    bytes_read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "wouldWrite": self.valid,
            "rejected": self.invalid,
            "unreadable": self.unreadable,
            "skipped": self.skipped,
            "toSend": self.to_send,
            "plannedRequests": self.planned_requests,
            "errorCodes": dict(self.error_codes.most_common()),
            "problems": [p.as_dict() for p in self.problems],
        }


def check_input(
    paths: list[Path],
    options: SendOptions,
    finals: FinalRows | None,
    report: CheckReport | None = None,
    lock: threading.Lock | None = None,
) -> CheckReport:
    """Read and check every line (see the module doc) into ``report``; ``lock`` guards its counts
    while a progress line reads them."""
    report = report if report is not None else CheckReport()
    guard = lock or threading.Lock()
    workers = max(1, options.concurrency)
    size = max(1, options.batch_size)
    per_worker = [0] * workers
    alone = 0
    for row in read_rows(paths, options.input_format):
        with guard:
            report.lines += 1
            report.bytes_read += len(row.body) + 1
            if row.kind == VALID:
                report.valid += 1
            else:
                if row.kind == INVALID:
                    report.invalid += 1
                else:
                    report.unreadable += 1
                for f, code, _ in row.errors:
                    report.error_codes[f"{f or 'body'}: {code}"] += 1
                if len(report.problems) < MAX_LISTED:
                    report.problems.append(Problem(row.file, row.line, row.kind, row.errors))
            if finals is not None and row.identity in finals:
                report.skipped += 1
                continue
            if row.kind != VALID and not options.send_invalid:
                continue
            report.to_send += 1
            if size == 1 or row.kind == UNREADABLE:
                alone += 1
            else:
                per_worker[worker_of(row.call_key, workers)] += 1
    report.planned_requests = alone + plan_requests(per_worker, size)
    return report
