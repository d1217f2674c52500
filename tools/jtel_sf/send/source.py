"""Streaming input: JSON Lines or CSV files with jtel's field names, one row at a time.

Every line is checked with the contract engine (``.contract``) as it is read: valid, invalid
(a JSON object that breaks a rule, with the field errors) or unreadable (not a JSON object: not
JSON, not UTF-8, a scalar, or a JSON array, which is never taken apart into rows: one line is one
row, as one request is one row for jtel's daemon). A binary file (a NUL byte in its first 8 KiB)
is refused as a whole before anything is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jtel_sf.contract import load_fields
from jtel_sf.errors import UsageError

from .contract import INVALID, UNREADABLE, VALID, Checked, check_body

CSV_SUFFIXES = (".csv",)
SNIFF_BYTES = 8192

__all__ = ["INVALID", "UNREADABLE", "VALID", "SourceRow", "check_files", "file_format", "read_rows"]


@dataclass(frozen=True)
class SourceRow:
    """One line of input: where it came from, its body and what the contract says about it."""

    file: str  # absolute path
    line: int  # 1-based line number (CSV: the line where the record ends)
    body: bytes
    row_key: str  # the contract row key, or "body:<sha256>" for a body the endpoint will reject
    call_key: str  # rows with the same call key keep their order
    kind: str = VALID  # VALID, INVALID, UNREADABLE
    errors: tuple[tuple[str | None, str, str], ...] = ()

    @property
    def identity(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.row_key)


def _row(name: str, line: int, body: bytes, checked: Checked) -> SourceRow:
    return SourceRow(name, line, body, checked.row_key, checked.call_key, checked.kind, checked.errors)


def file_format(path: Path, forced: str | None) -> str:
    if forced and forced != "auto":
        return forced
    return "csv" if path.suffix.lower() in CSV_SUFFIXES else "jsonl"


def check_files(paths: list[Path]) -> None:
    """Refuse missing and binary files before anything is read or sent."""
    for path in paths:
        if not path.is_file():
            raise UsageError(f"input file not found: {path}")
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
        offset = head.find(b"\0")
        if offset >= 0:
            raise UsageError(
                f"{path} is a binary file (NUL byte at offset {offset}), not JSON Lines or CSV",
                hint="send reads JSON Lines (one JSON object a line) or CSV with jtel's field names.",
            )


def read_rows(paths: list[Path], fmt: str | None = None) -> Iterator[SourceRow]:
    """Every line of every file, in file order, checked. Memory does not grow with the file size."""
    check_files(paths)
    for path in paths:
        name = str(path.resolve())
        if file_format(path, fmt) == "csv":
            yield from _csv_rows(path, name)
        else:
            yield from _jsonl_rows(path, name)


def _jsonl_rows(path: Path, name: str) -> Iterator[SourceRow]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line.rstrip(b"\r\n")
            if number == 1 and body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]  # a UTF-8 byte order mark is not part of the first row
            if not body.strip():
                continue
            yield _row(name, number, body, check_body(body))


def _unreadable(name: str, line: int, raw: str, message: str) -> SourceRow:
    body = raw.encode("utf-8", errors="replace")
    digest = "body:" + hashlib.sha256(body).hexdigest()
    return SourceRow(name, line, body, digest, digest, UNREADABLE, ((None, "invalid_csv", message),))


def _csv_rows(path: Path, name: str) -> Iterator[SourceRow]:
    with path.open("rb") as raw_handle:
        try:
            text = io.TextIOWrapper(raw_handle, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                return
            known = {spec.name for spec in load_fields()}
            if not known.intersection(header):
                raise UsageError(
                    f"{path}: the CSV header names none of jtel's fields",
                    hint="The first line must name the columns, e.g. jtelStatisticsPartAID,CONNRES,...",
                )
            for record in reader:
                line = reader.line_num
                if not any(value for value in record):
                    continue
                if len(record) != len(header):
                    yield _unreadable(
                        name, line, ",".join(record), f"{len(record)} values, the header has {len(header)}"
                    )
                    continue
                values = {key: value for key, value in zip(header, record, strict=True) if key}
                body = json.dumps(values, ensure_ascii=False).encode("utf-8")
                yield _row(name, line, body, check_body(body))
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}): not a CSV file") from None
        except csv.Error as exc:
            raise UsageError(f"{path}: not a readable CSV file ({exc})") from None
