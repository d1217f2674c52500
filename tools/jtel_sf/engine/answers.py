"""Answer bodies ``{status, code, message, callId, rowKey, errors}`` (the local store adds
``quarantineKey`` to rejected ones); HTTP status from outcomes.json."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jtel_sf.contract import load_outcomes
from jtel_sf.settings import Settings

from .body import FieldError


@dataclass(frozen=True)
class Answer:
    http: int
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body["status"])

    @property
    def code(self) -> str:
        return str(self.body["code"])


def answer(
    code: str,
    settings: Settings,
    *,
    call_id: int | str | None = None,
    row_key: str | None = None,
    errors: Iterable[FieldError | dict[str, Any]] = (),
    message: str | None = None,
) -> Answer:
    outcomes = load_outcomes()
    status = outcomes.status_for_code(code)
    http = settings.retry_http_status if status == "retry" else outcomes.http_for_status(status)
    body: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message or str(outcomes.codes[code]["meaning"]),
    }
    if call_id is not None:
        body["callId"] = str(call_id)
    if row_key is not None:
        body["rowKey"] = row_key
    error_list = [e.as_dict() if isinstance(e, FieldError) else dict(e) for e in errors]
    if error_list:
        body["errors"] = error_list
    return Answer(http, body)


def batch_answer(results: Sequence[Answer], settings: Settings) -> Answer:
    base = answer("batch_processed", settings)
    base.body["results"] = [
        {"index": index, "httpStatus": result.http, "body": result.body}
        for index, result in enumerate(results)
    ]
    return base


def is_final(status: str) -> bool:
    return bool(load_outcomes().statuses[status]["final"])
