"""``JtelWritePass``: one attempt at storing the valid rows of a request.

Locks the calls, answers rows stored before and bodies still held in quarantine, creates missing
calls, inserts the rows (``JtelRowBuilder``) and rolls up each call once (``JtelCallUpdater``). A
row the org refuses lands in ``refusals``: the service rolls the pass back and runs it again
without that row.
"""

from __future__ import annotations

from typing import Any

from jtel_sf.contract import load_outcomes
from jtel_sf.settings import Settings

from . import call_updater, row_answers, row_builder
from .answers import Answer, answer
from .payload_parser import Element, call_ids
from .quarantine_writer import DETAIL_LIMIT, REASON_ARCHIVED
from .storage import Storage, StoredCall


class WritePass:
    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings
        self.answers: dict[int, Answer] = {}
        self.held_reasons: dict[int, str] = {}
        self.refusals: dict[int, list[dict[str, Any]]] = {}
        self.calls_by_key: dict[str, StoredCall] = {}

    def run(self, elements: list[Element]) -> None:
        self.calls_by_key.update(self.storage.lock_calls(call_ids(elements)))
        fresh = self._without_known_rows(elements)
        if not fresh:
            return
        for key in call_ids(fresh):
            if key not in self.calls_by_key:
                self.calls_by_key[key] = self.storage.insert_call(
                    key, {"Name": key, "CallKey__c": key, "TimeZone__c": self.settings.time_zone}
                )
        rows, link_codes = row_builder.build(fresh, self.calls_by_key, self.storage, self.settings)
        results = self.storage.insert_rows([rows[e.index] for e in fresh])
        for element, refusal in zip(fresh, results, strict=True):
            if refusal is not None:
                self.refusals[element.index] = [
                    {
                        "field": None,
                        "code": refusal.status_code,
                        "message": load_outcomes().error_message("org_refused"),
                        "detail": refusal.detail[:DETAIL_LIMIT],
                    }
                ]
        if self.refusals:
            return
        call_updater.save([self.calls_by_key[k] for k in call_ids(fresh)], self.storage, self.settings)
        for element in fresh:
            if element.index not in self.answers:
                self.answers[element.index] = row_answers.for_link(
                    element, link_codes[element.index], self.settings
                )

    def _without_known_rows(self, elements: list[Element]) -> list[Element]:
        """Answers rows stored before (a resend) and bodies still held; returns the rest."""
        known = self.storage.rows_by_key([str(e.row_key) for e in elements])
        held = self.storage.held_bodies({e.body_key for e in elements})
        fresh = []
        for element in elements:
            row = known.get(str(element.row_key))
            call = self.calls_by_key.get(str(element.call_id))
            record = held.get(element.body_key)
            if row is not None:
                self.answers[element.index] = row_answers.for_stored_row(element, row, self.settings)
            elif row_answers.kept_key(call, str(element.row_key)):  # a row retention deleted: a resend
                self.answers[element.index] = answer(
                    "already_stored", self.settings, call_id=element.call_id, row_key=element.row_key
                )
            elif row_answers.is_frozen(call):
                # retention deleted this call's rows and this row was never seen: it cannot join the roll-up
                self.answers[element.index] = row_answers.for_frozen_call(element, self.settings)
                self.held_reasons[element.index] = REASON_ARCHIVED
            elif row_answers.is_held(record):
                assert record is not None
                self.answers[element.index] = row_answers.for_quarantined(element, record, self.settings)
                self.held_reasons[element.index] = record.reason
            else:
                fresh.append(element)
        return fresh
