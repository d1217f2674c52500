"""Every contract case that needs no org, checked against the pure engine.

A small in-memory stand-in for the database (a dict of row keys, a set of existing record Ids)
drives the engine the way the endpoint does; the answers, error lists, batch results, call
roll-up and Task values must be what each case file expects. Placeholders follow the rules at
the end of docs/contract.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from jtel_sf.contract import ContractCase, load_cases
from jtel_sf.engine import answer, batch_answer, body_key, make_id, parse_body, to_18
from jtel_sf.engine.answers import Answer
from jtel_sf.engine.body import Invalid, Row
from jtel_sf.engine.rollup import (
    LINKED,
    NO_RECORD,
    UNLINKED,
    CallRow,
    choose_owner,
    roll_up,
    task_values,
    wants_task,
)
from jtel_sf.engine.time import parse_instant
from jtel_sf.settings import Settings

PREFIX = {"Contact": "003", "Lead": "00Q", "Account": "001", "Case": "500"}
RUNNING_USER = make_id("005", 1)
AGENT = {"Id": make_id("005", 2), "CommunityNickname": "agent.sim"}
# Cases with a hook need the store's simulated faults (tests/test_serve*.py and contract-test --local).
LOCAL_CASES = [c for c in load_cases() if c.runs_on_target("local") and c.hook is None]


def expand(value: Any, refs: dict[str, str], calls: dict[str, int]) -> Any:
    if isinstance(value, dict):
        if "$repeat" in value:
            return [expand_index(value["item"], i, refs, calls) for i in range(value["$repeat"])]
        return {k: expand(v, refs, calls) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, refs, calls) for v in value]
    if isinstance(value, str):
        if value == "{{call:int}}":
            return calls["call"]

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "call":
                return str(calls["call"])
            if name.startswith("call:"):
                return str(calls.setdefault(name, calls["call"] + int(name[5:]) * 1000))
            return refs[name]

        return re.sub(r"\{\{([^}]+)\}\}", sub, value)
    return value


def expand_index(item: Any, index: int, refs: dict[str, str], calls: dict[str, int]) -> Any:
    text = json.dumps(item).replace('"{{index}}"', str(index)).replace("{{index}}", str(index))
    return expand(json.loads(text), refs, calls)


class Sim:
    """The database as the engine needs it."""

    def __init__(self, existing: dict[str, str], settings: Settings) -> None:
        self.existing = existing  # 18-char Id -> sObject type
        self.settings = settings
        self.rows: dict[str, CallRow] = {}
        self.codes: dict[str, str] = {}
        self.quarantine: dict[str, int] = {}
        self.frozen: dict[int, tuple[set[str], list[CallRow]]] = {}  # call -> (kept keys, rows at purge)

    def purge(self, call_ids: list[int]) -> None:
        """Retention (docs/contract.md): the call keeps its rows' keys and its roll-up; the rows go."""
        for call_id in call_ids:
            rows = [r for r in self.rows.values() if r.row.call_id == call_id]
            self.frozen[call_id] = ({r.row.row_key for r in rows}, rows)
            for row in rows:
                del self.rows[row.row.row_key]

    def element(self, raw: bytes, element: Row | Invalid) -> Answer:
        if isinstance(element, Invalid):
            key = body_key(raw)
            self.quarantine[key] = self.quarantine.get(key, 0) + 1
            return answer("invalid_payload", self.settings, call_id=element.call_id, errors=element.errors)
        if element.call_id in self.frozen:
            if element.row_key in self.frozen[element.call_id][0]:
                return answer("already_stored", self.settings)
            key = body_key(raw)
            self.quarantine[key] = self.quarantine.get(key, 0) + 1
            return answer("call_archived", self.settings)
        if element.row_key in self.rows:
            code = self.codes[element.row_key]
            return answer("already_stored" if code.startswith("ok") else code, self.settings)
        sf_id = element.get("SalesForceID")
        if sf_id is None:
            code, link = "ok_no_record", NO_RECORD
        elif to_18(str(sf_id)) is None:
            code, link = "invalid_record_id", UNLINKED
        elif to_18(str(sf_id)) not in self.existing:
            code, link = "record_not_found", UNLINKED
        else:
            code, link = "ok", LINKED
        agent = AGENT["Id"] if element.get("AgentUID") == AGENT["CommunityNickname"] else None
        self.rows[element.row_key] = CallRow(element, link, agent)
        self.codes[element.row_key] = code
        return answer(code, self.settings, call_id=element.call_id, row_key=element.row_key)

    def send(self, raw: bytes) -> Answer:
        parsed = parse_body(raw)
        if parsed.body_error is not None:
            return self.element(raw, parsed.body_error)
        if parsed.too_large:
            return answer("batch_too_large", self.settings)
        if not parsed.is_batch:
            return self.element(raw, parsed.elements[0])
        return batch_answer([self.element(e.raw.encode(), e) for e in parsed.elements], self.settings)


