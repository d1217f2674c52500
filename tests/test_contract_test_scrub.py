"""Recordings never keep a secret or an org identifier: a run's exchanges, shaped like a real org's
answers (built from the REST API and OAuth documentation: token, userinfo, sObject create/get,
query, Rows), are written with --record's recorder and the files searched for every value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jtel_sf.contract_test.scrub import PLACEHOLDER_HOST, Scrubber, looks_like_record_id
from jtel_sf.contract_test.transport import RawExchange, Recorder, Recording

ACCESS_TOKEN = "00D5g000004XyZaEAK!AQ0AQJ4rlm7d6Kx.ssH2rZqo8fXhbd_Qe9xJ8w7TGHT4k1rVJzS9pZs"
OTHER_SESSION = "00D5g000004XyZa!ARkAQFl2rCtQn3N2vx0k1sQ4Z8yD9xWf7.k3"
CLIENT_SECRET = "7A3C1E0F9B2D4C6E8A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F"
ORG_ID_18 = "00D5g000004XyZaEAK"
ORG_ID_15 = "00D5g000004XyZa"
USER_ID = "0055g00000AbCdEAAZ"
CONTACT_ID = "0035g00000XyZ12AAB"
CONTACT_ID_15 = "0035g00000XyZ12"
CALL_ID = "a0J5g00000QwErTEA1"
TASK_ID = "00T5g00000ZzYyXEA2"
HOST = "acme-dev-ed.develop.my.salesforce.com"
EMAIL = "integration.user@acme.example.com"
NICKNAME = "j.doe"
SECRETS = [
    ACCESS_TOKEN,
    OTHER_SESSION,
    CLIENT_SECRET,
    ORG_ID_18,
    ORG_ID_15,
    USER_ID,
    CONTACT_ID,
    CONTACT_ID_15,
    CALL_ID,
    TASK_ID,
    HOST,
    EMAIL,
    "v62.0",
    "Jane Doe",
]


def exchanges() -> tuple[list[RawExchange], bytes]:
    body = json.dumps(
        {"jtelStatisticsPartAID": "123456789012345678", "AgentUID": NICKNAME, "SalesForceID": CONTACT_ID}
    ).encode()
    return [
        RawExchange(
            "_run",
            "POST",
            "/services/oauth2/token",
            f"grant_type=client_credentials&client_id=abc&client_secret={CLIENT_SECRET}".encode(),
            200,
            json.dumps(
                {
                    "access_token": ACCESS_TOKEN,
                    "instance_url": f"https://{HOST}",
                    "id": f"https://login.salesforce.com/id/{ORG_ID_18}/{USER_ID}",
                    "token_type": "Bearer",
                    "signature": "c2lnbmF0dXJl",
                }
            ).encode(),
        ),
        RawExchange(
            "_run",
            "GET",
            "/services/oauth2/userinfo",
            b"",
            200,
            json.dumps(
                {
                    "sub": f"https://login.salesforce.com/id/{ORG_ID_18}/{USER_ID}",
                    "user_id": USER_ID,
                    "organization_id": ORG_ID_18,
                    "email": EMAIL,
                    "preferred_username": EMAIL,
                    "name": "Jane Doe",
                    "urls": {"rest": f"https://{HOST}/services/data/v{{version}}/"},
                }
            ).encode(),
        ),
        RawExchange(
            "case_a",
            "POST",
            "/services/data/v62.0/sobjects/Contact",
            b'{"LastName": "jtel"}',
            201,
            json.dumps({"id": CONTACT_ID, "success": True, "errors": []}).encode(),
        ),
        RawExchange(
            "case_a",
            "GET",
            "/services/data/v62.0/query?q=SELECT+Id%2C+CommunityNickname+FROM+User",
            b"",
            200,
            json.dumps(
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [
                        {
                            "attributes": {
                                "type": "User",
                                "url": f"/services/data/v62.0/sobjects/User/{USER_ID}",
                            },
                            "Id": USER_ID,
                            "CommunityNickname": NICKNAME,
                        }
                    ],
                }
            ).encode(),
        ),
        RawExchange(
            "case_a",
            "POST",
            "/services/apexrest/jtelACD/writeCallStatistics",
            body,
            401,
            json.dumps(
                [
                    {
                        "message": f"Session expired or invalid: {OTHER_SESSION}",
                        "errorCode": "INVALID_SESSION_ID",
                    }
                ]
            ).encode(),
        ),
        RawExchange(
            "case_a",
            "GET",
            "/services/data/v62.0/sobjects/JtelCall__c/CallKey__c/123456789012345678",
            b"",
            200,
            json.dumps(
                {
                    "attributes": {
                        "url": f"https://{HOST}/services/data/v62.0/sobjects/JtelCall__c/{CALL_ID}"
                    },
                    "Id": CALL_ID,
                    "TaskId__c": TASK_ID,
                    "OwnerId": USER_ID,
                    "SalesforceRecordId__c": CONTACT_ID_15,
                    "CreatedById": USER_ID,
                }
            ).encode(),
        ),
        RawExchange("case_a", "DELETE", f"/services/data/v62.0/sobjects/Contact/{CONTACT_ID}", b"", 204, b""),
    ], body


def record(tmp_path: Path) -> tuple[Path, str]:
    items, body = exchanges()
    recorder = Recorder()
    recorder.exchanges.extend(items)
    recorder.note_body(body)
    scrubber = Scrubber(secrets=[ACCESS_TOKEN, CLIENT_SECRET], instance_url=f"https://{HOST}")
    scrubber.add_value(NICKNAME, "agent")
    recorder.write(tmp_path / "rec", scrubber, {"seed": 1, "recordedFrom": "org"})
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((tmp_path / "rec").rglob("*.json")))
    return tmp_path / "rec", text


def test_no_secret_or_org_identifier_survives_scrubbing(tmp_path: Path) -> None:
    _directory, text = record(tmp_path)
    for value in SECRETS:
        assert value not in text, value
    assert NICKNAME not in text
    assert "salesforce.com" not in text
    assert PLACEHOLDER_HOST in text


def test_placeholders_are_stable_across_the_run(tmp_path: Path) -> None:
    directory, _text = record(tmp_path)
    recording = Recording.load(directory)
    case = recording.scopes["case_a"]
    contact = case[0]["responseJson"]["id"]
    assert contact.startswith("REC-003-")
    # the same Id (18 and 15 characters) becomes the same placeholder everywhere
    assert case[-1]["path"] == f"/services/data/vXX.X/sobjects/Contact/{contact}"
    assert case[2]["requestJson"]["SalesForceID"] == contact
    assert case[3]["responseJson"]["SalesforceRecordId__c"] == contact
    user = recording.scopes["_run"][1]["responseJson"]["user_id"]
    assert case[1]["responseJson"]["records"][0]["Id"] == user == case[3]["responseJson"]["OwnerId"]
    assert recording.scopes["_run"][1]["responseJson"]["organization_id"].startswith("ORG-00D-")
    # the agent's nickname is replaced the same way in the query answer and in the body sent
    agent = case[1]["responseJson"]["records"][0]["CommunityNickname"]
    assert case[2]["requestJson"]["AgentUID"] == agent == "agent-0001"
    # call ids are not org identifiers and stay, so a replay (same seed) sends the same ids
    assert case[2]["requestJson"]["jtelStatisticsPartAID"] == "123456789012345678"


def test_body_keys_in_paths_follow_the_scrubbed_body() -> None:
    scrubber = Scrubber()
    body = json.dumps({"SalesForceID": CONTACT_ID}).encode()
    scrubber.alias_body_key(body)
    real_key = hashlib.sha256(body).hexdigest()
    scrubbed = scrubber.text(body.decode())
    assert CONTACT_ID not in scrubbed
    path = scrubber.text(f"/services/data/v62.0/sobjects/JtelQuarantine__c/BodyKey__c/{real_key}")
    assert path.endswith(hashlib.sha256(scrubbed.encode()).hexdigest())


def test_record_id_detection() -> None:
    assert looks_like_record_id(CONTACT_ID) and looks_like_record_id(CONTACT_ID_15)
    assert not looks_like_record_id("AcdAgentGroupsName")  # a field name, 18 letters
    assert not looks_like_record_id("123456789012345678")  # a call id, 18 digits
