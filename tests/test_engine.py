"""Unit tests of the pure contract engine (jtel_sf.engine): parsing, validation, row key, time, ids."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jtel_sf.contract import load_fields, load_outcomes
from jtel_sf.engine import answer, batch_answer, is_final, parse_body, to_18, to_utc
from jtel_sf.engine.body import Invalid, Row, format_local, normalise_caller_id, parse_local_datetime
from jtel_sf.engine.ids import checksum_suffix, is_valid_id, make_id
from jtel_sf.engine.time import format_instant, parse_instant
from jtel_sf.settings import Settings


def one(body: object) -> Row | Invalid:
    parsed = parse_body(json.dumps(body).encode())
    assert parsed.body_error is None and not parsed.is_batch
    return parsed.elements[0]


def codes(result: Row | Invalid) -> list[tuple[str | None, str]]:
    assert isinstance(result, Invalid), result
    return [(e.field, e.code) for e in result.errors]


# -- Ids ---------------------------------------------------------------------------------------


def test_checksum_suffix_matches_salesforce_examples() -> None:
    # Published examples of 15 -> 18 character conversion.
    assert to_18("001D000000IqhSL") == "001D000000IqhSLIAZ"
    assert checksum_suffix("003000000000000") == "AAA"
    assert checksum_suffix("ABCDEABCDEABCDE") == "555"


@pytest.mark.parametrize(
    "text",
    [
        "not-an-id",
        "",
        "003",
        "0038d0000000001AAB",
        "0038d000000000!",
        "0038d0000000001AAAA",
        "00Q8d0000000001 ",
        "0038d0000000001AAA\n",
        "0038d0000000001\n",
    ],
)
def test_malformed_ids_are_not_ids(text: str) -> None:
    assert not is_valid_id(text)


def test_made_up_ids_are_valid_18_character_ids() -> None:
    for prefix in ("003", "00Q", "a0J"):
        for number in (1, 61, 62, 10**9):
            record_id = make_id(prefix, number)
            assert len(record_id) == 18 and record_id.startswith(prefix)
            assert to_18(record_id[:15]) == record_id
            changed = record_id[:15].swapcase()
            if changed != record_id[:15]:  # another case is another Id: the old suffix no longer fits
                assert not is_valid_id(changed + record_id[15:])


# -- body level ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b"  \r\n\t ", "empty_body"),
        (b"[]", "empty_body"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'{"CallerID": "\xc3"}', "invalid_json"),
        (b"jtelStatisticsPartAID=1", "invalid_json"),
        (b'{"jtelStatisticsPartAID": NaN}', "invalid_json"),
        (b'{"a": 1', "invalid_json"),
        (b'"text"', "wrong_type"),
        (b"42", "wrong_type"),
        (b"null", "wrong_type"),
        (b"true", "wrong_type"),
    ],
)
def test_body_level_errors(raw: bytes, code: str) -> None:
    parsed = parse_body(raw)
    assert parsed.body_error is not None
    assert [(e.field, e.code) for e in parsed.body_error.errors] == [(None, code)]


def test_deep_nesting_is_an_answer_not_a_crash() -> None:
    parsed = parse_body(b"[" * 100000 + b"]" * 100000)
    assert parsed.body_error is not None or parsed.too_large or parsed.elements


def test_array_up_to_the_limit_and_beyond() -> None:
    limit = load_outcomes().max_batch_size
    parsed = parse_body(json.dumps([{"jtelStatisticsPartAID": i + 1} for i in range(limit)]).encode())
    assert parsed.is_batch and not parsed.too_large and len(parsed.elements) == limit
    too_many = parse_body(json.dumps([{"jtelStatisticsPartAID": 1}] * (limit + 1)).encode())
    assert too_many.too_large and too_many.elements == ()


def test_array_element_that_is_not_an_object_is_wrong_type_alone() -> None:
    parsed = parse_body(b'[{"jtelStatisticsPartAID": 1}, 5, {"CONNRES": 1}]')
    first, second, third = parsed.elements
    assert isinstance(first, Row)
    assert codes(second) == [(None, "wrong_type")]
    assert codes(third) == [("jtelStatisticsPartAID", "required")]
    assert third.raw == '{"CONNRES":1}'


# -- fields ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, 42), ("42", 42), ("0042", 42), (Decimal("1.0"), 1), ("999999999999999999", 999999999999999999)],
)
def test_call_id_forms(value: object, expected: int) -> None:
    body = {"jtelStatisticsPartAID": float(value) if isinstance(value, Decimal) else value}
    result = one(body)
    assert isinstance(result, Row) and result.call_id == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "required"),
        ("", "required"),
        (0, "out_of_range"),
        ("-5", "out_of_range"),
        ("1000000000000000000", "out_of_range"),
        ("9" * 5000, "out_of_range"),
        (1.5, "not_an_integer"),
        ("1.0", "not_an_integer"),
        (" 1", "not_an_integer"),
        ("+1", "not_an_integer"),
        ("1\n", "not_an_integer"),
        ("\uff11\uff12", "not_an_integer"),  # full-width digits: ASCII only
        ("1e3", "not_an_integer"),
        ("12s", "not_an_integer"),
        (True, "wrong_type"),
        ({"id": 1}, "wrong_type"),
        ([1], "wrong_type"),
    ],
)
def test_call_id_errors(value: object, code: str) -> None:
    body = {} if value is None else {"jtelStatisticsPartAID": value}
    assert codes(one(body)) == [("jtelStatisticsPartAID", code)]


def test_huge_json_integer_and_exponent_are_out_of_range_not_a_crash() -> None:
    raw = b'{"jtelStatisticsPartAID": ' + b"9" * 6000 + b', "Cause": 1e400}'
    assert codes(parse_body(raw).elements[0]) == [
        ("jtelStatisticsPartAID", "out_of_range"),
        ("Cause", "out_of_range"),
    ]


def test_json_exponent_that_is_whole_is_an_integer() -> None:
    result = parse_body(b'{"jtelStatisticsPartAID": 1e2, "Cause": 16.0}').elements[0]
    assert isinstance(result, Row) and result.call_id == 100 and result.get("Cause") == 16


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("bOutbound", [0, 1, "1"], [2, -1]),
        ("nDuration", [-1, 0, 2147483647], [-2, 2147483648]),
        ("CONNRES", [0, 9], [10, -1]),
        ("Cause", [0, 127], [128]),
    ],
)
def test_integer_ranges_come_from_the_field_spec(name: str, good: list[object], bad: list[object]) -> None:
    spec = next(s for s in load_fields() if s.name == name)
    assert spec.min is not None and spec.max is not None
    for value in good:
        assert isinstance(one({"jtelStatisticsPartAID": 1, name: value}), Row)
    for value in bad:
        assert codes(one({"jtelStatisticsPartAID": 1, name: value})) == [(name, "out_of_range")]


def test_text_fields_take_whole_numbers_as_text_and_refuse_fractions() -> None:
    result = one({"jtelStatisticsPartAID": 1, "ServiceNumber": 498912340, "CallerID": 4989123456})
    assert isinstance(result, Row)
    assert result.get("ServiceNumber") == "498912340" and result.get("CallerID") == "+4989123456"
    assert codes(one({"jtelStatisticsPartAID": 1, "ServiceNumber": 4989.5})) == [
        ("ServiceNumber", "wrong_type")
    ]
    assert codes(one({"jtelStatisticsPartAID": 1, "AgentUID": False})) == [("AgentUID", "wrong_type")]


def test_strings_are_not_trimmed_and_limited_to_255() -> None:
    result = one({"jtelStatisticsPartAID": 1, "AgentUID": " a ", "ServiceName": "x" * 255})
    assert isinstance(result, Row) and result.get("AgentUID") == " a "
    assert codes(one({"jtelStatisticsPartAID": 1, "ServiceName": "x" * 256})) == [("ServiceName", "too_long")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4989123456", "+4989123456"),
        ("anonymous", "anonymous"),
        ("+4989", "+4989"),
        ("089 123", "089 123"),
        ("4989\n", "4989\n"),
    ],
)
def test_caller_id_normalisation(text: str, expected: str) -> None:
    assert normalise_caller_id(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-15T10:00:00", datetime(2026, 6, 15, 10, 0, 0)),
        ("2026-06-15 10:00:00", datetime(2026, 6, 15, 10, 0, 0)),
        ("2026-06-15 10:00:00.250999", datetime(2026, 6, 15, 10, 0, 0, 250000)),
        ("2026-06-15T10:00:00.5", datetime(2026, 6, 15, 10, 0, 0, 500000)),
        ("2024-02-29T23:59:59.123456789", datetime(2024, 2, 29, 23, 59, 59, 123000)),
        ("1700-01-02T00:00:00", datetime(1700, 1, 2)),  # fields.json datetimeRange, both ends included
        ("4000-12-29T23:59:59", datetime(4000, 12, 29, 23, 59, 59)),
    ],
)
def test_datetime_formats(text: str, expected: datetime) -> None:
    assert parse_local_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T10:00:00",
        "2026-02-30T10:00:00",
        "2026-13-01T10:00:00",
        "2026-06-15T24:00:00",
        "2026-06-15T10:60:00",
        "2026-06-15T10:00:60",
        "15.06.2026 10:02",
        "2026-06-15T10:00:00Z",
        "2026-06-15T10:00:00.",
        "2026-06-15T10:00:00.1234567890",
        "2026-06-15",
        " 2026-06-15T10:00:00",
        "2026-06-15T10:00:00\n",
        "\uff12026-06-15T10:00:00",  # a full-width digit
        "1699-12-31T23:59:59",  # before the years Salesforce stores
        "0999-06-15T10:00:00",
        "4001-01-01T00:00:00",
        "1700-01-01T23:59:59",  # the first and last day: a zone's offset could leave the DateTime range
        "4000-12-30T00:00:00",
        "4000-12-31T23:59:59",
    ],
)
def test_invalid_datetimes(text: str) -> None:
    assert parse_local_datetime(text) is None
    assert codes(one({"jtelStatisticsPartAID": 1, "dtCallEnd": text})) == [("dtCallEnd", "invalid_datetime")]


def test_datetime_given_as_number_is_invalid_datetime() -> None:
    assert codes(one({"jtelStatisticsPartAID": 1, "dtCallStart": 20260615})) == [
        ("dtCallStart", "invalid_datetime")
    ]
    assert codes(one({"jtelStatisticsPartAID": 1, "dtCallStart": []})) == [("dtCallStart", "wrong_type")]


def test_all_errors_together_in_field_spec_order() -> None:
    body = {"Cause": 128, "CONNRES": "x", "AgentUID": {"a": 1}, "SalesForceID": [1], "dtCallAlert": "no"}
    order = [s.name for s in load_fields()]
    found = codes(one(body))
    assert [f for f, _ in found] == sorted([f for f, _ in found], key=order.index)
    assert found == [
        ("SalesForceID", "wrong_type"),
        ("jtelStatisticsPartAID", "required"),
        ("AgentUID", "wrong_type"),
        ("dtCallAlert", "invalid_datetime"),
        ("CONNRES", "not_an_integer"),
        ("Cause", "out_of_range"),
    ]


def test_every_error_code_is_one_of_outcomes_json() -> None:
    result = one({"Cause": 128})
    assert isinstance(result, Invalid)
    known = set(load_outcomes().error_codes)
    assert {e.code for e in result.errors} <= known
    assert all(e.message for e in result.errors)


def test_unknown_keys_are_ignored_but_kept_raw() -> None:
    raw = b'{"jtelStatisticsPartAID": 7, "Extra": {"deep": [1]}}'
    result = parse_body(raw).elements[0]
    assert isinstance(result, Row) and result.raw == raw.decode()


# -- row key ---------------------------------------------------------------------------------------


def test_row_key_is_sha256_of_normalised_lines_in_field_order() -> None:
    result = one(
        {
            "jtelStatisticsPartAID": "0042",
            "CallerID": "49891",
            "dtCallStart": "2026-06-15 10:00:00.25",
            "nDuration": "-0",
            "Unknown": 1,
        }
    )
    assert isinstance(result, Row)
    values = {
        "jtelStatisticsPartAID": "42",
        "CallerID": "+49891",
        "dtCallStart": "2026-06-15T10:00:00.250",
        "nDuration": "0",
    }
    text = "\n".join(f"{s.name}={values.get(s.name, '')}" for s in load_fields())
    assert result.row_key == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert text.startswith("SalesForceID=\njtelStatisticsPartAID=42\n")


def test_absent_forms_and_number_forms_give_the_same_row_key() -> None:
    a = one({"jtelStatisticsPartAID": "0042", "Cause": "", "CONNRES": None})
    b = one({"jtelStatisticsPartAID": 42.0})
    c = one({"jtelStatisticsPartAID": 42, "Cause": 16})
    assert isinstance(a, Row) and isinstance(b, Row) and isinstance(c, Row)
    assert a.row_key == b.row_key != c.row_key


integers = st.integers(min_value=1, max_value=10**12)


@settings(max_examples=60, deadline=None)
@given(call=integers, cause=st.integers(0, 127), zeros=st.integers(0, 3), as_text=st.booleans())
def test_row_key_does_not_depend_on_number_spelling(call: int, cause: int, zeros: int, as_text: bool) -> None:
    plain = one({"jtelStatisticsPartAID": call, "Cause": cause})
    spelled: dict[str, object] = {
        "jtelStatisticsPartAID": "0" * zeros + str(call),
        "Cause": str(cause) if as_text else float(cause),
        "AgentUID": "",
        "TransactionCodeExportKey": None,
    }
    other = one(spelled)
    assert isinstance(plain, Row) and isinstance(other, Row)
    assert plain.row_key == other.row_key


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_bytes_get_an_answer(raw: bytes) -> None:
    parsed = parse_body(raw)
    assert parsed.body_error is not None or parsed.elements or parsed.too_large


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(body=st.dictionaries(st.sampled_from([s.name for s in load_fields()]), json_values, max_size=17))
def test_any_json_object_is_a_row_or_field_errors(body: dict[str, object]) -> None:
    result = one(body)
    if isinstance(result, Invalid):
        names = [s.name for s in load_fields()]
        assert [e.field for e in result.errors] == sorted((e.field for e in result.errors), key=names.index)
    else:
        assert len(result.row_key) == 64


# -- time --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2026-01-15T23:30:00", "2026-01-15T22:30:00.000+0000"),  # winter +01:00
        ("2026-06-15T10:00:00", "2026-06-15T08:00:00.000+0000"),  # summer +02:00
        ("2026-03-29T02:30:00", "2026-03-29T01:30:00.000+0000"),  # gap: offset before the change
        ("2026-03-29T03:10:00", "2026-03-29T01:10:00.000+0000"),
        ("2026-10-25T02:30:00", "2026-10-25T00:30:00.000+0000"),  # repeated hour: first occurrence
        ("2026-10-25T03:10:00", "2026-10-25T02:10:00.000+0000"),
    ],
)
def test_berlin_wall_clock_to_utc(local: str, utc: str) -> None:
    moment = parse_local_datetime(local)
    assert moment is not None
    assert format_instant(to_utc(moment, "Europe/Berlin")) == utc


def test_other_zone_and_millis() -> None:
    moment = parse_local_datetime("2026-06-15 10:00:00.250999")
    assert moment is not None and format_local(moment) == "2026-06-15T10:00:00.250"
    assert format_instant(to_utc(moment, "America/New_York")) == "2026-06-15T14:00:00.250+0000"
    assert parse_instant("2026-06-15T14:00:00.250Z") == parse_instant("2026-06-15T14:00:00.250+0000")


# -- answers ------------------------------------------------------------------------------------------


def test_answers_take_status_and_http_from_outcomes() -> None:
    outcomes = load_outcomes()
    for code, meta in outcomes.codes.items():
        result = answer(code, Settings())
        assert result.status == meta["status"] and result.code == code
        assert result.http == outcomes.statuses[meta["status"]]["http"]
    assert answer("busy", Settings(retry_http_status=500)).http == 500
    assert is_final("written") and not is_final("retry")


def test_answer_body_shape() -> None:
    result = answer("ok", Settings(), call_id=42, row_key="ab")
    assert result.body["callId"] == "42" and result.body["rowKey"] == "ab" and "errors" not in result.body
    batch = batch_answer([result, answer("invalid_payload", Settings())], Settings())
    assert batch.http == 200 and batch.body["status"] == "batch"
    assert [r["httpStatus"] for r in batch.body["results"]] == [200, 409]
    assert batch.body["results"][1]["index"] == 1
