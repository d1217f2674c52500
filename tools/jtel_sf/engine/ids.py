"""Salesforce record Ids: the 15/18-character forms and the 18-character checksum suffix."""

from __future__ import annotations

import re

_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character Id (case-safe form).

    For each five-character chunk, bit i is set when character i is an upper-case letter;
    the 5-bit value indexes ``A..Z0..5``.
    """
    if len(id15) != 15:
        raise ValueError("a 15-character Id is needed")
    suffix = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to_18(record_id: str) -> str | None:
    """The 18-character form of a well-formed Id, or None when the text is not an Id."""
    if not isinstance(record_id, str) or not _ID_RE.fullmatch(record_id):
        return None
    id15 = record_id[:15]
    expected = checksum_suffix(id15)
    if len(record_id) == 18 and record_id[15:].upper() != expected:
        return None
    return id15 + expected


def is_valid_id(record_id: str) -> bool:
    return to_18(record_id) is not None


def make_id(prefix: str, number: int, pod: str = "8d") -> str:
    """A synthetic 18-character Id: key prefix, a fixed pod part and a base-62 counter."""
    if len(prefix) != 3:
        raise ValueError("key prefixes have three characters")
    width = 15 - len(prefix) - len(pod)
    digits = []
    n = number
    while n:
        n, rest = divmod(n, 62)
        digits.append(_BASE62[rest])
    body = "".join(reversed(digits)).rjust(width, "0")
    if len(body) > width:
        raise ValueError("Id counter overflow")
    id15 = prefix + pod + body
    return id15 + checksum_suffix(id15)
