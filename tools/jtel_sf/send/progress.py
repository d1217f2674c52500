"""A one-line status on stderr while ``send`` checks and sends: done/total, rows/s and ETA.

On a terminal the line is redrawn in place every ``interval`` seconds; elsewhere (``--progress``
into a file or pipe) a line is written every 5 seconds at most. Off by default when stderr is not a
terminal, so logs of scripted runs hold only the summary.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(done: int, total: int | None, seconds: float, unit: str, tail: str = "") -> str:
    """``12,000/100,000 rows (12%), 850 rows/s, ETA 1m32s | tail``."""
    seconds = max(seconds, 1e-9)
    rate = done / seconds
    if total:
        share = min(100.0, 100.0 * done / total)
        eta = (
            duration((total - done) / rate) if rate > 0 and done < total else ("0s" if done >= total else "?")
        )
        text = f"{done:,}/{total:,} {unit} ({share:.0f}%), {rate:,.0f} {unit}/s, ETA {eta}"
    else:
        text = f"{done:,} {unit}, {rate:,.0f} {unit}/s"
    return text + (f" | {tail}" if tail else "")


class Progress:
    """Calls ``line()`` and writes it to ``out`` periodically from a daemon thread."""

    def __init__(
        self, line: Callable[[], str], *, enabled: bool | None, interval: float = 1.0, out: Any = None
    ) -> None:
        self.out = out or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.enabled = self.tty if enabled is None else enabled
        self.interval = interval if self.tty else max(interval, 5.0)
        self.line = line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-progress", daemon=True)
        self.started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.enabled and self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
            self._print(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._print()

    def _print(self, final: bool = False) -> None:
        try:
            if self.tty:
                self.out.write("\r\x1b[K" + self.line() + ("\n" if final else ""))
            else:
                self.out.write(self.line() + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass
