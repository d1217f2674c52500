"""The one place ``send`` touches the contract engine (``jtel_sf.engine``): a line is checked with
the same parse and validation functions the local endpoint answers with, so ``send`` and the
endpoint cannot disagree about a row. If the engine's public names change, this module is the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from jtel_sf.contract import load_outcomes
from jtel_sf.engine import Invalid, Row, parse_body

VALID = "valid"  # a JSON object that passes every rule: the endpoint writes it (or links it)
INVALID = "invalid"  # a JSON object that breaks a rule: the endpoint rejects it (409, quarantined)
UNREADABLE = "unreadable"  # not a JSON object at all (not JSON, not UTF-8, a scalar or an array)


@dataclass(frozen=True)
class Checked:
    """What the contract says about one input line."""

    kind: str  # VALID, INVALID or UNREADABLE
    row_key: str  # the contract row key, or "body:<sha256>" for a body the endpoint rejects
    call_key: str  # rows with the same call key keep their order
    errors: tuple[tuple[str | None, str, str], ...] = ()  # (field, code, message), in field-spec order


def max_batch_size() -> int:
    """The endpoint's largest array (outcomes.json ``maxBatchSize``)."""
    return int(load_outcomes().max_batch_size)


def check_body(body: bytes) -> Checked:
    """Parse and validate one line's body as the endpoint would, as a single object."""
    parsed = parse_body(body)
    digest = "body:" + hashlib.sha256(body).hexdigest()
    if parsed.body_error is not None or parsed.is_batch or parsed.too_large or not parsed.elements:
        invalid = parsed.body_error
        errors = tuple((e.field, e.code, e.message) for e in invalid.errors) if invalid else ()
        if parsed.is_batch:
            errors = ((None, "wrong_type", "a JSON array: one line must hold one JSON object"),)
        return Checked(UNREADABLE, digest, digest, errors)
    element = parsed.elements[0]
    if isinstance(element, Row):
        return Checked(VALID, element.row_key, str(element.call_id))
    assert isinstance(element, Invalid)
    errors = tuple((e.field, e.code, e.message) for e in element.errors)
    call = str(element.call_id) if element.call_id is not None else digest
    return Checked(INVALID, digest, call, errors)
