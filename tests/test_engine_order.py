"""Engine details that must match the Apex: canonical row order (rows of one leg are ordered by
transaction code before the row key, so the seed's call lists its codes the same way whatever ids
the rows carry), and text length counted in UTF-16 units."""

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


def test_text_length_counts_utf16_units_as_salesforce_does() -> None:
    from jtel_sf.engine.body import parse_body

    emoji = "\U0001f600"  # one code point, two UTF-16 units
    ok = parse_body(('{"jtelStatisticsPartAID": 1, "AgentUID": "' + "a" * 253 + emoji + '"}').encode())
    too_long = parse_body(('{"jtelStatisticsPartAID": 1, "AgentUID": "' + "a" * 254 + emoji + '"}').encode())
    assert ok.elements[0].row_key
    assert [e.code for e in too_long.elements[0].errors] == ["too_long"]
