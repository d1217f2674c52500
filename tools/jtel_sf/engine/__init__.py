"""The writeCallStatistics service in Python (docs/contract.md), module for Apex class:

- ``call_statistics_service`` JtelCallStatisticsService: ``handle(raw, storage, settings)``
- ``write_pass`` JtelWritePass, ``row_builder`` JtelRowBuilder (+ JtelUserSelector's rules),
  ``call_updater`` JtelCallUpdater, ``rollup`` JtelCallRollup/JtelCallTask/JtelRowOrder,
  ``quarantine_writer`` JtelQuarantineWriter, ``row_answers`` JtelRowAnswers, ``answers`` JtelAnswer
- ``payload_parser`` JtelPayloadParser, ``body`` JtelRowReader (the reading rules), ``time`` JtelLocalTime
- ``storage`` the selectors and DML as an interface; ``memory`` an in-memory storage for tests.

No I/O of its own: the local endpoint (``jtel_sf.local``: HTTP and SQLite storage) and ``send``
build on it.
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
