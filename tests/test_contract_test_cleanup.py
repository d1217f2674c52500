"""contract-test cleans up what a case created when the case fails or is interrupted, keeps it with
--keep, and skips a case that finds no agent user. The org here is a fake ``requests`` transport
(an in-memory stand-in built for these tests), so every request the runner makes is visible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from jtel_sf.contract import load_case
from jtel_sf.contract_test import RunOptions, run_contract_test
from jtel_sf.contract_test.api import Target
from jtel_sf.contract_test.runner import FAILED, PASSED, SKIPPED, CaseRunner
from jtel_sf.contract_test.scrub import Scrubber
from jtel_sf.contract_test.transport import Recorder
from jtel_sf.settings import Settings

API = "/services/data/v61.0"
RUNNING_USER = "005000000000001AAA"


class FakeOrg(BaseAdapter):
    """Just enough of an org for one case: sObject create/get/delete, external-Id get, Rows,
    userinfo, the user query and an endpoint whose answer the test chooses."""

    def __init__(
        self,
        *,
        answer: tuple[int, dict[str, Any]],
        interrupt: bool = False,
        users: int = 1,
        expire_once: bool = False,
    ) -> None:
        super().__init__()
        self.expire_once = expire_once
        self.answer = answer
        self.interrupt = interrupt
        self.users = users
        self.records: dict[str, tuple[str, dict[str, Any]]] = {}
        self.log: list[tuple[str, str]] = []
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}00000000{self._n:04d}AAA"

    def _store(self, sobject: str, prefix: str, fields: dict[str, Any]) -> str:
        record_id = self._id(prefix)
        self.records[record_id] = (sobject, {"Id": record_id, **fields})
        return record_id

    def _find(self, sobject: str, field: str, value: str) -> dict[str, Any] | None:
        for kind, fields in self.records.values():
            if kind == sobject and fields.get(field) == value:
                return fields
        return None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        method, path = str(request.method), urlsplit(str(request.url)).path
        self.log.append((method, path))
        status, body = self._route(method, path, request.body)
        response = requests.Response()
        response.status_code = status
        response._content = b"" if body is None else json.dumps(body).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.request = request
        response.url = str(request.url)
        return response

    def _route(self, method: str, path: str, raw: Any) -> tuple[int, Any]:
        parts = path.split("/")
        if path == "/services/oauth2/userinfo":
            return 200, {"user_id": RUNNING_USER}
        if path.startswith("/services/apexrest/"):
            if self.expire_once:  # the token expired: Salesforce's 401, once
                self.expire_once = False
                return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            if self.interrupt:
                raise KeyboardInterrupt
            body = json.loads(raw)
            task = self._store("Task", "00T", {"OwnerId": RUNNING_USER})
            call = self._store(
                "JtelCall__c", "a0J", {"CallKey__c": str(body["jtelStatisticsPartAID"]), "TaskId__c": task}
            )
            self._store("JtelCallRow__c", "a0K", {"Call__c": call})
            return self.answer
        if path == f"{API}/query":
            users = [{"Id": "005000000000002AAA", "CommunityNickname": "agent.one"}][: self.users]
            return 200, {"totalSize": len(users), "done": True, "records": users}
        if method == "POST" and len(parts) == 6:
            prefix = {"Contact": "003", "Account": "001"}.get(parts[5], "a00")
            return 201, {"id": self._store(parts[5], prefix, json.loads(raw)), "success": True, "errors": []}
        if method == "DELETE" and len(parts) == 7:
            if self.records.pop(parts[6], None) is None:
                return 404, [{"errorCode": "NOT_FOUND"}]
            if parts[5] == "JtelCall__c":  # master-detail: the rows go with the call
                for key in [k for k, (kind, f) in self.records.items() if f.get("Call__c") == parts[6]]:
                    del self.records[key]
            return 204, None
        if method == "GET" and len(parts) == 8 and parts[7] == "Rows":
            rows = [
                f
                for kind, f in self.records.values()
                if kind == "JtelCallRow__c" and f.get("Call__c") == parts[6]
            ]
            return 200, {"totalSize": len(rows), "done": True, "records": rows}
        if method == "GET" and len(parts) == 8:
            found = self._find(parts[5], parts[6], parts[7])
            return (200, found) if found else (404, [{"errorCode": "NOT_FOUND"}])
        if method == "GET" and len(parts) == 7:
            record = self.records.get(parts[6])
            return (200, record[1]) if record else (404, [{"errorCode": "NOT_FOUND"}])
        return 400, [{"errorCode": "NOT_SUPPORTED", "message": path}]

    def close(self) -> None:
        return None


CASE = {
    "name": "fake_case",
    "description": "A row linked to a Contact (for the fake org).",
    "records": [{"ref": "contact", "sobject": "Contact", "fields": {"LastName": "jtel contract test"}}],
    "users": [{"ref": "agent", "matchField": "CommunityNickname"}],
    "steps": [
        {
            "body": {
                "jtelStatisticsPartAID": "{{call}}",
                "AgentUID": "{{agent.CommunityNickname}}",
                "SalesForceID": "{{contact.Id}}",
            },
            "expect": {"http": 200, "status": "written", "code": "ok"},
        }
    ],
    "effects": {"rows": 1, "call": {"CallKey__c": "{{call}}"}, "task": {"owner": "running_user"}},
}


def make_runner(
    tmp_path: Path, org: FakeOrg, *, keep: bool = False, settings: Settings | None = None, **kwargs: Any
) -> tuple[CaseRunner, Any]:
    path = tmp_path / "fake_case.json"
    path.write_text(json.dumps(CASE), encoding="utf-8")
    session = requests.Session()
    session.mount("https://", org)
    target = Target(
        kind="org",
        session=session,
        instance_url="https://fake.my.salesforce.com",
        api_version="61.0",
        settings=settings or Settings(),
        refresh=kwargs.pop("refresh", None),
    )
    runner = CaseRunner(target, seed=7, keep=keep, **kwargs)
    runner.identify_running_user()
    return runner, load_case(path)


def deleted(org: FakeOrg) -> list[str]:
    return [path.split("/")[5] for method, path in org.log if method == "DELETE"]


def test_a_passing_case_leaves_nothing_behind(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {"status": "written", "code": "ok"}))
    runner, case = make_runner(tmp_path, org)
    result = runner.run_case(case)
    assert result.result == PASSED, result.failures
    assert deleted(org) == ["Task", "JtelCall__c", "Contact"]
    assert org.records == {}


def test_a_failing_case_is_cleaned_up_too(tmp_path: Path) -> None:
    org = FakeOrg(answer=(500, {"status": "error", "code": "quarantine_failed"}))
    runner, case = make_runner(tmp_path, org)
    result = runner.run_case(case)
    assert result.result == FAILED
    assert result.failures[0] == "answer: HTTP 500, expected 200"
    assert deleted(org) == ["Task", "JtelCall__c", "Contact"]
    assert org.records == {} and result.kept == []


def test_an_interrupted_case_is_cleaned_up_before_the_interrupt_goes_on(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {}), interrupt=True)
    runner, case = make_runner(tmp_path, org)
    with pytest.raises(KeyboardInterrupt):
        runner.run_case(case)
    assert deleted(org) == ["Contact"]
    assert org.records == {}


def test_keep_leaves_everything_and_lists_it(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {"status": "written", "code": "ok"}))
    runner, case = make_runner(tmp_path, org, keep=True)
    result = runner.run_case(case)
    assert result.result == PASSED
    assert deleted(org) == []
    assert [(k.sobject, k.record_id) for k in result.kept] == [
        (kind, fields["Id"]) for kind, fields in (org.records[k.record_id] for k in result.kept)
    ]
    assert [k.sobject for k in result.kept] == ["Task", "JtelCall__c", "Contact"]


def test_no_user_to_match_skips_the_case_with_the_reason_and_cleans_up(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {"status": "written", "code": "ok"}), users=0)
    runner, case = make_runner(tmp_path, org)
    result = runner.run_case(case)
    assert result.result == SKIPPED
    assert result.reason == "no active User with CommunityNickname set, so no agent to match"
    assert not any(path.startswith("/services/apexrest/") for _m, path in org.log)
    assert deleted(org) == ["Contact"]


def test_a_case_for_other_targets_is_skipped_without_a_request(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {}))
    runner, _case = make_runner(tmp_path, org)
    path = tmp_path / "apex_only.json"
    path.write_text(
        json.dumps({**CASE, "name": "apex_only", "runsOn": ["apex"], "skipReason": "needs a hook"})
    )
    before = len(org.log)
    result = runner.run_case(load_case(path))
    assert (result.result, result.reason) == (SKIPPED, "needs a hook")
    assert len(org.log) == before


def test_a_case_for_another_agent_match_field_is_skipped(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {"status": "written", "code": "ok"}))
    settings = Settings(agent_match_field="FederationIdentifier")
    runner, case = make_runner(tmp_path, org, settings=settings)
    result = runner.run_case(case)
    assert result.result == SKIPPED
    assert result.reason == (
        "the endpoint matches agents on FederationIdentifier (settings), the case needs CommunityNickname"
    )
    assert deleted(org) == ["Contact"]


def test_an_expired_token_is_renewed_once_and_the_recording_replays_the_renewal(tmp_path: Path) -> None:
    org = FakeOrg(answer=(200, {"status": "written", "code": "ok"}), expire_once=True)
    renewals: list[int] = []
    recorder = Recorder()
    runner, case = make_runner(
        tmp_path, org, refresh=lambda: renewals.append(1), scope=recorder.begin, note_body=recorder.note_body
    )
    recorder.attach(runner.target.session)
    runner.identify_running_user()
    result = runner.run_case(case)
    assert result.result == PASSED, result.failures
    assert renewals == [1]
    meta = {"seed": 7, "target": "org", "recordedFrom": "org", "canRefresh": True, "settings": {}}
    recorder.write(tmp_path / "rec", Scrubber(instance_url="https://fake.my.salesforce.com"), meta)
    replay = run_contract_test(
        RunOptions(replay_dir=tmp_path / "rec", cases_path=tmp_path / "fake_case.json")
    )
    assert [(r.name, r.result, r.failures) for r in replay.results] == [("fake_case", PASSED, [])]
