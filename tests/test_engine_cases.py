"""Every contract case, checked against the engine's service on the in-memory storage.

``jtel_sf.engine.memory.MemoryStorage`` implements the same storage interface as the local
endpoint's SQLite store; the service (``call_statistics_service.handle``) runs on it exactly as
``serve`` runs it, so the answers, error lists, batch results, stored call roll-up, Task and
quarantine must be what each case file expects. Hook cases set the storage's simulated fault.
Placeholders follow the rules at the end of docs/contract.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from jtel_sf.contract import ContractCase, load_cases
from jtel_sf.engine import make_id
from jtel_sf.engine.answers import Answer
from jtel_sf.engine.call_statistics_service import handle
from jtel_sf.engine.memory import MemoryStorage
from jtel_sf.engine.rollup import roll_up, task_values
from jtel_sf.engine.storage import CALL, QUARANTINE
from jtel_sf.engine.time import parse_instant
from jtel_sf.settings import Settings

PREFIX = {"Contact": "003", "Lead": "00Q", "Account": "001", "Case": "500"}
AGENT = {"Id": make_id("005", 2), "CommunityNickname": "agent.sim"}
LOCAL_CASES = [c for c in load_cases() if c.runs_on_target("local")]


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
    """The service on an in-memory storage holding the case's records and the agent user."""

    def __init__(self, existing: dict[str, str], settings: Settings) -> None:
        self.settings = settings
        self.storage = MemoryStorage(users=[{**AGENT, "IsActive": True, "Username": "agent@memory"}])
        for record_id, sobject in existing.items():
            self.storage.create(sobject, {"Name": "case record"}, record_id=record_id)

    @property
    def rows(self) -> dict[str, Any]:
        return {key: row.call_row for key, row in self.storage.rows.items()}

    @property
    def quarantine(self) -> dict[str, float]:
        return {q["BodyKey__c"]: q["Attempts__c"] for q in self.storage.of_type(QUARANTINE)}

    def call(self, key: int) -> dict[str, Any] | None:
        return next((c for c in self.storage.of_type(CALL) if c["CallKey__c"] == str(key)), None)

    def send(self, raw: bytes) -> Answer:
        return handle(raw, self.storage, self.settings)


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
    assert {c.name for c in LOCAL_CASES} >= {"lock_timeout_asks_for_a_resend", "org_refusal_is_quarantined"}


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
    sim.storage.fault = case.hook
    for index, step in enumerate(case.steps):
        if "purge" in step:  # retention deletes the case's calls' rows now (docs/contract.md, Retention)
            sim.storage.purge([str(c) for c in calls.values()])
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
    sim.storage.fault = None
    effects = case.effects
    if "rows" in effects:  # rows of all the case's calls
        assert len([r for r in sim.rows.values() if r.row.call_id in calls.values()]) == effects["rows"]
    if "quarantined" in effects:
        assert len(sim.quarantine) == effects["quarantined"]
    expected_call = effects.get("call")
    call = sim.call(calls["call"])
    if expected_call is None:
        assert call is None or "call" not in effects
        return
    assert call is not None, f"{case.name}: no call stored"
    for name, value in expand(expected_call, refs, calls).items():
        assert same(value, call.get(name)), f"{case.name}: {name} expected {value!r}, got {call.get(name)!r}"
    expected_task = effects.get("task")
    if expected_task is None:
        assert not call.get("TaskId__c")
        return
    kind, task = sim.storage.records[call["TaskId__c"]]
    assert kind == "Task"
    for name, value in expand(expected_task, refs, calls).items():
        if name == "owner":
            assert value == "running_user" and task["OwnerId"] == sim.storage.running_user_id
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
