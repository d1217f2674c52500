"""How an expected value from a case is compared with what the org stored."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def mismatch(expected: Any, actual: Any) -> str | None:
    """None when ``actual`` satisfies ``expected``; otherwise ``expected X, got Y``.

    ``null`` expects empty (null or ""); date-times are compared as instants (``...Z`` against
    Salesforce's ``...+0000``); numbers numerically (``120`` against ``120.0``); Ids by their
    first 15 characters (15- and 18-character forms of one record are equal).
    """
    message = f"expected {show(expected)}, got {show(actual)}"
    if expected is None:
        return None if actual in (None, "") else message
    if isinstance(expected, bool) or isinstance(actual, bool):
        return None if expected is actual else message
    if isinstance(expected, int | float):
        return None if isinstance(actual, int | float) and float(expected) == float(actual) else message
    if isinstance(expected, str) and isinstance(actual, str):
        if expected == actual:
            return None
        if _INSTANT.match(expected):
            want, got = _instant(expected), _instant(actual)
            return None if want is not None and got is not None and want == got else message
        if _ID.match(expected) and _ID.match(actual) and expected[:15] == actual[:15]:
            return None
        return message
    return None if expected == actual else message


def same_id(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and bool(a) and mismatch(a, b) is None
