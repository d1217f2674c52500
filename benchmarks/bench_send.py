"""Benchmark: ``jtel-sf send`` into ``jtel-sf serve`` on this machine (not a test).

Measures rows/s at --concurrency 1, 4 and 16 against a plain sequential ``requests.post`` loop,
and the peak memory (max RSS) of ``send`` on 10^4 rows (sent) and 10^6 rows (read and checked
with --dry-run, because sending 10^6 rows into the local endpoint takes over an hour on 2 cores),
plus --resume against a report of 10^6 final rows. Writes benchmarks/results.md.

    python benchmarks/bench_send.py            # full run, writes benchmarks/results.md
    python benchmarks/bench_send.py --quick    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
JTEL_SF = [sys.executable, "-m", "jtel_sf.cli"]
ROW = {
    "bOutbound": 0,
    "CallerID": "4989123456",
    "ServiceNumber": "498912340",
    "ServiceName": "Hotline",
    "AcdAgentGroupsName": "Support",
    "AcdConfigurationGroupsName": "Support",
    "dtCallStart": "2026-06-15T10:00:00",
    "dtCallEnd": "2026-06-15T10:02:10",
    "Cause": 16,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_rows(path: Path, rows: int, first_call: int) -> None:
    """Five rows a call (agents w..z, codes), like the seed's call."""
    with path.open("w") as handle:
        for n in range(rows):
            call, leg = divmod(n, 5)
            row = dict(ROW)
            row.update(
                jtelStatisticsPartAID=first_call + call,
                AgentUID=f"agent.{leg}",
                dtCallAlert=f"2026-06-15T10:00:{10 + leg:02d}",
                nDuration=60 * leg - 1,
                CONNRES=1 if leg >= 2 else 2,
                TransactionCodeExportKey=f"T{leg}",
            )
            handle.write(json.dumps(row) + "\n")


