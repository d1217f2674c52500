"""Unit tests of contract-test's plain functions: placeholders, comparisons, answer checks,
quarantine keys and replay differences."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from jtel_sf.contract import load_outcomes
from jtel_sf.contract_test.compare import mismatch
from jtel_sf.contract_test.errors import CaseSetupError
from jtel_sf.contract_test.placeholders import Expander, call_id
from jtel_sf.contract_test.runner import body_bytes, check_answer, quarantine_sources
from jtel_sf.contract_test.transport import first_difference


def answer(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


# -- placeholders -----------------------------------------------------------------------------
def test_call_ids_are_unique_per_case_and_number_and_repeat_with_the_seed() -> None:
    ids = {call_id(1, "a"), call_id(1, "a", 2), call_id(1, "b"), call_id(2, "a")}
    assert len(ids) == 4
    assert call_id(1, "a") == call_id(1, "a")
    assert all(10**17 <= i <= 999_999_999_999_999_999 for i in ids)


def test_expander_fills_every_placeholder_kind() -> None:
    expander = Expander(5, "case", {"contact": {"Id": "003000000000001AAA"}})
    value = expander.value(
        {
            "a": "{{call}}",
            "b": "{{call:int}}",
            "c": "{{call:2}}",
            "d": "{{contact.Id}}",
            "e": "id {{call}} for {{contact.Id}}",
            "f": {"$repeat": 3, "item": {"n": "{{index}}"}},
            "g": 7,
        }
    )
    first, second = call_id(5, "case"), call_id(5, "case", 2)
    assert value == {
        "a": str(first),
        "b": first,
        "c": str(second),
        "d": "003000000000001AAA",
        "e": f"id {first} for 003000000000001AAA",
        "f": [{"n": 0}, {"n": 1}, {"n": 2}],
        "g": 7,
    }
    assert expander.call_ids == [first, second]


@pytest.mark.parametrize("text", ["{{nobody.Id}}", "{{index}}", "{{whatever}}", "{{call:x}}"])
def test_unknown_placeholders_are_case_errors(text: str) -> None:
    with pytest.raises(CaseSetupError):
        Expander(1, "case").value({"x": text})


def test_raw_bodies_are_sent_as_written_and_bodies_compactly() -> None:
    expander = Expander(1, "case")
    assert body_bytes({"rawBody": ""}, expander) == b""
    assert body_bytes({"rawBody": "a=1&b=2"}, expander) == b"a=1&b=2"
    assert body_bytes({"body": {"k": "ü", "n": [1, 2]}}, expander) == '{"k":"ü","n":[1,2]}'.encode()


# -- comparisons ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("2026-06-15T08:00:00.250Z", "2026-06-15T08:00:00.250+0000"),
        ("2026-06-15T08:00:00.000Z", "2026-06-15T10:00:00.000+02:00"),
        (120, 120.0),
        (None, None),
        (None, ""),
        (True, True),
        ("003000000000001", "003000000000001AAA"),
        ("2026-06-15", "2026-06-15"),
    ],
)
def test_values_that_match(expected: object, actual: object) -> None:
    assert mismatch(expected, actual) is None


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("2026-06-15T08:00:00.000Z", "2026-06-15T08:00:01.000+0000"),
        ("2026-06-15T08:00:00.000Z", None),
        (120, "120"),
        (1, True),
        (False, None),
        (None, "x"),
        ("Hotline", "hotline"),
        ("003000000000001AAA", "003000000000002AAA"),
    ],
)
def test_values_that_do_not_match(expected: object, actual: object) -> None:
    assert mismatch(expected, actual) is not None


# -- answers ----------------------------------------------------------------------------------
def test_answer_checks_status_code_and_errors_in_order() -> None:
    expect = {
        "http": 409,
        "status": "rejected",
        "code": "invalid_payload",
        "errors": [{"field": "a", "code": "x"}, {"field": None, "code": "y"}],
    }
    good = {
        "status": "rejected",
        "code": "invalid_payload",
        "errors": [{"field": "a", "code": "x", "message": "m"}, {"field": None, "code": "y", "message": "m"}],
    }
    assert check_answer(expect, answer(409, good)) == []
    reordered = {**good, "errors": list(reversed(good["errors"]))}
    assert check_answer(expect, answer(200, reordered)) == [
        "HTTP 200, expected 409",
        "errors (field, code): expected [a/x, -/y], got [-/y, a/x]",
    ]


def test_answer_checks_batch_results() -> None:
    expect = {
        "http": 200,
        "status": "batch",
        "code": "batch_processed",
        "results": [
            {"httpStatus": 200, "status": "written", "code": "ok"},
            {"httpStatus": 404, "status": "not_found", "code": "invalid_record_id"},
        ],
    }
    body = {
        "status": "batch",
        "code": "batch_processed",
        "results": [
            {"index": 0, "httpStatus": 200, "body": {"status": "written", "code": "ok"}},
            {"index": 1, "httpStatus": 404, "body": {"status": "not_found", "code": "record_not_found"}},
        ],
    }
    assert check_answer(expect, answer(200, body)) == [
        'results[1].code: expected "invalid_record_id", got "record_not_found"'
    ]


def test_an_answer_that_is_not_json_is_a_failure() -> None:
    response = requests.Response()
    response.status_code = 500
    response._content = b"<html>Internal Server Error</html>"
    problems = check_answer({"http": 200, "status": "written"}, response)
    assert problems[0] == "HTTP 500, expected 200"
    assert "not JSON" in problems[1]


# -- quarantine keys --------------------------------------------------------------------------
def test_quarantine_sources_cover_the_body_and_each_batch_element() -> None:
    body = b'[{"a": 1}, "x"]'
    assert quarantine_sources(body) == [body, b'{"a":1}', b'"x"']
    assert quarantine_sources(b"not json") == [b"not json"]
    too_large = json.dumps([{"i": i} for i in range(load_outcomes().max_batch_size + 1)]).encode()
    assert quarantine_sources(too_large) == [too_large]
    assert hashlib.sha256(b"").hexdigest() == hashlib.sha256(quarantine_sources(b"")[0]).hexdigest()


# -- replay differences -----------------------------------------------------------------------
def test_first_difference_names_the_json_path() -> None:
    assert (
        first_difference({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "y"}]}) == '$.a[1].b: recorded "x", sent "y"'
    )
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == "$.b: not recorded, sent 2"
    assert first_difference({"a": 1}, {"a": 1.0}) is None
    assert first_difference("", "x") == '$: recorded "", sent "x"'
    assert first_difference([1], [1, 2]) == "$: recorded 1 elements, sent 2"
