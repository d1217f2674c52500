"""Streaming input: JSON Lines or CSV files with jtel's field names, one row at a time."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jtel_sf.engine.body import Row, parse_body
from jtel_sf.errors import UsageError

CSV_SUFFIXES = (".csv",)


@dataclass(frozen=True)
class SourceRow:
    """One request to send: where it came from, its body and how it is identified."""

    file: str  # absolute path
    line: int  # 1-based line number (CSV: the line where the record ends)
    body: bytes
    row_key: str  # the contract row key, or "body:<sha256>" for a body the endpoint will reject
    call_key: str  # rows with the same call key keep their order

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.row_key)


def identify(body: bytes) -> tuple[str, str]:
    """(row key, call key) of a body, computed with the same engine as the endpoint."""
    parsed = parse_body(body)
    element = parsed.elements[0] if (parsed.elements and not parsed.is_batch) else None
    if isinstance(element, Row):
        return element.row_key, str(element.call_id)
    digest = hashlib.sha256(body).hexdigest()
    call = ""
    if element is not None and getattr(element, "call_id", None) is not None:
        call = str(element.call_id)
    return "body:" + digest, call or "body:" + digest


def file_format(path: Path, forced: str | None) -> str:
    if forced and forced != "auto":
        return forced
    return "csv" if path.suffix.lower() in CSV_SUFFIXES else "jsonl"


def read_rows(paths: list[Path], fmt: str | None = None) -> Iterator[SourceRow]:
    """Every row of every file, in file order. Memory does not grow with the file size."""
    for path in paths:
        if not path.is_file():
            raise UsageError(f"input file not found: {path}")
        name = str(path.resolve())
        if file_format(path, fmt) == "csv":
            yield from _csv_rows(path, name)
        else:
            yield from _jsonl_rows(path, name)


def _jsonl_rows(path: Path, name: str) -> Iterator[SourceRow]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line.rstrip(b"\r\n")
            if not body.strip():
                continue
            row_key, call_key = identify(body)
            yield SourceRow(name, number, body, row_key, call_key)


def _csv_rows(path: Path, name: str) -> Iterator[SourceRow]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            return
        for record in reader:
            values = {k: v for k, v in record.items() if k is not None and k != ""}
            if not any(v not in (None, "") for v in values.values()):
                continue
            body = json.dumps(values, ensure_ascii=False).encode("utf-8")
            row_key, call_key = identify(body)
            yield SourceRow(name, reader.line_num, body, row_key, call_key)