def run_measured(command: list[str]) -> tuple[float, int, str]:
    """(wall seconds, max RSS in KiB, stderr) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{err}")
    return seconds, int(usage.ru_maxrss), err


class Serve:
    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.client_id, self.client_secret = "bench", "bench-secret"
        self.proc = subprocess.Popen(
            [
                *JTEL_SF,
                "serve",
                "--port",
                str(self.port),
                "--db",
                str(db),
                "--quiet",
                "--client-id",
                self.client_id,
                "--client-secret",
                self.client_secret,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("Press Ctrl-C"):
                break
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/services/apexrest/jtelACD/writeCallStatistics"

    def token(self) -> str:
        reply = requests.post(
            self.base + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        return str(reply.json()["access_token"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def baseline(serve: Serve, path: Path, session: bool) -> float:
    headers = {"Authorization": "Bearer " + serve.token(), "Content-Type": "application/json"}
    http = requests.Session() if session else requests
    lines = path.read_bytes().splitlines()
    started = time.perf_counter()
    for body in lines:
        reply = http.post(serve.url, data=body, headers=headers)
        assert reply.status_code == 200, reply.text
    return len(lines) / (time.perf_counter() - started)


def send_command(serve: Serve, path: Path, concurrency: int, extra: list[str] | None = None) -> list[str]:
    return [
        *JTEL_SF,
        "send",
        str(path),
        "--url",
        serve.url,
        "--client-id",
        serve.client_id,
        "--client-secret",
        serve.client_secret,
        "--concurrency",
        str(concurrency),
        "--no-progress",
        *(extra or []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes; print, do not write results.md")
    parser.add_argument("--rows", type=int, default=2000, help="rows per throughput run")
    args = parser.parse_args()
    rows = 300 if args.quick else args.rows
    memory_sizes = [(10**3, "send"), (10**4, "dry")] if args.quick else [(10**4, "send"), (10**6, "dry")]
    results: dict[str, Any] = {"throughput": [], "memory": []}
    with tempfile.TemporaryDirectory(prefix="jtel-bench-") as tmp_text:
        tmp = Path(tmp_text)
        serve = Serve(tmp / "bench.sqlite")
        try:
            call = 1_000_000
            for label, session in (
                ("requests.post loop (new connection each row)", False),
                ("requests.Session().post loop (keep-alive)", True),
            ):
                path = tmp / f"base-{call}.jsonl"
                write_rows(path, rows, call)
                call += rows
                results["throughput"].append((label, 1, rows, baseline(serve, path, session)))
            for concurrency in (1, 4, 16):
                path = tmp / f"c{concurrency}.jsonl"
                write_rows(path, rows, call)
                call += rows
                seconds, _, err = run_measured(send_command(serve, path, concurrency))
                match = re.search(r"\(([\d.]+) rows/s\)", err)
                rate = float(match.group(1)) if match else rows / seconds
                results["throughput"].append(
                    (f"jtel-sf send --concurrency {concurrency}", concurrency, rows, rate)
                )
                path_r = tmp / f"r{concurrency}.jsonl"
                write_rows(path_r, rows, call)
                call += rows
                seconds, _, err = run_measured(
                    send_command(
                        serve, path_r, concurrency, ["--report", str(tmp / f"rep-{concurrency}.jsonl")]
                    )
                )
                match = re.search(r"\(([\d.]+) rows/s\)", err)
                rate = float(match.group(1)) if match else rows / seconds
                results["throughput"].append(
                    (
                        f"jtel-sf send --concurrency {concurrency} --report (fsync per row)",
                        concurrency,
                        rows,
                        rate,
                    )
                )
            for size, mode in memory_sizes:
                path = tmp / f"mem-{size}.jsonl"
                write_rows(path, size, call)
                call += size
                extra = ["--dry-run"] if mode == "dry" else ["--report", str(tmp / f"mem-{size}.report")]
                seconds, rss, _ = run_measured(send_command(serve, path, 4, extra))
                what = "read + checked (--dry-run)" if mode == "dry" else "sent, --concurrency 4, --report"
                results["memory"].append((size, what, seconds, rss))
                if mode == "dry":
                    report = tmp / f"mem-{size}.final.jsonl"
                    with report.open("w") as handle:
                        for n, _line in enumerate(path.open("rb"), start=1):
                            handle.write(
                                json.dumps(
                                    {"file": str(path.resolve()), "line": n, "rowKey": f"k{n}", "final": True}
                                )
                                + "\n"
                            )
                    seconds, rss, _ = run_measured(
                        send_command(serve, path, 4, ["--dry-run", "--resume", "--report", str(report)])
                    )
                    results["memory"].append(
                        (size, "--dry-run --resume with a report of that many final rows", seconds, rss)
                    )
        finally:
            serve.stop()
    text = render(results, rows)
    print(text)
    if not args.quick:
        (ROOT / "benchmarks" / "results.md").write_text(text, encoding="utf-8")


def render(results: dict[str, Any], rows: int) -> str:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    load = ""
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[0]
    lines = [
        "# send benchmark results",
        "",
        "Produced by `python benchmarks/bench_send.py` (writes this file). A measurement on one machine,",
        "not a test; numbers vary with the machine and its load.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu or platform.machine()}, "
        f"{platform.system()} {platform.release()}; load average at the end {load or '?'} "
        "(other work was running on the machine)",
        f"- Python {platform.python_version()}, requests {requests.__version__}",
        "- Server: `jtel-sf serve --port P --db TMP/b.sqlite --quiet --client-id bench --client-secret S`",
        "  in its own process on 127.0.0.1 (SQLite WAL, one transaction per row); client and server share",
        "  the CPUs.",
        "- Input: generated JSON Lines, five rows a call (the seed's shape), fresh call ids for every run.",
        "",
        f"## Throughput ({rows} rows a run, every row written)",
        "",
        "| client | concurrency | rows | rows/s |",
        "| --- | --- | --- | --- |",
    ]
    for label, concurrency, count, rate in results["throughput"]:
        lines.append(f"| {label} | {concurrency} | {count} | {rate:.0f} |")
    lines += [
        "",
        "Command: `jtel-sf send FILE --url http://127.0.0.1:P/services/apexrest/jtelACD/writeCallStatistics",
        "--client-id bench --client-secret S --concurrency N --no-progress [--report R]`; rows/s as printed",
        "by send's summary (token fetch excluded, start-up excluded). Baselines: a Python loop posting each",
        "line with `requests.post` (or one `requests.Session`) and a bearer token.",
        "",
        "## Peak memory of send (max RSS of the send process)",
        "",
        "| rows | what | wall s | max RSS MiB |",
        "| --- | --- | --- | --- |",
    ]
    best = max(rate for _, _, _, rate in results["throughput"])
    minutes_for_million = round(10**6 / best / 60)
    for size, what, seconds, rss in results["memory"]:
        lines.append(f"| {size:,} | {what} | {seconds:.1f} | {rss / 1024:.1f} |")
    lines += [
        "",
        "10^6 rows are measured with `--dry-run` (every row read, parsed and keyed with the same engine",
        "as the endpoint, nothing sent) because sending them into the local endpoint would take about",
        f"{minutes_for_million} minutes at the best rate above, over the 10-minute budget of this benchmark.",
        "The reading path is the one a real send uses and the queues are bounded (64 rows a worker), so",
        "memory does not grow with the input: compare the 10^4-row send with the 10^6-row read. `--resume`",
        "keeps 8 bytes per row already final in the report (a sorted array of 64-bit digests; while the",
        "report is read, the sorted chunks and their merge exist side by side, hence the extra memory).",
        "",
        "Reading the numbers: the local endpoint is one Python process (GIL) writing one SQLite",
        "transaction per row, and it shares the 2 CPUs with the client, so it is the bottleneck here: the",
        "rate levels off after a few workers on this machine. Against an org each request mostly",
        "waits on the network and the org, which is what parallel workers hide (not measured: no org is",
        "reachable from this machine). The two baselines show the cost of a new connection per row;",
        "send keeps one connection per worker. `--report` adds an fsync per row.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
