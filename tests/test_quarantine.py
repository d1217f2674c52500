"""``jtel-sf quarantine`` end to end through the CLI against the fake org (tests/fakes/org.py, built
from the REST API and Actions Developer Guides, not recorded from Salesforce)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from conftest import run_cli
from fakes.org import FakeOrg


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOrg]:
    for name in ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_CLIENT_ID", "SF_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    with FakeOrg() as fake:
        fake.seed_jtel("jtel.integration@acme.example", "3MVGjtel", "jtel-secret-0a9b")
        yield fake


def quarantined(org: FakeOrg, number: int, body: str, reason: str, status: str = "New") -> dict[str, object]:
    return org.insert(
        "JtelQuarantine__c",
        {
            "Name": f"JQ-{number:08d}",
            "BodyKey__c": hashlib.sha256(body.encode()).hexdigest(),
            "Status__c": status,
            "Reason__c": reason,
            "ErrorCode__c": "invalid_payload" if reason == "invalid_payload" else "org_refused",
            "HttpStatus__c": 409.0,
            "StatisticsPartAID__c": str(number),
            "Attempts__c": 1.0,
            "LastReceived__c": f"2026-11-0{number}T10:00:00.000+0000",
            "Errors__c": '[{"field": "Cause", "code": "not_integer"}]',
            "RawBody__c": body,
            "BodyTruncated__c": False,
            "ReprocessResult__c": None,
        },
    )


def auth(org: FakeOrg) -> list[str]:
    return ["--instance-url", org.url, "--access-token", org.admin_token]


def test_list_show_reprocess_and_discard(org: FakeOrg, capsys: pytest.CaptureFixture[str]) -> None:
    refused = quarantined(org, 1, '{"jtelStatisticsPartAID": 1}', "org_refused")
    invalid = quarantined(org, 2, '{"jtelStatisticsPartAID": 2, "Cause": "x"}', "invalid_payload")
    done = quarantined(org, 3, '{"jtelStatisticsPartAID": 3}', "org_refused", status="Reprocessed")

    code, out, err = run_cli(["quarantine", "list", *auth(org)], capsys)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["JQ-00000002", "JQ-00000001"]  # newest first
    assert f"key {refused['BodyKey__c']}" in out and "JQ-00000003" not in out

    code, out, _err = run_cli(["quarantine", "list", "--status", "all", "--json", *auth(org)], capsys)
    assert code == 0 and len(json.loads(out)["result"]) == 3

    code, out, _err = run_cli(["quarantine", "show", str(invalid["BodyKey__c"]), *auth(org)], capsys)
    assert code == 0
    assert 'Raw body:\n  {"jtelStatisticsPartAID": 2, "Cause": "x"}' in out
    assert "Reason__c: invalid_payload" in out

    # reprocess by body key and by number: one action call carrying both Ids, in one input
    code, out, err = run_cli(
        ["quarantine", "reprocess", str(refused["BodyKey__c"]), "JQ-00000002", *auth(org)], capsys
    )
    assert org.action_calls == [{"inputs": [{"quarantineIds": [refused["Id"], invalid["Id"]]}]}]
    assert f"{refused['Id']}: 200 written/ok" in out
    assert f"{invalid['Id']}: 409 rejected/invalid_payload" in out
    assert "Reprocessed 1, failed 1, still waiting 0." in out
    assert code == 1 and "1 rejected again" in err
    assert refused["Status__c"] == "Reprocessed" and invalid["Status__c"] == "Failed"

    code, out, err = run_cli(["quarantine", "discard", str(invalid["Id"]), *auth(org)], capsys)
    assert code == 0, err
    assert out.strip() == f"JQ-00000002 ({invalid['Id']}): discarded (was Failed)"
    assert invalid["Status__c"] == "Discarded"
    code, out, _err = run_cli(["quarantine", "discard", str(invalid["Id"]), *auth(org)], capsys)
    assert "already discarded" in out
    assert done["Status__c"] == "Reprocessed"


def test_unknown_and_malformed_keys(org: FakeOrg, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["quarantine", "show", "a" * 64, *auth(org)], capsys)
    assert code == 2 and f"no quarantined request for {'a' * 64}" in err
    code, _out, err = run_cli(["quarantine", "reprocess", "nonsense", *auth(org)], capsys)
    assert code == 2 and "is not a quarantine key" in err
    assert org.action_calls == []


def test_the_discarded_status_is_in_the_field_metadata() -> None:
    """The fake accepts Discarded because the package's restricted picklist has it."""
    from pathlib import Path

    field = (
        Path(__file__).resolve().parents[1]
        / "force-app/main/default/objects/JtelQuarantine__c/fields/Status__c.field-meta.xml"
    ).read_text(encoding="utf-8")
    from jtel_sf.org.quarantine import STATUSES

    for status in STATUSES:
        assert f"<fullName>{status}</fullName>" in field
