"""``JtelPayloadParser``: a request body as elements, each with its raw text and quarantine key.

The reading rules themselves (UTF-8 JSON, the 17 fields, the row key) are :mod:`jtel_sf.engine.body`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .body import Invalid, ParsedBody, Row, body_key


@dataclass(frozen=True)
class Element:
    """One row of a request (the body, or one array element), as ``JtelPayloadParser.Element``."""

    index: int
    value: Row | Invalid
    raw_text: str  # the body's text, or the element serialised again (RawPayload__c, RawBody__c)
    body_key: str  # BodyKey__c of its quarantine record

    @property
    def is_valid(self) -> bool:
        return isinstance(self.value, Row)

    @property
    def row(self) -> Row:
        assert isinstance(self.value, Row)
        return self.value

    @property
    def call_id(self) -> str | None:
        """The call's key (jtelStatisticsPartAID as text), when it could be read."""
        if isinstance(self.value, Row):
            return str(self.value.call_id)
        return None if self.value.call_id is None else str(self.value.call_id)

    @property
    def row_key(self) -> str | None:
        return self.value.row_key if isinstance(self.value, Row) else None


def element_key(raw_text: str) -> str:
    """An array element's key: SHA-256 of its text as Apex's ``Blob.valueOf`` encodes it (Java's
    UTF-8 encoder turns a lone surrogate into ``?``; Python's ``errors="replace"`` does the same)."""
    return body_key(raw_text.encode("utf-8", errors="replace"))


def elements(raw: bytes, parsed: ParsedBody) -> list[Element]:
    """The elements of a parsed body that has neither a body error nor too many elements."""
    if not parsed.is_batch:
        only = parsed.elements[0]
        return [Element(0, only, only.raw, body_key(raw))]
    return [Element(i, value, value.raw, element_key(value.raw)) for i, value in enumerate(parsed.elements)]


def call_ids(items: list[Element]) -> list[str]:
    """The distinct call keys of valid elements, in order of first appearance."""
    seen: dict[str, None] = {}
    for item in items:
        if item.is_valid:
            seen.setdefault(str(item.call_id), None)
    return list(seen)
