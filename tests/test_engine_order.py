"""Canonical row order: rows of one leg are ordered by transaction code before the row key, so the
seed's call lists its codes the same way whatever ids the rows carry (the row key hashes them)."""

from __future__ import annotations

from jtel_sf.engine.body import Row
from jtel_sf.engine.rollup import CallRow, canonical_order


def _row(code: str | None, key: str) -> CallRow:
    values = {"TransactionCodeExportKey": code}
    return CallRow(row=Row(values=values, row_key=key, raw="{}"), link_status="NoRecord")


def test_transaction_code_decides_before_the_row_key() -> None:
    rows = [_row("CCC", "0" * 64), _row(None, "1" * 64), _row("BBB", "f" * 64)]
    ordered = canonical_order(rows, "Europe/Berlin")
    assert [r.get("TransactionCodeExportKey") for r in ordered] == ["BBB", "CCC", None]


def test_the_row_key_breaks_the_last_tie() -> None:
    rows = [_row("AAA", "b" * 64), _row("AAA", "a" * 64)]
    assert [r.row_key for r in canonical_order(rows, "Europe/Berlin")] == ["a" * 64, "b" * 64]
