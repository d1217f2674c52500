"""The ``--report`` file: one JSON line per row with its final (or last) answer, fsynced line by line.

``--resume`` reads it back and skips the rows already answered finally. Rows are identified by
file, line number and row key, kept as 8-byte digests in a sorted array so that resuming a run
of millions of rows costs 8 bytes a row, not a Python object each.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import threading
from array import array
from bisect import bisect_left
from pathlib import Path
from typing import Any

_CHUNK = 65536


def row_digest(file: str, line: int, row_key: str) -> int:
    text = f"{file}\0{line}\0{row_key}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class FinalRows:
    """Set of rows already answered finally (from an earlier report)."""

    def __init__(self, digests: array | None = None) -> None:
        self._digests = digests if digests is not None else array("Q")

    @classmethod
    def from_report(cls, path: Path) -> FinalRows:
        """Reads the report line by line; sorts in chunks and merges, so no Python int per row is kept."""
        chunks: list[array] = []
        chunk = array("Q")
        if path.is_file():
            with path.open("rb") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a kill: that row is sent again
                    if isinstance(entry, dict) and entry.get("final") is True:
                        chunk.append(row_digest(str(entry["file"]), int(entry["line"]), str(entry["rowKey"])))
                        if len(chunk) >= _CHUNK:
                            chunks.append(array("Q", sorted(chunk)))
                            chunk = array("Q")
        if chunk:
            chunks.append(array("Q", sorted(chunk)))
        return cls(array("Q", heapq.merge(*chunks)) if len(chunks) > 1 else (chunks[0] if chunks else None))

    def __len__(self) -> int:
        return len(self._digests)

    def __contains__(self, identity: tuple[str, int, str]) -> bool:
        digest = row_digest(*identity)
        index = bisect_left(self._digests, digest)
        return index < len(self._digests) and self._digests[index] == digest


class ReportWriter:
    """Appends one JSON line per row; flush + fsync after each answer (a row's, or a batch's rows), so
    a kill loses at most the answer in flight (its rows are sent again on --resume and answered
    ``duplicate``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("ab")
        # A line cut short by an earlier kill would glue onto the next one: start on a fresh line.
        if self._handle.tell() > 0:
            with path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    self._handle.write(b"\n")
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        self.write_many([entry])

    def write_many(self, entries: list[dict[str, Any]]) -> None:
        """All lines of one answer (a batch's elements), then one flush + fsync."""
        if not entries:
            return
        data = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries).encode("utf-8")
        with self._lock:
            self._handle.write(data)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            self._handle.close()
