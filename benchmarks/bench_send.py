"""Benchmark: ``jtel-sf send`` into ``jtel-sf serve`` on this machine (not a test).

Measures rows/s and requests per row of ``send`` with --batch-size 1, 10 and 200 at
--concurrency 1 and 4, side by side with a plain sequential ``requests.Session().post`` loop (one
row a request), and the peak memory (max RSS) of ``send`` on 10^4 rows (sent in batches) and 10^6
rows (checked and planned with --dry-run, because sending 10^6 rows into the local endpoint takes
too long on 2 cores), plus --resume against a report of 10^6 final rows. Writes
benchmarks/results.md.

    python benchmarks/bench_send.py            # full run, writes benchmarks/results.md
    python benchmarks/bench_send.py --quick    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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


def baseline(serve: Serve, path: Path) -> tuple[float, int]:
    """A plain loop: one ``requests.Session().post`` per line, one row per request (jtel's way)."""
    headers = {"Authorization": "Bearer " + serve.token(), "Content-Type": "application/json"}
    http = requests.Session()
    lines = path.read_bytes().splitlines()
    started = time.perf_counter()
    for body in lines:
        reply = http.post(serve.url, data=body, headers=headers)
        assert reply.status_code == 200, reply.text
    return len(lines) / (time.perf_counter() - started), len(lines)


def send_command(
    serve: Serve | None, path: Path, concurrency: int, extra: list[str] | None = None
) -> list[str]:
    target = (
        ["--url", serve.url, "--client-id", serve.client_id, "--client-secret", serve.client_secret]
        if serve is not None
        else []
    )
    return [
        *JTEL_SF,
        "send",
        str(path),
        *target,
        "--concurrency",
        str(concurrency),
        "--no-progress",
        "--json",
        "--max-api-share",  # a local endpoint with /limits (a Developer Edition's 15,000) must not refuse
        "100",
        *(extra or []),
    ]


def measured_rss(command: list[str]) -> tuple[float, int, dict[str, Any]]:
    """Like run_json, with the child's max RSS from wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}\n{err.decode()}")
    return seconds, int(usage.ru_maxrss), json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes; print, do not write results.md")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per batched throughput run")
    parser.add_argument("--single-rows", type=int, default=10_000, help="rows per one-row-per-request run")
    args = parser.parse_args()
    rows = 2000 if args.quick else args.rows
    single_rows = 500 if args.quick else args.single_rows
    memory_sizes = [10**3, 10**4] if args.quick else [10**4, 10**6]
    results: dict[str, Any] = {"throughput": [], "memory": []}
    call = 1_000_000
    with tempfile.TemporaryDirectory(prefix="jtel-bench-") as tmp_text:
        tmp = Path(tmp_text)
        configs: list[tuple[str, int, int]] = [("loop", 1, 1)]
        configs += [("send", batch, concurrency) for batch in (1, 10, 200) for concurrency in (1, 4)]
        for index, (kind, batch, concurrency) in enumerate(configs):
            count = single_rows if batch == 1 else rows
            path = tmp / f"t{index}.jsonl"
            write_rows(path, count, call)
            call += count
            serve = Serve(tmp / f"t{index}.sqlite")  # a fresh database for every run
            try:
                if kind == "loop":
                    rate, requests_made = baseline(serve, path)
                    label = "plain loop: requests.Session().post, one row a request"
                    results["throughput"].append((label, 1, concurrency, count, rate, requests_made / count))
                    continue
                _, _, summary = measured_rss(
                    send_command(serve, path, concurrency, ["--batch-size", str(batch)])
                )
                sent = summary["send"]
                assert sent["rows"]["written"] == count, sent
                label = f"jtel-sf send --batch-size {batch} --concurrency {concurrency}"
                results["throughput"].append(
                    (
                        label,
                        batch,
                        concurrency,
                        count,
                        sent["rowsPerSecond"],
                        sent["requests"]["total"] / count,
                    )
                )
            finally:
                serve.stop()
            print(results["throughput"][-1], flush=True)
        for size in memory_sizes:
            path = tmp / f"mem-{size}.jsonl"
            write_rows(path, size, call)
            call += size
            if size <= 10**4:
                serve = Serve(tmp / f"mem-{size}.sqlite")
                try:
                    seconds, rss, _ = measured_rss(
                        send_command(serve, path, 4, ["--report", str(tmp / f"mem-{size}.report")])
                    )
                finally:
                    serve.stop()
                results["memory"].append(
                    (size, "sent, --batch-size 200 --concurrency 4 --report", seconds, rss)
                )
            else:
                seconds, rss, _ = measured_rss(send_command(None, path, 4, ["--dry-run"]))
                results["memory"].append(
                    (size, "checked and planned (--dry-run, --batch-size 200)", seconds, rss)
                )
                report = tmp / f"mem-{size}.final.jsonl"
                with report.open("w") as handle:
                    for n, _line in enumerate(path.open("rb"), start=1):
                        entry = {"file": str(path.resolve()), "line": n, "rowKey": f"k{n}", "final": True}
                        handle.write(json.dumps(entry) + "\n")
                seconds, rss, _ = measured_rss(
                    send_command(None, path, 4, ["--dry-run", "--resume", "--report", str(report)])
                )
                results["memory"].append(
                    (size, "--dry-run --resume with a report of that many final rows", seconds, rss)
                )
            print(results["memory"][-1], flush=True)
    text = render(results, rows, single_rows)
    print(text)
    if not args.quick:
        write_block(ROOT / "benchmarks" / "results.md", text)


def write_block(path: Path, text: str) -> None:
    """Replace this benchmark's block in results.md, keeping the other benchmarks' blocks."""
    begin, end = "<!-- bench_send.py: begin -->", "<!-- bench_send.py: end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    if begin in old and end in old:
        before, rest = old[: old.index(begin)], old[old.index(end) + len(end) :].lstrip("\n")
    else:
        before, rest = "", old
    new = before + block + ("\n" + rest if rest.strip() else "")
    path.write_text(new, encoding="utf-8")


def render(results: dict[str, Any], rows: int, single_rows: int) -> str:
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
        "Produced by `python benchmarks/bench_send.py` (writes this block). A measurement on one machine,",
        "not a test; numbers vary with the machine and its load.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu or platform.machine()}, "
        f"{platform.system()} {platform.release()}; load average at the end {load or '?'} "
        "(other work was running on the machine)",
        f"- Python {platform.python_version()}, requests {requests.__version__}",
        "- Server: `jtel-sf serve --port P --db TMP/tN.sqlite --quiet --client-id bench --client-secret S`",
        "  in its own process on 127.0.0.1, a fresh database for every run (SQLite WAL, one transaction",
        "  per row, also inside a batch); client and server share the CPUs.",
        "- Input: generated JSON Lines, five rows a call (the seed's shape), fresh call ids for every run.",
        "",
        f"## Throughput into the local endpoint ({rows:,} rows a batched run, every row written)",
        "",
        "| client | batch size | concurrency | rows | rows/s | requests per row |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, batch, concurrency, count, rate, per_row in results["throughput"]:
        lines.append(f"| {label} | {batch} | {concurrency} | {count:,} | {rate:.0f} | {per_row:.3f} |")
    baseline_rate = results["throughput"][0][4]
    best = max(results["throughput"], key=lambda r: r[4])
    lines += [
        "",
        f"One row a request (the plain loop and `--batch-size 1`) was measured on {single_rows:,} rows,",
        f"not {rows:,}: at a few hundred rows/s, {rows:,} rows would take 5 to 10 minutes per run on this",
        "loaded 2-core machine, and the rate does not depend on the count (the queues are bounded).",
        "",
        "Command: `jtel-sf send FILE --url http://127.0.0.1:P/services/apexrest/jtelACD/writeCallStatistics",
        "--client-id bench --client-secret S --batch-size B --concurrency N --no-progress --json`; rows/s",
        "is the summary's `send.rowsPerSecond` (the sending phase: without start-up and without the check",
        "pass, which reads every line once before sending; see the memory table for its cost at 10^6),",
        "requests per row is `send.requests.total` / rows. The baseline posts each line with one",
        "`requests.Session` and a bearer token.",
        "",
        f"Best: {best[0]}, {best[4]:.0f} rows/s, {best[4] / baseline_rate:.1f} times the plain loop.",
        "",
        "## Peak memory of send (max RSS of the send process)",
        "",
        "| rows | what | wall s | max RSS MiB |",
        "| --- | --- | --- | --- |",
    ]
    for size, what, seconds, rss in results["memory"]:
        lines.append(f"| {size:,} | {what} | {seconds:.1f} | {rss / 1024:.1f} |")
    minutes = 10**6 / best[4] / 60
    lines += [
        "",
        "10^6 rows are measured with `--dry-run` (every line read, parsed, validated and keyed with the",
        "contract engine, the requests planned, nothing sent): sending them into the local endpoint",
        f"would take about {minutes:.0f} minutes even at the best rate above. The check pass is the same",
        "code a real send runs before sending, and the send pass reads the file the same way with bounded",
        "queues (at most 64 rows, or 2 batches, waiting per worker), so memory does not grow with the",
        "input: compare the 10^4-row send with the 10^6-row check. `--resume` keeps 8 bytes per row",
        "already final (a sorted array of 64-bit digests; while the report is read, the sorted chunks and",
        "their merge exist side by side, hence the extra memory).",
        "",
        "Reading the numbers: the local endpoint is one Python process (GIL) writing one SQLite",
        "transaction per row, sharing the 2 CPUs with the client, so it is the bottleneck here; batches",
        "save the per-request cost (HTTP, token check, JSON framing, a thread per request), which is most",
        "of the work for one small row. Against an org each request also waits on the network and on the",
        "Apex transaction, and counts against the daily API allowance: there, requests per row (0.005 at",
        "200) matters more than rows/s (not measured: no org is reachable from this machine).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
