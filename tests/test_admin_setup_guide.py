"""docs/admin-setup.md, run: every command in its ``sh`` blocks, in order, through the CLI entry point
against the fake org (tests/fakes/org.py: built from Salesforce's documentation, not recorded). The
steps the guide has the admin do by hand in Setup (creating the two External Client Apps, the
integration user, filling agents' nicknames) are done to the fake org before the commands run.
A new command in the guide that is neither ``jtel-sf ...`` nor ``export ...`` fails this test."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import socket
import threading
from pathlib import Path

import keyring
import pytest
import requests

from conftest import run_cli
from fakes.org import FakeOrg
from test_browser_login import MemoryKeyring

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "admin-setup.md"
INTEGRATION_USER = "jtel.integration@yourcompany.example"
ADMIN_APP = "3MVGadmin-login-app"
JTEL_APP, JTEL_SECRET = "3MVGjtel-acd-app", "jtel-acd-consumer-secret-77c2"


def guide_commands() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^\s*```sh\n(.*?)^\s*```", text, re.S | re.M):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_the_guide_has_commands_and_only_jtel_sf_ones() -> None:
    commands = guide_commands()
    assert len(commands) >= 10
    strays = [c for c in commands if not c.startswith(("jtel-sf ", "export "))]
    assert strays == [], "the guide shows commands this test cannot run against the fake org"


def test_every_command_of_the_guide_works_against_the_fake_org(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SF_ACCESS_TOKEN", "SF_TARGET_ORG", "SF_CLIENT_SECRET", "SF_USERNAME", "SF_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(REPO / "force-app", tmp_path / "force-app")
    shutil.copy(REPO / "sfdx-project.json", tmp_path / "sfdx-project.json")
    monkeypatch.chdir(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("JTEL_SF_LOGIN_PORT", str(port))
    monkeypatch.setattr(
        "webbrowser.open",
        lambda url: threading.Thread(
            target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True
        ).start(),
    )
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        with FakeOrg() as org:
            # what the guide has the admin do by hand in Setup
            org.add_client(ADMIN_APP, "", redirect_uri=f"http://localhost:{port}/OauthRedirect")  # section 2
            org.add_user(INTEGRATION_USER)  # section 4
            org.add_client(JTEL_APP, JTEL_SECRET, run_as=INTEGRATION_USER)  # section 7, with its policy
            org.insert("ExternalClientApplication", {"DeveloperName": "jtel_ACD"}, tooling=True)
            org.insert(
                "EntityDefinition",
                {"QualifiedApiName": "Task", "InternalSharingModel": "ControlledByParent"},
                tooling=True,
            )
            agent = org.add_user("agent@yourcompany.example", profile="Standard User", license="Salesforce")
            agent["CommunityNickname"] = "agent7"  # section 10
            values = {
                "https://<my-domain>.my.salesforce.com": org.url,
                '<consumer key of "jtel-sf admin login">': ADMIN_APP,
                '<consumer key of "jtel ACD">': JTEL_APP,
                '<consumer secret of "jtel ACD">': JTEL_SECRET,
            }
            ran = []
            for command in guide_commands():
                for placeholder, value in values.items():
                    command = command.replace(placeholder, value)
                if command.startswith("export "):
                    name, _, value = command.removeprefix("export ").partition("=")
                    assert "<" not in value, f"unfilled placeholder in {command}"
                    monkeypatch.setenv(name, value)
                    continue
                if command.startswith("jtel-sf quarantine") and "KEY" not in values:
                    body = '{"jtelStatisticsPartAID": 7}'  # a body jtel sent that the org refused
                    record = org.insert(
                        "JtelQuarantine__c",
                        {
                            "Name": "JQ-00000001",
                            "BodyKey__c": hashlib.sha256(body.encode()).hexdigest(),
                            "Status__c": "New",
                            "Reason__c": "org_refused",
                            "ErrorCode__c": "org_refused",
                            "LastReceived__c": "2026-11-30T10:00:00.000+0000",
                            "RawBody__c": body,
                        },
                    )
                    values["KEY"] = str(record["BodyKey__c"])
                args = shlex.split(command)[1:]
                args = [values.get(a, a) for a in args]
                code, out, err = run_cli(args, capsys)
                assert code == 0, f"{command}\n{out}\n{err}"
                ran.append(command)
                started = re.search(r"Deploy id (0Af\w+) \((validation|quick deploy|deploy)", err)
                if started and started.group(2) == "validation":
                    values["VALIDATION_ID"] = started.group(1)
                elif started and started.group(2) == "quick deploy":
                    values["DEPLOY_ID"] = started.group(1)
                assert JTEL_SECRET not in out + err
            assert org.deploy_requests == 1, "validate once, quick-deploy it, assign without a new deploy"
            assigned = {a["PermissionSetId"] for a in org.rows("PermissionSetAssignment")}
            names = {p["Name"] for p in org.rows("PermissionSet") if p["Id"] in assigned}
            assert names == {"JtelCallStatisticsIntegration", "JtelCallStatisticsRecordAccess"}
            assert any(c.startswith("jtel-sf doctor") for c in ran)
            assert org.action_calls, "quarantine reprocess called the package's action"
    finally:
        keyring.set_keyring(previous)
