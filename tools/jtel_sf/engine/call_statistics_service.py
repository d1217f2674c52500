"""``JtelCallStatisticsService``: the writeCallStatistics contract over a :class:`Storage`.

``handle(raw)`` reads the body (``JtelPayloadParser``), answers bodies that are rejected as a
whole, and otherwise processes every element: invalid ones are quarantined, a row repeated in the
same request is answered like its first copy, and the valid rows are written in at most three
write passes (``JtelWritePass``): a pass the org refuses some rows of is rolled back and run again
without them; a lock or busy database answers every remaining row with the retry. An unexpected
failure rolls everything back and quarantines the body. The caller runs ``handle`` inside one
transaction (the Apex request's).
"""

from __future__ import annotations

from typing import Any

from jtel_sf.contract import load_outcomes
from jtel_sf.settings import Settings

from .answers import Answer, answer, batch_answer
from .body import FieldError, decode_raw, parse_body
from .body import body_key as key_of
from .payload_parser import Element, elements
from .quarantine_writer import (
    DETAIL_LIMIT,
    REASON_INVALID,
    REASON_REFUSED,
    REASON_UNEXPECTED,
    QuarantineWriter,
)
from .row_answers import for_jtel
from .storage import Storage, Transient
from .write_pass import WritePass

MAX_WRITE_PASSES = 3


def handle(raw: bytes, storage: Storage, settings: Settings) -> Answer:
    """The answer to one request body; its records are written through ``storage``."""
    start = storage.savepoint()
    try:
        parsed = parse_body(raw)
        if parsed.body_error is not None:
            invalid = parsed.body_error
            result = answer(REASON_INVALID, settings, call_id=invalid.call_id, errors=invalid.errors)
            return _quarantine_body(raw, invalid.raw, result, storage)
        if parsed.too_large:
            return answer("batch_too_large", settings)
        answers = process(elements(raw, parsed), storage, settings)
        return batch_answer(answers, settings) if parsed.is_batch else answers[0]
    except Exception as exc:  # the contract: unexpected failures are quarantined, never a traceback
        storage.rollback(start)
        return answer_unexpected(raw, exc, storage, settings)


def _quarantine_body(raw: bytes, text: str, result: Answer, storage: Storage) -> Answer:
    writer = QuarantineWriter()
    writer.add(
        key_of(raw),
        text,
        None,  # as Apex addBody: a body rejected as a whole names no call
        REASON_INVALID,
        result,
    )
    writer.write(storage)
    return result


def answer_unexpected(raw: bytes, exc: BaseException, storage: Storage, settings: Settings) -> Answer:
    # The exception's text may name internals: jtel gets a generic message, the quarantine keeps it.
    code = REASON_UNEXPECTED
    error = FieldError(None, type(exc).__name__, load_outcomes().error_message(code))
    result = answer(code, settings, errors=[error])
    writer = QuarantineWriter()
    stored = [{**error.as_dict(), "detail": str(exc)[:DETAIL_LIMIT]}]
    writer.add(key_of(raw), decode_raw(raw), None, code, result, stored)
    try:
        writer.write(storage)
    except Exception:
        return answer("quarantine_failed", settings)
    return result


def process(items: list[Element], storage: Storage, settings: Settings) -> list[Answer]:
    """Answers in element order."""
    quarantine = QuarantineWriter()
    answers: dict[int, Answer] = {}
    firsts: list[Element] = []
    repeat_of: dict[int, int] = {}
    first_by_key: dict[str, int] = {}
    for item in items:
        if not item.is_valid:
            invalid = item.value
            result = answer(REASON_INVALID, settings, call_id=item.call_id, errors=invalid.errors)  # type: ignore[union-attr]
            answers[item.index] = result
            quarantine.add(
                item.body_key, item.raw_text, item.call_id, REASON_INVALID, result, index=item.index
            )
        elif str(item.row_key) in first_by_key:
            repeat_of[item.index] = first_by_key[str(item.row_key)]
        else:
            first_by_key[str(item.row_key)] = item.index
            firsts.append(item)
    _write_in_passes(firsts, answers, quarantine, storage, settings)
    for index, first in repeat_of.items():
        answers[index] = _repeat_answer(answers[first], settings)
    quarantine.write(storage)
    return [answers[item.index] for item in items]


def _repeat_answer(first: Answer, settings: Settings) -> Answer:
    if first.status == "written":
        return answer(
            "already_stored", settings, call_id=first.body.get("callId"), row_key=first.body.get("rowKey")
        )
    return first


def _write_in_passes(
    items: list[Element],
    answers: dict[int, Answer],
    quarantine: QuarantineWriter,
    storage: Storage,
    settings: Settings,
) -> None:
    remaining = items
    for _ in range(MAX_WRITE_PASSES):
        if not remaining:
            return
        before = storage.savepoint()
        result = WritePass(storage, settings)
        try:
            result.run(remaining)
        except Transient as transient:
            storage.rollback(before)
            _answer_retry(remaining, transient.code, answers, settings)
            return
        if not result.refusals:
            answers.update(result.answers)
            for item in remaining:
                if item.index in result.held_reasons:
                    reason = result.held_reasons[item.index]
                    quarantine.add(
                        item.body_key,
                        item.raw_text,
                        item.call_id,
                        reason,
                        answers[item.index],
                        index=item.index,
                    )
            return
        storage.rollback(before)
        remaining = _refuse(result, remaining, answers, quarantine, settings)
    _answer_retry(remaining, "busy", answers, settings)


def _refuse(
    result: WritePass,
    items: list[Element],
    answers: dict[int, Answer],
    quarantine: QuarantineWriter,
    settings: Settings,
) -> list[Element]:
    following = []
    for item in items:
        errors: list[dict[str, Any]] | None = result.refusals.get(item.index)
        if errors is None:
            following.append(item)
            continue
        refused = answer(
            REASON_REFUSED, settings, call_id=item.call_id, row_key=item.row_key, errors=for_jtel(errors)
        )
        answers[item.index] = refused
        quarantine.add(
            item.body_key, item.raw_text, item.call_id, REASON_REFUSED, refused, errors, item.index
        )
    return following


def _answer_retry(items: list[Element], code: str, answers: dict[int, Answer], settings: Settings) -> None:
    for item in items:
        answers[item.index] = answer(code, settings, call_id=item.call_id, row_key=item.row_key)
