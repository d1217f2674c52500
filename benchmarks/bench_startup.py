"""Start-up benchmark: ``jtel-sf --help`` against ``python -c 'import click'`` (the baseline).

Runs the commands interleaved (baseline, jtel-sf --help, the former way, baseline, ...) so that load
on the machine hits all of them alike, and prints the median wall time of each and the ratio to the
baseline. "The former way" imports every command module the way ``--help`` did before the command
table carried the short help. The target (issue 14): ``jtel-sf --help`` within 1.5 x the baseline.

    python benchmarks/bench_startup.py [--runs 31] [--write]

Uses the Python running this script and the ``jtel-sf`` script next to it (the same venv).
``--write`` puts the table into benchmarks/results.md between the start-up markers (replacing
the previous one, leaving the rest of the file alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- bench_startup.py: begin -->"
END = "<!-- bench_startup.py: end -->"
FORMER = (
    "import importlib, jtel_sf.cli as c; "
    "[importlib.import_module(c.command_target(n).split(':')[0]) for n in c.COMMANDS]; "
    "c.main(['--help'])"
)


def _jtel_sf() -> str:
    beside = Path(sys.executable).parent / "jtel-sf"
    found = str(beside) if beside.exists() else shutil.which("jtel-sf")
    if not found:
        raise SystemExit("jtel-sf is not installed next to this Python (pip install -e .)")
    return found


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="runs of each command (default 31)")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/results.md")
    args = parser.parse_args()
    commands = {
        "python -c 'import click' (baseline)": [sys.executable, "-c", "import click"],
        "jtel-sf --help": [_jtel_sf(), "--help"],
        "--help importing every command (former way)": [sys.executable, "-c", FORMER],
    }
    for command in commands.values():  # warm the file cache and .pyc files
        _time(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(_time(command))
    baseline = statistics.median(next(iter(times.values())))
    lines = [
        f"| {'command':<46} | median ms | min ms | ratio to baseline (median) |",
        f"| {'-' * 46} | --------- | ------ | -------------------------- |",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(
            f"| {name:<46} | {median * 1000:9.1f} | {min(values) * 1000:6.1f} | {median / baseline:26.2f} |"
        )
    load = os.getloadavg()[0]
    about = (
        f"{args.runs} interleaved runs each, wall time; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {sys.version.split()[0]};"
        f" load average at the end {load:.2f}"
    )
    print(about)
    print("\n".join(lines))
    if args.write:
        _write(about, lines)


def _write(about: str, lines: list[str]) -> None:
    section = "\n".join(
        [
            BEGIN,
            "## Start-up: `jtel-sf --help` against `import click`",
            "",
            "Produced by `python benchmarks/bench_startup.py --write` (a measurement, not a test). Target"
            " (issue 14): `jtel-sf --help` within 1.5 x `python -c 'import click'`, median of interleaved"
            " runs. The former way imports every command module, as `--help` did before the command"
            " table in cli.py carried each command's short help.",
            "",
            f"- {about}",
            "",
            *lines,
            END,
        ]
    )
    path = ROOT / "benchmarks" / "results.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text, encoding="utf-8")

if __name__ == "__main__":
    main()
