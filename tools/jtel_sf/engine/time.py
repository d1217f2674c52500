"""jtel wall-clock time to UTC instants (docs/contract.md "Time")."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(local: datetime, time_zone: str) -> datetime:
    """A naive local wall-clock time in ``time_zone`` as an aware UTC instant.

    ``fold=0``: in a DST gap the offset before the change is used, in a repeated hour the
    first occurrence.
    """
    return local.replace(tzinfo=zone(time_zone), fold=0).astimezone(UTC)


def stored_instant(local: datetime, time_zone: str) -> datetime:
    """The instant a DateTime field stores: :func:`to_utc`, truncated to the second.

    Salesforce DateTime fields have a precision of one second (SOAP API Developer Guide, primitive
    data types); the Apex drops the fraction before it stores, and so does the local endpoint. The
    row key still reads the milliseconds as sent.
    """
    return to_utc(local, time_zone).replace(microsecond=0)


def format_instant(instant: datetime) -> str:
    """Salesforce's REST date-time text: ``2026-06-15T08:00:00.000+0000``."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_instant(text: str) -> datetime:
    """Reads ``...Z``, ``...+0000`` or ``...+00:00`` instants back (for comparisons in tests)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)
