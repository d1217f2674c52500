"""The platform's rules as the local endpoint keeps them (issue 9 points 5, 9, 12, 13, 15), checked
on the store directly: the same rules the Apex follows, described in docs/contract.md.

The platform behaviour mirrored here (converted Leads take no activity, only active Standard users
own Tasks, platform texts stay out of answers) is built from Salesforce's documentation as cited in
docs/contract.md, not recorded from Salesforce.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jtel_sf.contract import load_outcomes
from jtel_sf.engine.answers import Answer
from jtel_sf.engine.call_statistics_service import handle
from jtel_sf.local.store import FAULT_ORG_REFUSAL, QUARANTINE, Store
from jtel_sf.settings import Settings

SETTINGS = Settings()


def row(call_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "jtelStatisticsPartAID": call_id,
        "AgentUID": "agent.nobody",
        "dtCallStart": "2026-06-15T10:00:00",
        "dtCallConnect": "2026-06-15T10:00:10",
        "dtCallEnd": "2026-06-15T10:02:10",
        "nDuration": 120,
        "CONNRES": 1,
        "TransactionCodeExportKey": "AAA",
    }
    base.update(fields)
    return base


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "local.sqlite")


def send(store: Store, body: dict[str, Any]) -> Answer:
    """As serve runs the engine: the service over the store, one transaction a request."""
    with store.transaction():
        return handle(json.dumps(body).encode(), store, SETTINGS)


def quarantined(store: Store, answer: Answer) -> dict[str, Any]:
    record = store.get_by_external_id(QUARANTINE, "BodyKey__c", answer.body["quarantineKey"])
    assert record is not None
    return record


def test_a_converted_lead_is_answered_like_a_record_without_activities(store: Store) -> None:
    lead = store.create("Lead", {"LastName": "Prospect", "Company": "ACME", "IsConverted": True})
    answer = send(store, row(1, SalesForceID=lead))
    assert (answer.http, answer.code) == (404, "record_not_activity_enabled")
    assert store.count("Task") == 0 and store.count(QUARANTINE) == 0


def test_an_agent_deactivated_between_two_rows_no_longer_owns_the_task(store: Store) -> None:
    agent = store.find_user("CommunityNickname")
    assert agent is not None
    contact = store.create("Contact", {"LastName": "Caller"})
    first = send(store, row(2, AgentUID=agent["CommunityNickname"], SalesForceID=contact))
    assert first.code == "ok"
    assert store.all("Task")[0]["OwnerId"] == agent["Id"]
    with store.transaction() as cur:
        Store._update(cur, agent["Id"], {"IsActive": False})  # an admin deactivates the agent
    second = send(store, row(2, AgentUID=agent["CommunityNickname"], SalesForceID=contact, Cause=16))
    assert second.code == "ok"
    tasks = store.all("Task")
    assert len(tasks) == 1 and tasks[0]["OwnerId"] == store.running_user_id
    (call,) = store.all("JtelCall__c")
    assert call["HandledBy__c"] is None and call["HandledByAgentUID__c"] == agent["CommunityNickname"]


def test_an_unexpected_failure_keeps_its_text_in_quarantine_and_is_answered_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any) -> Answer:
        raise RuntimeError("secret detail: record 003000000000001AAA")

    body = row(3)
    with monkeypatch.context() as patch:
        patch.setattr(store, "insert_rows", explode)
        first = send(store, body)
    assert (first.http, first.code) == (409, "unexpected_error")
    assert first.body["errors"] == [
        {"field": None, "code": "RuntimeError", "message": load_outcomes().error_message("unexpected_error")}
    ]
    assert "secret" not in json.dumps(first.body)
    assert "secret detail" in quarantined(store, first)["Errors__c"]
    again = send(store, body)  # the cause is gone, but the body waits for an admin (heldOnResend)
    assert (again.http, again.code) == (409, "unexpected_error")
    assert quarantined(store, again)["Attempts__c"] == 2.0
    assert store.count("JtelCallRow__c") == 0


def test_an_org_refusal_answers_the_status_code_with_a_generic_message(store: Store) -> None:
    store.fault = FAULT_ORG_REFUSAL
    answer = send(store, row(4))
    error = answer.body["errors"][0]
    assert (answer.code, error["code"]) == ("org_refused", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert error["message"] == load_outcomes().error_message("org_refused")
    assert "detail" not in error
    assert "Simulated validation rule" in quarantined(store, answer)["Errors__c"]


def test_the_held_codes_are_the_contract_data_s() -> None:
    assert set(load_outcomes().held_codes) == {"org_refused", "unexpected_error"}


def test_the_task_description_is_cut_to_what_the_field_holds(store: Store) -> None:
    contact = store.create("Contact", {"LastName": "Caller"})
    for index in range(60):
        legs = row(5, AgentUID=str(index).rjust(250, "a"), AcdAgentGroupsName=str(index).rjust(250, "g"))
        assert send(store, {**legs, "SalesForceID": contact}).code == "ok"
    (task,) = store.all("Task")
    assert len(task["Description"]) == 32000


def test_a_held_body_is_answered_again_when_its_stored_errors_were_cut(store: Store) -> None:
    store.fault = FAULT_ORG_REFUSAL
    first = send(store, row(6))
    store.fault = None
    with store.transaction() as cur:
        record = quarantined(store, first)
        Store._update(cur, record["Id"], {"Errors__c": '[{"field": null, "code": "FIELD_CUSTOM_VAL'})
    again = send(store, row(6))
    assert (again.http, again.code) == (409, "org_refused")
    assert "errors" not in again.body
