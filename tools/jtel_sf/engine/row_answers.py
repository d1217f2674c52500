"""``JtelRowAnswers``: the answer for a row stored before, a body held in quarantine, and a link code."""

from __future__ import annotations

from typing import Any

from jtel_sf.contract import load_outcomes, load_records
from jtel_sf.settings import Settings

from .answers import Answer, answer
from .payload_parser import Element
from .quarantine_writer import STATUS_NEW
from .storage import KEY_SEPARATOR, PURGED_AT_FIELD, PURGED_KEYS_FIELD, HeldBody, StoredCall, StoredRow

WRITTEN = load_records().row_outcomes["written"]  # Outcome__c of a stored row: the status of its answer code


def for_jtel(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors as answered: without the platform's ``detail``, which only the quarantine keeps."""
    return [{key: value for key, value in error.items() if key != "detail"} for error in errors]


def is_held(record: HeldBody | None) -> bool:
    """A quarantined body waiting for an admin: its resend gets the first answer (``heldOnResend``)."""
    return record is not None and record.status == STATUS_NEW and record.reason in load_outcomes().held_codes


def is_frozen(call: StoredCall | None) -> bool:
    """Retention deleted the call's rows: its roll-up is frozen."""
    return call is not None and bool(call.fields.get(PURGED_AT_FIELD))


def kept_key(call: StoredCall | None, row_key: str) -> bool:
    """The frozen call kept this deleted row's key (``JtelRetentionService.keptKey``)."""
    return is_frozen(call) and row_key in str(call.fields.get(PURGED_KEYS_FIELD) or "").split(KEY_SEPARATOR)  # type: ignore[union-attr]


def for_frozen_call(element: Element, settings: Settings) -> Answer:
    """A row never seen before of a call frozen by retention: call_archived, rejected and quarantined."""
    return answer("call_archived", settings, call_id=element.call_id, row_key=element.row_key)


def for_link(element: Element, code: str, settings: Settings) -> Answer:
    return answer(code, settings, call_id=element.call_id, row_key=element.row_key)


def for_stored_row(element: Element, row: StoredRow, settings: Settings) -> Answer:
    if row.outcome == WRITTEN:
        return answer("already_stored", settings, call_id=element.call_id, row_key=element.row_key)
    return for_link(element, row.answer_code, settings)


def for_quarantined(element: Element, held: HeldBody, settings: Settings) -> Answer:
    code = held.error_code or held.reason
    return answer(
        code, settings, call_id=element.call_id, row_key=element.row_key, errors=for_jtel(held.errors)
    )
