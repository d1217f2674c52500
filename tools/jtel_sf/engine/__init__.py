"""Pure reference implementation of the writeCallStatistics contract (docs/contract.md).

No I/O: the local endpoint (``jtel_sf.local``) and ``send`` build on these functions.
"""

from .answers import Answer, answer, batch_answer, is_final
from .body import FieldError, Invalid, ParsedBody, Row, body_key, parse_body, row_key, validate_element
from .ids import checksum_suffix, is_valid_id, make_id, to_18
from .rollup import LINKED, NO_RECORD, UNLINKED, CallRow, canonical_order, choose_owner, roll_up, task_values
from .time import format_instant, parse_instant, to_utc

__all__ = [
    "LINKED",
    "NO_RECORD",
    "UNLINKED",
    "Answer",
    "CallRow",
    "FieldError",
    "Invalid",
    "ParsedBody",
    "Row",
    "answer",
    "batch_answer",
    "body_key",
    "canonical_order",
    "checksum_suffix",
    "choose_owner",
    "format_instant",
    "is_final",
    "is_valid_id",
    "make_id",
    "parse_body",
    "parse_instant",
    "roll_up",
    "row_key",
    "task_values",
    "to_18",
    "to_utc",
    "validate_element",
]
