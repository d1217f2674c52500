"""Running contract cases against a target (an org, the local endpoint or a recording).

One case: prepare (create records, find the agent user), send each step exactly as jtel does and
check the answer, resend when the step says so and check that nothing new was stored, check the
stored effects, and always clean up what the case created (unless ``keep``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ..contract import ContractCase, load_outcomes
from ..engine import body as engine_body
from .api import Api, ApiError, Target, error_text
from .compare import mismatch, same_id, show
from .errors import CaseSetupError, CaseSkipped, PreparationFailed, ReplayMismatch
from .placeholders import Expander

CALL_OBJECT = "JtelCall__c"
CALL_KEY_FIELD = "CallKey__c"
CALL_ROWS = "Rows"
CALL_TASK_FIELD = "TaskId__c"
QUARANTINE_OBJECT = "JtelQuarantine__c"
QUARANTINE_KEY_FIELD = "BodyKey__c"
RUNNING_USER = "running_user"
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class KeptRecord:
    sobject: str
    record_id: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"sobject": self.sobject, "id": self.record_id, "note": self.note}


@dataclass
class CaseResult:
    name: str
    description: str
    result: str
    duration: float = 0.0
    reason: str | None = None  # skip reason
    failures: list[str] = field(default_factory=list)
    kept: list[KeptRecord] = field(default_factory=list)
    cleanup_problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "result": self.result,
            "durationSeconds": round(self.duration, 3),
            "skipReason": self.reason,
            "failures": list(self.failures),
            "kept": [k.as_dict() for k in self.kept],
            "cleanupProblems": list(self.cleanup_problems),
        }


def body_bytes(step: dict[str, Any], expander: Expander) -> bytes:
    """The exact bytes of a step's request: ``rawBody`` as written, ``body`` serialised compactly."""
    if "rawBody" in step:
        return str(expander.value(step["rawBody"])).encode("utf-8")
    if "body" not in step:
        raise CaseSetupError("a step needs body or rawBody")
    return json.dumps(expander.value(step["body"]), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def quarantine_sources(body: bytes) -> list[bytes]:
    """The byte strings whose SHA-256 can be a BodyKey__c for this body: its exact bytes and, for a
    JSON array the endpoint processes element by element (not one over maxBatchSize: that is
    refused whole), each element as the endpoint serialises it."""
    sources = [body]
    try:
        data = engine_body.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return sources
    if isinstance(data, list) and len(data) <= load_outcomes().max_batch_size:
        for element in data:
            try:
                text = engine_body.serialise_element(element).encode("utf-8")
            except (TypeError, ValueError, RecursionError):
                continue
            if text not in sources:
                sources.append(text)
    return sources


body_key = engine_body.body_key  # SHA-256 hex of the exact bytes, the endpoint's BodyKey__c


def answered_quarantine_keys(response: requests.Response) -> list[str]:
    """The quarantineKey values an answer names (top level and batch results): the endpoint's own
    word on which BodyKey__c keeps a rejected body, whatever bytes it hashed."""
    try:
        data = response.json()
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    answers = [data] + [r.get("body") for r in data.get("results") or [] if isinstance(r, dict)]
    keys = [a.get("quarantineKey") for a in answers if isinstance(a, dict)]
    return [key for key in keys if isinstance(key, str)]


@dataclass
class _CaseState:
    created: list[tuple[str, str]] = field(default_factory=list)  # (sobject, id), creation order
    body_keys: list[str] = field(default_factory=list)
    preexisting: dict[str, str] = field(default_factory=dict)  # body key -> quarantine Id
    failures: list[str] = field(default_factory=list)


class CaseRunner:
    """Runs cases one by one against one target."""

    def __init__(
        self,
        target: Target,
        *,
        seed: int,
        keep: bool = False,
        scope: Callable[[str | None], None] | None = None,
        note_body: Callable[[bytes], None] | None = None,
        note_user_value: Callable[[str], None] | None = None,
        before_send: Callable[[str, str, bytes], None] | None = None,
    ) -> None:
        self.api = Api(target)
        self.target = target
        self.seed = seed
        self.keep = keep
        self._scope = scope or (lambda _name: None)
        self._note_body = note_body or (lambda _body: None)
        self._note_user_value = note_user_value or (lambda _value: None)
        self._before_send = before_send or (lambda _method, _path, _body: None)
        self._running_user: str | None = None
        self._running_user_error: str | None = None

    # -- the run ----------------------------------------------------------------------------
    def identify_running_user(self) -> None:
        self._scope(None)
        try:
            info = self.api.userinfo()
            self._running_user = str(info.get("user_id") or "") or None
            if self._running_user is None:
                self._running_user_error = "userinfo has no user_id"
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise self._unreachable(exc) from None
        except (ApiError, requests.RequestException, ReplayMismatch) as exc:
            self._running_user_error = str(exc)

    def _unreachable(self, exc: requests.RequestException) -> Exception:
        """No HTTP answer at all: the whole run stops here (every later case would fail the same way)."""
        from ..auth import unreachable

        request = getattr(exc, "request", None)
        return unreachable(getattr(request, "url", None) or self.target.instance_url, exc)

    def run_case(self, case: ContractCase) -> CaseResult:
        started = time.monotonic()
        result = CaseResult(name=case.name, description=case.description, result=PASSED)
        if not case.runs_on_target(self.target.kind):
            result.result = SKIPPED
            result.reason = case.skip_reason or f"runs on {', '.join(case.runs_on)} only"
            return result
        self._scope(case.name)
        state = _CaseState()
        unreachable: Exception | None = None
        expander = Expander(self.seed, case.name, lookup=self._lookup_field(case))
        hooked = case.hook is not None and self.target.kind == "local"
        try:
            self._prepare(case, expander, state)
            if hooked:
                self.api.set_test_hook(case.hook)
            for number, step in enumerate(case.steps, 1):
                self._step(number, len(case.steps), step, expander, state)
            if hooked:
                self.api.set_test_hook(None)
                hooked = False
            self._effects(case, expander, state)
        except CaseSkipped as exc:
            result.result = SKIPPED
            result.reason = str(exc)
        except (CaseSetupError, PreparationFailed, ApiError, ReplayMismatch) as exc:
            state.failures.append(str(exc))
        except (requests.ConnectionError, requests.Timeout) as exc:
            unreachable = self._unreachable(exc)
            state.failures.append(str(unreachable))
        except requests.RequestException as exc:
            state.failures.append(f"HTTP request failed: {type(exc).__name__}: {exc}")
        finally:
            if hooked:
                self._reset_hook(state)
            self._cleanup(expander, state, result)
            self._scope(None)
            result.duration = time.monotonic() - started
        if unreachable is not None:
            raise unreachable
        if state.failures:
            result.result = FAILED
            result.failures = state.failures
        return result

    def _reset_hook(self, state: _CaseState) -> None:
        try:
            self.api.set_test_hook(None)
        except (ApiError, ReplayMismatch, requests.RequestException) as exc:
            state.failures.append(f"could not switch the test hook off: {exc}")

    def _lookup_field(self, case: ContractCase) -> Callable[[str, str], Any]:
        sobjects = {r["ref"]: r["sobject"] for r in case.records} | {u["ref"]: "User" for u in case.users}

        def lookup(ref: str, field_name: str) -> Any:
            raise CaseSetupError(
                f"{{{{{ref}.{field_name}}}}}: the case neither sets nor queries {field_name} "
                f"on its {sobjects.get(ref, ref)}"
            )

        return lookup

    # -- preparation --------------------------------------------------------------------------
    def _prepare(self, case: ContractCase, expander: Expander, state: _CaseState) -> None:
        for record in case.records:
            ref, sobject = record["ref"], record["sobject"]
            fields = expander.value(record.get("fields", {}))
            try:
                record_id = self.api.create(sobject, fields)
            except ApiError as exc:
                raise PreparationFailed(f"preparing {ref}: {exc}") from None
            state.created.append((sobject, record_id))
            expander.refs[ref] = {**fields, "Id": record_id}
            if record.get("delete"):
                try:
                    self.api.delete(sobject, record_id)
                except ApiError as exc:
                    raise PreparationFailed(f"preparing {ref} (deleting it again): {exc}") from None
                state.created.remove((sobject, record_id))
        for user in case.users:
            ref, match_field = user["ref"], user["matchField"]
            if not _FIELD_NAME.match(match_field):
                raise CaseSetupError(f"users[{ref}].matchField is not a field name: {match_field!r}")
            configured = self.target.settings.agent_match_field
            if match_field != configured:
                raise CaseSkipped(
                    f"the endpoint matches agents on {configured} (settings), the case needs {match_field}"
                )
            soql = (
                f"SELECT Id, {match_field} FROM User WHERE IsActive = true AND {match_field} != null LIMIT 1"
            )
            try:
                records = self.api.query(soql)
            except ApiError as exc:
                raise PreparationFailed(f"finding a user for {ref}: {exc}") from None
            if not records:
                raise CaseSkipped(f"no active User with {match_field} set, so no agent to match")
            found = {k: v for k, v in records[0].items() if k != "attributes"}
            for key, value in found.items():
                if key != "Id" and isinstance(value, str):
                    self._note_user_value(value)
            expander.refs[ref] = found

    # -- steps --------------------------------------------------------------------------------
    def _step(
        self, number: int, count: int, step: dict[str, Any], expander: Expander, state: _CaseState
    ) -> None:
        label = f"step {number}" if count > 1 else "answer"
        if "purge" in step:  # retention deletes the case's calls' rows now (docs/contract.md, Retention)
            self.api.purge_calls([str(call_id) for call_id in expander.call_ids])
            return
        body = body_bytes(step, expander)
        self._before_send("POST", self.api.endpoint_path, body)
        for source in quarantine_sources(body):
            self._note_body(source)
            key = body_key(source)
            if key not in state.body_keys:
                state.body_keys.append(key)
                existing = self.api.get_by_external_id(QUARANTINE_OBJECT, QUARANTINE_KEY_FIELD, key)
                if existing is not None:
                    state.preexisting[key] = str(existing.get("Id"))
        response = self.api.send(body)
        for key in answered_quarantine_keys(response):
            if key not in state.body_keys:  # the endpoint serialised an element differently
                state.body_keys.append(key)
        state.failures.extend(f"{label}: {p}" for p in check_answer(step.get("expect", {}), response))
        resend = step.get("resend")
        if resend is not None:
            before = self._snapshot(expander, state)
            again = self.api.send(body)
            state.failures.extend(f"{label}, resent: {p}" for p in check_answer(resend, again))
            after = self._snapshot(expander, state)
            for problem in snapshot_changes(before, after):
                state.failures.append(f"{label}, resent: stored something new: {problem}")

    def _snapshot(self, expander: Expander, state: _CaseState) -> dict[str, Any]:
        """What the case's calls and bodies have stored (for "a resend stores nothing new")."""
        snapshot: dict[str, Any] = {}
        for call_id in expander.call_ids:
            call = self.api.get_by_external_id(CALL_OBJECT, CALL_KEY_FIELD, str(call_id))
            if call is None:
                snapshot[f"call {call_id}"] = None
                continue
            rows = self.api.children(CALL_OBJECT, str(call["Id"]), CALL_ROWS)
            snapshot[f"call {call_id}"] = {
                "rows": sorted(str(r.get("Id")) for r in rows),
                "task": call.get(CALL_TASK_FIELD) or None,
            }
        for key in state.body_keys:
            record = self.api.get_by_external_id(QUARANTINE_OBJECT, QUARANTINE_KEY_FIELD, key)
            snapshot[f"quarantine {key[:12]}"] = None if record is None else str(record.get("Id"))
        return snapshot

    # -- effects ------------------------------------------------------------------------------
    def _effects(self, case: ContractCase, expander: Expander, state: _CaseState) -> None:
        effects = case.effects
        if not effects:
            return
        fail = state.failures.append
        calls = {
            cid: self.api.get_by_external_id(CALL_OBJECT, CALL_KEY_FIELD, str(cid))
            for cid in expander.call_ids
        }
        primary_id = expander.call_ids[0] if expander.call_ids else None
        primary = calls.get(primary_id) if primary_id is not None else None

        if "rows" in effects or "rowFields" in effects:
            rows: list[dict[str, Any]] = []
            for call in calls.values():
                if call is not None:
                    rows.extend(self.api.children(CALL_OBJECT, str(call["Id"]), CALL_ROWS))
            if "rows" in effects and len(rows) != effects["rows"]:
                fail(f"rows: expected {effects['rows']} stored, found {len(rows)}")
            expected_fields = expander.value(effects.get("rowFields") or {})
            for i, row in enumerate(rows, 1):
                for name, want in expected_fields.items():
                    problem = mismatch(want, row.get(name))
                    if problem:
                        fail(f"row {i} {name}: {problem}")

        if "call" in effects:
            expected_call = effects["call"]
            if expected_call is None:
                if primary is not None:
                    fail(
                        f"call: expected none, found {CALL_OBJECT} {primary.get('Id')} "
                        f"({CALL_KEY_FIELD} {primary_id})"
                    )
            elif primary is None:
                fail(f"call: no {CALL_OBJECT} with {CALL_KEY_FIELD} = {primary_id}")
            else:
                for name, want in expander.value(expected_call).items():
                    problem = mismatch(want, primary.get(name))
                    if problem:
                        fail(f"call {name}: {problem}")

        if "task" in effects:
            expected_task = effects["task"]
            task_id = (primary or {}).get(CALL_TASK_FIELD) or None
            if expected_task is None:
                if task_id:
                    fail(f"task: expected none, the call has Task {task_id}")
            elif primary is None:
                fail("task: expected a Task, but there is no call")
            elif not task_id:
                fail(f"task: expected a Task, the call's {CALL_TASK_FIELD} is empty")
            else:
                task = self.api.get("Task", str(task_id))
                if task is None:
                    fail(f"task: the call names Task {task_id}, which cannot be read")
                else:
                    self._check_task(expander.value(expected_task), task, fail)

        if "quarantined" in effects:
            found = 0
            for key in state.body_keys:
                if key in state.preexisting:
                    continue
                if self.api.get_by_external_id(QUARANTINE_OBJECT, QUARANTINE_KEY_FIELD, key) is not None:
                    found += 1
            if found != effects["quarantined"]:
                note = ""
                if state.preexisting:
                    note = (
                        f" ({len(state.preexisting)} record(s) for these bodies existed before the case "
                        "and are not counted: left by an earlier run?)"
                    )
                fail(f"quarantined: expected {effects['quarantined']} new record(s), found {found}{note}")

    def _check_task(
        self, expected: dict[str, Any], task: dict[str, Any], fail: Callable[[str], None]
    ) -> None:
        for name, want in expected.items():
            if name == "owner":
                if want != RUNNING_USER:
                    fail(f"task owner: unknown expectation {show(want)}")
                elif self._running_user is None:
                    fail(f"task owner: cannot tell the running user ({self._running_user_error})")
                elif not same_id(self._running_user, task.get("OwnerId")):
                    fail(
                        f"task OwnerId: expected the running user {self._running_user}, "
                        f"got {show(task.get('OwnerId'))}"
                    )
                continue
            problem = mismatch(want, task.get(name))
            if problem:
                fail(f"task {name}: {problem}")

    # -- cleanup ------------------------------------------------------------------------------
    def _cleanup(self, expander: Expander, state: _CaseState, result: CaseResult) -> None:
        """Delete (or, with keep, list) everything the case created, whatever happened before."""
        doomed: list[KeptRecord] = []
        try:
            for call_id in expander.call_ids:
                call = self.api.get_by_external_id(CALL_OBJECT, CALL_KEY_FIELD, str(call_id))
                if call is None:
                    continue
                if call.get(CALL_TASK_FIELD):
                    doomed.append(KeptRecord("Task", str(call[CALL_TASK_FIELD]), f"Task of call {call_id}"))
                doomed.append(KeptRecord(CALL_OBJECT, str(call["Id"]), f"call {call_id} and its rows"))
            for key in state.body_keys:
                if key in state.preexisting:
                    continue
                record = self.api.get_by_external_id(QUARANTINE_OBJECT, QUARANTINE_KEY_FIELD, key)
                if record is not None:
                    doomed.append(
                        KeptRecord(
                            QUARANTINE_OBJECT, str(record["Id"]), f"{QUARANTINE_KEY_FIELD} {key[:12]}..."
                        )
                    )
        except (ApiError, ReplayMismatch, requests.RequestException) as exc:
            result.cleanup_problems.append(f"could not look up what the case stored: {exc}")
        doomed.extend(
            KeptRecord(sobject, record_id, "prepared by the case")
            for sobject, record_id in reversed(state.created)
        )
        if self.keep:
            result.kept = doomed
            return
        for record in doomed:
            try:
                self.api.delete(record.sobject, record.record_id)
            except (ApiError, ReplayMismatch, requests.RequestException) as exc:
                result.cleanup_problems.append(f"not deleted: {record.sobject} {record.record_id}: {exc}")
                result.kept.append(record)


def check_answer(expect: dict[str, Any], response: requests.Response) -> list[str]:
    """Problems with an endpoint answer against a step's ``expect`` (or ``resend``)."""
    problems: list[str] = []
    if "http" in expect and response.status_code != expect["http"]:
        problems.append(f"HTTP {response.status_code}, expected {expect['http']}")
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        return [*problems, f"the answer is not JSON: {text!r}" if text else "the answer has no body"]
    if not isinstance(body, dict):
        return [*problems, f"the answer is not a JSON object: {show(body)[:200]}"]
    problems.extend(_check_status(expect, body, ""))
    if "errors" in expect:
        want = [(e.get("field"), e.get("code")) for e in expect["errors"]]
        got_raw = body.get("errors")
        got = (
            [(e.get("field"), e.get("code")) for e in got_raw if isinstance(e, dict)]
            if isinstance(got_raw, list)
            else None
        )
        if got != want:
            problems.append(f"errors (field, code): expected {_pairs(want)}, got {_pairs(got)}")
    if "results" in expect:
        results = body.get("results")
        if not isinstance(results, list):
            problems.append("expected results[] in the batch answer, got none")
        else:
            if len(results) != len(expect["results"]):
                problems.append(f"results: expected {len(expect['results'])}, got {len(results)}")
            for i, (want_item, got_item) in enumerate(zip(expect["results"], results, strict=False)):
                if not isinstance(got_item, dict):
                    problems.append(f"results[{i}]: not an object")
                    continue
                if "httpStatus" in want_item and got_item.get("httpStatus") != want_item["httpStatus"]:
                    problems.append(
                        f"results[{i}].httpStatus: expected {want_item['httpStatus']}, "
                        f"got {show(got_item.get('httpStatus'))}"
                    )
                inner = got_item.get("body") if isinstance(got_item.get("body"), dict) else {}
                problems.extend(_check_status(want_item, inner, f"results[{i}]."))
    return problems


def _check_status(expect: dict[str, Any], body: dict[str, Any], where: str) -> list[str]:
    problems = []
    for key in ("status", "code"):
        if key in expect and body.get(key) != expect[key]:
            problems.append(f"{where}{key}: expected {show(expect[key])}, got {show(body.get(key))}")
    return problems


def _pairs(pairs: list[tuple[Any, Any]] | None) -> str:
    if pairs is None:
        return "none"
    return "[" + ", ".join(f"{f or '-'}/{c}" for f, c in pairs) + "]"


def snapshot_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for key in after:
        if before.get(key) != after[key]:
            changes.append(f"{key}: {show(before.get(key))} -> {show(after[key])}")
    return changes


__all__ = [
    "FAILED",
    "PASSED",
    "SKIPPED",
    "CaseResult",
    "CaseRunner",
    "KeptRecord",
    "check_answer",
    "error_text",
]
