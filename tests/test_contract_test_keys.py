"""The contract test takes quarantine keys from the answer too, so it finds the quarantine record of
an array element however the endpoint (Apex in an org) serialised that element."""

from __future__ import annotations

import json

import requests

from jtel_sf.contract_test.runner import answered_quarantine_keys


def _response(payload: object) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(payload).encode()
    return response


def test_keys_come_from_the_answer_and_from_batch_results() -> None:
    single = _response({"status": "rejected", "code": "invalid_payload", "quarantineKey": "a" * 64})
    assert answered_quarantine_keys(single) == ["a" * 64]
    batch = _response(
        {
            "status": "batch",
            "results": [
                {"httpStatus": 200, "body": {"status": "written"}},
                {"httpStatus": 409, "body": {"status": "rejected", "quarantineKey": "b" * 64}},
            ],
        }
    )
    assert answered_quarantine_keys(batch) == ["b" * 64]


def test_answers_without_keys_or_json_give_none() -> None:
    assert answered_quarantine_keys(_response({"status": "written"})) == []
    assert answered_quarantine_keys(_response([1, 2])) == []
    broken = requests.Response()
    broken._content = b"not json"
    assert answered_quarantine_keys(broken) == []