def same(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual in (None, "")
    if isinstance(expected, str) and re.match(r"^\d{4}-\d\d-\d\dT.*Z$", expected):
        return actual is not None and parse_instant(expected) == parse_instant(str(actual))
    return bool(expected == actual)


def check_answer(expect: dict[str, Any], got: Answer, where: str) -> None:
    assert (got.http, got.status, got.code) == (expect["http"], expect["status"], expect["code"]), where
    if "errors" in expect:
        assert [(e["field"], e["code"]) for e in got.body["errors"]] == [
            (e["field"], e["code"]) for e in expect["errors"]
        ], where
    for index, result in enumerate(expect.get("results", [])):
        element = got.body["results"][index]
        assert element["httpStatus"] == result["httpStatus"], f"{where} element {index}"
        assert (element["body"]["status"], element["body"]["code"]) == (result["status"], result["code"])


def test_every_case_file_is_known_here() -> None:
    assert len(LOCAL_CASES) >= 20
    assert {c.name for c in load_cases()} - {c.name for c in LOCAL_CASES} == {
        "lock_timeout_asks_for_a_resend",
        "org_refusal_is_quarantined",
    }


@pytest.mark.parametrize("case", LOCAL_CASES, ids=lambda c: c.name)
def test_case_through_the_engine(case: ContractCase) -> None:
    settings = Settings()
    refs: dict[str, str] = {}
    existing: dict[str, str] = {}
    for number, record in enumerate(case.records, start=10):
        record_id = make_id(PREFIX[record["sobject"]], number)
        refs[f"{record['ref']}.Id"] = record_id
        if not record.get("delete"):
            existing[record_id] = record["sobject"]
    for user in case.users:
        refs[f"{user['ref']}.Id"] = AGENT["Id"]
        refs[f"{user['ref']}.{user['matchField']}"] = AGENT[user["matchField"]]
    calls = {"call": 900001}
    sim = Sim(existing, settings)
    for index, step in enumerate(case.steps):
        if "purge" in step:
            sim.purge(list(calls.values()))
            continue
        if "rawBody" in step:
            raw = expand(step["rawBody"], refs, calls).encode()
        else:
            raw = json.dumps(expand(step["body"], refs, calls)).encode()
        check_answer(step["expect"], sim.send(raw), f"{case.name} step {index}")
        if "resend" in step:
            before = (len(sim.rows), dict(sim.quarantine))
            check_answer(step["resend"], sim.send(raw), f"{case.name} step {index} resend")
            assert len(sim.rows) == before[0]
            assert set(sim.quarantine) == set(before[1])
    effects = case.effects
    call_rows = [r for r in sim.rows.values() if r.row.call_id == calls["call"]]
    if calls["call"] in sim.frozen:  # the frozen roll-up is the one of the rows at purge time
        call_rows = sim.frozen[calls["call"]][1]
    if "rows" in effects:  # rows of all the case's calls
        assert len([r for r in sim.rows.values() if r.row.call_id in calls.values()]) == effects["rows"]
    if "quarantined" in effects:
        assert len(sim.quarantine) == effects["quarantined"]
    expected_call = effects.get("call")
    if expected_call is None:
        assert call_rows == [] or "call" not in effects
        return
    call = roll_up(call_rows, settings.time_zone)
    for name, value in expand(expected_call, refs, calls).items():
        assert same(value, call.get(name)), f"{case.name}: {name} expected {value!r}, got {call.get(name)!r}"
    expected_task = effects.get("task")
    if expected_task is None:
        assert not wants_task(call, settings)
        return
    assert wants_task(call, settings)
    record_id = str(call["SalesforceRecordId__c"])
    owner = choose_owner(call_rows, call, settings.time_zone, None, RUNNING_USER)
    task = task_values(
        call_rows,
        call,
        settings,
        record_id=record_id,
        record_is_who=existing[record_id] in ("Contact", "Lead"),
        owner_id=owner,
    )
    for name, value in expand(expected_task, refs, calls).items():
        if name == "owner":
            assert value == "running_user" and task["OwnerId"] == RUNNING_USER
        else:
            assert same(value, task.get(name)), (
                f"{case.name}: Task.{name} expected {value!r}, got {task.get(name)!r}"
            )


def test_shuffled_five_row_call_rolls_up_like_the_ordered_one() -> None:
    def rolled(name: str) -> tuple[dict[str, object], dict[str, object]]:
        case = next(c for c in LOCAL_CASES if c.name == name)
        refs = {"contact.Id": make_id("003", 5)}
        sim = Sim({refs["contact.Id"]: "Contact"}, Settings())
        for step in case.steps:
            sim.send(json.dumps(expand(step["body"], refs, {"call": 77})).encode())
        rows = list(sim.rows.values())
        call = roll_up(rows, "Europe/Berlin")
        task = task_values(
            rows, call, Settings(), record_id=refs["contact.Id"], record_is_who=True, owner_id="x"
        )
        return call, task

    assert rolled("seed_five_row_call_in_order") == rolled("seed_five_row_call_shuffled")


def test_task_description_lists_legs_and_codes_like_the_apex() -> None:
    case = next(c for c in LOCAL_CASES if c.name == "seed_five_row_call_shuffled")
    refs = {"contact.Id": make_id("003", 5)}
    sim = Sim({refs["contact.Id"]: "Contact"}, Settings())
    for step in case.steps:
        sim.send(json.dumps(expand(step["body"], refs, {"call": 78})).encode())
    rows = list(sim.rows.values())
    call = roll_up(rows, "Europe/Berlin")
    task = task_values(rows, call, Settings(), record_id=refs["contact.Id"], record_is_who=True, owner_id="x")
    assert task["Description"] == "\n".join(
        [
            "Sales / agent.w: No answer, - - 10:00:20, -1 s",
            "Sales / agent.x: Busy, - - 10:00:35, -1 s",
            "Support / agent.y: Connected, 10:00:45 - 10:03:45, 180 s",
            "Support / agent.z: Connected, 10:03:55 - 10:05:55, 120 s",
            "Transaction codes: AAA; BBB; CCC",
        ]
    )
    assert (
        task["ActivityDate"] == "2026-06-15"
        and task["CallType"] == "Inbound"
        and task["Priority"] == "Normal"
    )
