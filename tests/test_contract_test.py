"""`jtel-sf contract-test` through the CLI entry point: the committed recording replayed offline,
broken recordings failing on the right case, JUnit/JSON output, and --local against the real
local endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import run_cli
from jtel_sf.contract import CASES_DIR, load_cases

RECORDING = Path(__file__).resolve().parent / "recordings" / "local-stand-in"
ENDPOINT_PATH = "/services/apexrest/jtelACD/writeCallStatistics"


def copy_recording(tmp_path: Path) -> Path:
    target = tmp_path / "recording"
    shutil.copytree(RECORDING, target)
    return target


def test_the_committed_recording_says_it_comes_from_the_local_stand_in() -> None:
    meta = json.loads((RECORDING / "recording.json").read_text(encoding="utf-8"))
    assert meta["recordedFrom"] == "local-stand-in"
    assert "local stand-in" in meta["_source"] and "NOT against a real Salesforce org" in meta["_source"]
    assert meta["target"] == "local"


RECORDINGS = sorted(p.parent for p in RECORDING.parent.glob("*/recording.json"))


@pytest.mark.parametrize("recording", RECORDINGS, ids=[p.name for p in RECORDINGS])
def test_replay_of_every_committed_recording_passes_every_case(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = json.loads((recording / "recording.json").read_text(encoding="utf-8"))
    target = meta["target"]
    code, out, err = run_cli(["contract-test", "--replay", str(recording), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)["result"]
    results = {c["name"]: c for c in doc["cases"]}
    cases = load_cases()
    assert sorted(results) == sorted(c.name for c in cases)
    for case in cases:
        result = results[case.name]
        if case.runs_on_target(target) and meta["cases"].get(case.name) == "skipped":
            # skipped when recorded (an org without a user to match): skipped again, with the reason
            assert result["result"] == "skipped" and result["skipReason"], case.name
        elif case.runs_on_target(target):
            assert result["result"] == "passed", (case.name, result["failures"])
        else:  # never passed: skipped, with the case's reason
            assert result["result"] == "skipped"
            assert result["skipReason"] == case.skip_reason
    recorded_skips = [n for n, r in meta["cases"].items() if r == "skipped"]
    runnable = [c for c in cases if c.runs_on_target(target) and c.name not in recorded_skips]
    assert doc["summary"]["passed"] == len(runnable) > 20
    assert doc["ok"] is True
    # the live lines went to stderr, one per case
    for name in results:
        assert name in err


def _edit_exchange(
    recording: Path, case: str, edit: dict[str, object], *, match_path: str = ENDPOINT_PATH
) -> None:
    path = recording / "exchanges" / f"{case}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    for exchange in document["exchanges"]:
        if exchange["path"] == match_path and exchange["method"] == "POST":
            exchange.update(edit)
            break
    else:  # pragma: no cover - the recording lacks the exchange the test edits
        raise AssertionError(f"no POST {match_path} in {path}")
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")


def test_a_changed_status_code_in_the_recording_fails_exactly_that_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = copy_recording(tmp_path)
    _edit_exchange(recording, "written_linked_to_contact", {"status": 500})
    junit = tmp_path / "junit.xml"
    code, out, err = run_cli(
        ["contract-test", "--replay", str(recording), "--json", "--junit", str(junit)], capsys
    )
    assert code == 1
    envelope = json.loads(out)  # the error document carries the report as its result
    assert envelope["status"] == 1 and envelope["name"] == "CheckFailed"
    assert envelope["message"] == f"1 of {len(load_cases())} contract cases failed"
    doc = envelope["result"]
    failed = [c for c in doc["cases"] if c["result"] == "failed"]
    assert [c["name"] for c in failed] == ["written_linked_to_contact"]
    assert failed[0]["failures"] == ["answer: HTTP 500, expected 200"]
    assert "Error: 1 of" in err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failures = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert failures == ["written_linked_to_contact"]


def test_a_changed_answer_body_fails_that_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = copy_recording(tmp_path)
    path = recording / "exchanges" / "rejected_for_every_broken_rule.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    answer = next(e for e in document["exchanges"] if e["path"] == ENDPOINT_PATH)
    answer["responseJson"]["errors"].reverse()  # same errors, wrong order
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, _err = run_cli(["contract-test", "--replay", str(recording), "--json"], capsys)
    assert code == 1
    failed = [c for c in json.loads(out)["result"]["cases"] if c["result"] == "failed"]
    assert [c["name"] for c in failed] == ["rejected_for_every_broken_rule"]
    assert "errors (field, code): expected [AgentUID/too_long" in failed[0]["failures"][0]


def test_a_request_that_differs_from_the_recording_fails_naming_case_and_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(CASES_DIR, cases)
    path = cases / "written_without_salesforce_id.json"
    case = json.loads(path.read_text(encoding="utf-8"))
    case["steps"][0]["body"]["CallerID"] = "4989000000"
    path.write_text(json.dumps(case), encoding="utf-8")
    code, out, _err = run_cli(
        ["contract-test", "--replay", str(RECORDING), "--cases", str(cases), "--json"], capsys
    )
    assert code == 1
    failed = [c for c in json.loads(out)["result"]["cases"] if c["result"] == "failed"]
    assert [c["name"] for c in failed] == ["written_without_salesforce_id"]
    message = failed[0]["failures"][0]
    assert "case written_without_salesforce_id" in message
    assert '$.CallerID: recorded "4989123456", sent "4989000000"' in message


def test_a_case_missing_from_the_recording_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = copy_recording(tmp_path)
    (recording / "exchanges" / "time_zone_winter.json").unlink()
    code, out, _err = run_cli(
        ["contract-test", "--replay", str(recording), "-k", "time_zone", "--json"], capsys
    )
    assert code == 1
    results = {c["name"]: c for c in json.loads(out)["result"]["cases"]}
    assert results["time_zone_winter"]["result"] == "failed"
    assert "no exchanges" in results["time_zone_winter"]["failures"][0]
    assert results["time_zone_dst_gap"]["result"] == "passed"


def test_junit_and_json_describe_every_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "reports" / "contract.xml"
    code, out, _err = run_cli(
        ["contract-test", "--replay", str(RECORDING), "-k", "rejected_*", "--junit", str(junit), "--json"],
        capsys,
    )
    assert code == 0
    doc = json.loads(out)["result"]
    names = sorted(c["name"] for c in doc["cases"])
    assert names == sorted(c.name for c in load_cases() if c.name.startswith("rejected_"))
    assert doc["summary"] == {"cases": len(names), "passed": len(names), "failed": 0, "skipped": 0}
    assert doc["target"] == "local" and isinstance(doc["seed"], int)
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(names)) and suite.get("failures") == "0"
    assert sorted(tc.get("name") or "" for tc in suite.iter("testcase")) == names


def test_junit_marks_cases_for_other_targets_as_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    for case in load_cases():
        if case.name in ("batch_too_large", "rejected_for_empty_body"):
            assert case.path is not None
            data = json.loads(case.path.read_text(encoding="utf-8"))
            if case.name == "batch_too_large":
                data["runsOn"], data["skipReason"] = ["apex", "org"], "not for the local endpoint"
            (cases / case.path.name).write_text(json.dumps(data), encoding="utf-8")
    junit = tmp_path / "contract.xml"
    args = ["contract-test", "--local", "--cases", str(cases), "--junit", str(junit)]
    code, out, _err = run_cli(args, capsys)
    assert code == 0
    assert "passed" in out and "skipped" in out  # the summary table
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    skipped = {
        tc.get("name"): tc.find("skipped") for tc in suite.iter("testcase") if tc.find("skipped") is not None
    }
    assert list(skipped) == ["batch_too_large"]
    element = skipped["batch_too_large"]
    assert element is not None and element.get("message") == "not for the local endpoint"


def test_local_runs_against_the_local_endpoint_and_records_a_replayable_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "rec"
    code, out, err = run_cli(
        ["contract-test", "--local", "-k", "written_linked", "--record", str(recording)], capsys
    )
    assert code == 0, err
    assert "against the local stand-in at http://127.0.0.1:" in err
    assert err.count("PASS") == 4
    assert "OK: 4 cases against local: 4 passed, 0 failed, 0 skipped" in out
    meta = json.loads((recording / "recording.json").read_text(encoding="utf-8"))
    assert meta["recordedFrom"] == "local-stand-in"
    text = "".join(p.read_text(encoding="utf-8") for p in (recording / "exchanges").glob("*.json"))
    assert "127.0.0.1" not in text and "Bearer" not in text
    code, out, err = run_cli(["contract-test", "--replay", str(recording), "-k", "written_linked"], capsys)
    assert code == 0, err
    assert "OK: 4 cases against local, replayed: 4 passed" in out


def test_keep_leaves_the_records_and_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["contract-test", "--local", "-k", "written_linked_to_contact", "--keep", "--json"], capsys
    )
    assert code == 0, err
    kept = json.loads(out)["result"]["cases"][0]["kept"]
    assert [k["sobject"] for k in kept] == ["Task", "JtelCall__c", "Contact"]
    assert "kept for inspection" in err
    for record in kept:
        assert record["id"] in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay", "somewhere", "--local"], "cannot be combined"),
        (["--replay", "does-not-exist"], "holds no recording"),
        (["--local", "-k", "no-case-is-called-this"], "no contract case matches"),
        (["--local", "--access-token", "x"], "leave out the org auth options"),
        (["--replay", str(RECORDING), "--seed", "3"], "recorded run's seed"),
        (["--local", "--cases", str(RECORDING / "recording.json")], "not readable as contract cases"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["contract-test", *args], capsys)
    assert code == 2
    assert message in err


def test_an_org_run_needs_nothing_but_the_auth_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The org code path (jtel_sf.auth.connect, client credentials) against the local endpoint on
    127.0.0.1 standing in for an org; its recording keeps neither the secret nor the token."""
    from jtel_sf.local.server import LocalServer

    recording = tmp_path / "org-rec"
    with LocalServer(host="127.0.0.1", port=0, db_path=tmp_path / "db.sqlite", quiet=True) as server:
        args = ["--instance-url", server.base_url, "--client-id", server.client_id]
        args += ["--client-secret", server.client_secret]
        code, out, err = run_cli(
            ["contract-test", *args, "-k", "agent_", "--record", str(recording), "--json"], capsys
        )
    assert code == 0, err
    doc = json.loads(out)["result"]
    assert doc["target"] == "org" and doc["summary"]["passed"] == 2
    meta = json.loads((recording / "recording.json").read_text(encoding="utf-8"))
    assert meta["recordedFrom"] == "org" and meta["target"] == "org"
    text = "".join(p.read_text(encoding="utf-8") for p in (recording / "exchanges").glob("*.json"))
    assert server.client_secret not in text and server.base_url not in text
    assert "127.0.0.1" not in text
    code, out, err = run_cli(["contract-test", "--replay", str(recording), "-k", "agent_"], capsys)
    assert code == 0, err
    assert "OK: 2 cases against org, replayed: 2 passed" in out
