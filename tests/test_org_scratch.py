"""``jtel-sf org create | list | delete | prove`` through the real entry point, against the fake Dev Hub
in tests/fakes/devhub.py (built from sfdx-core's sources and Salesforce's documentation, not
recorded from Salesforce)."""

from __future__ import annotations

import functools
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import run_cli
from fakes.devhub import HUB, HUB_TOKEN, HUB_USERNAME, FakeDevHub
from jtel_sf.org import scratch, scratch_registry
from jtel_sf.org.scratch_prove import scrub_check

REPO = Path(__file__).resolve().parents[1]
CLIENT_ID = "3MVG9fake.devhub.app"
DEFINITION = {
    "orgName": "jtel test org",
    "edition": "Developer",
    "features": ["EnableSetPasswordInApi", " API "],
    "language": "en_US",
    "settings": {"lightningExperienceSettings": {"enableS1DesktopEnabled": True}},
}


@functools.cache
def _key_pair() -> tuple[bytes, str]:
    """One RSA key pair for the module (generating one takes a while)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, public.decode()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, str]:
    pem, public = _key_pair()
    path = tmp_path / "keys" / "server.key"
    path.parent.mkdir()
    path.write_bytes(pem)
    return path, public


@pytest.fixture
def hub(keys: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDevHub]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    for name in ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_DEV_HUB_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "def.json").write_text(json.dumps(DEFINITION), encoding="utf-8")
    fake = FakeDevHub(jwt_public_key=keys[1], client_id=CLIENT_ID)
    # never the machine's real keyring (a test that wants one brings MemoryKeyring)
    monkeypatch.setattr(scratch_registry, "_keyring", lambda: None)
    # no DNS here: the fake's hosts "resolve" once the fake has created the org
    monkeypatch.setattr(scratch, "resolves", lambda host: fake.org_by_host(host) is not None)
    scratch_registry.forget_sessions()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake
    fake.stop()
    scratch_registry.forget_sessions()


def jwt_hub(keys: tuple[Path, str]) -> list[str]:
    return [
        "--dev-hub-instance-url", HUB, "--dev-hub-client-id", CLIENT_ID,
        "--dev-hub-jwt-key-file", str(keys[0]), "--dev-hub-username", HUB_USERNAME,
    ]  # fmt: skip


TOKEN_HUB = ["--dev-hub-instance-url", HUB, "--dev-hub-access-token", HUB_TOKEN]
FAST = ["--poll-interval", "0.001"]


def secrets_of(fake: FakeDevHub, keys: tuple[Path, str]) -> list[str]:
    found = [HUB_TOKEN, *fake.hub_tokens, keys[0].read_text().splitlines()[1]]
    for org in fake.orgs.values():
        found += [org.auth_code, *org.tokens, *org.refresh_tokens]
    return found


def assert_nothing_secret_on_disk(tmp_path: Path, fake: FakeDevHub, keys: tuple[Path, str]) -> None:
    config = tmp_path / "config"
    files = [p for p in config.rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["scratch-orgs.json"] or not files
    for path in files:
        text = path.read_text()
        for secret in secrets_of(fake, keys):
            assert secret not in text, f"a secret reached {path}"


def test_create_deploy_delete_with_a_jwt_dev_hub(
    hub: FakeDevHub, keys: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["org", "create", "--definition", "def.json", "--alias", "so1", "--days", "3", *FAST, *jwt_hub(keys)],
        capsys,
    )
    assert code == 0, err
    # the ScratchOrgInfo as sfdx-core sends it
    (body,) = hub.created_bodies
    assert body == {
        "OrgName": "jtel test org",
        "Edition": "Developer",
        "Features": "EnableSetPasswordInApi;API",
        "Language": "en_US",
        "DurationDays": 3,
        "ConnectedAppCallbackUrl": "http://localhost:1717/OauthRedirect",
        "ConnectedAppConsumerKey": CLIENT_ID,
    }
    assert "scratch org: Dev Hub allocation: active 3 of 3 left, daily 6 of 6 left" in err
    assert "scratch org: Creating" in err and "scratch org: Active" in err
    (org,) = hub.orgs.values()
    # the settings landed in the new org, not in the Dev Hub
    (settings_deploy,) = org.deploys
    assert settings_deploy["members"] == {"Settings": ["LightningExperience"]}
    assert hub.hub_deploys == []
    assert "Scratch org so1 created" in out and org.username in out
    assert "JWT" in out
    assert_nothing_secret_on_disk(tmp_path, hub, keys)
    # list
    code, out, _ = run_cli(["org", "list"], capsys)
    assert code == 0 and re.search(rf"^so1\s+{re.escape(org.username)}\s+2027-01-02", out, re.M)
    # a new process: deploy -o so1 logs in again with JWT, the deploy lands in the scratch org
    scratch_registry.forget_sessions()
    write_widget(tmp_path / "force-app")
    code, out, err = run_cli(["deploy", "-o", "so1", "--test-level", "NoTestRun", *FAST], capsys)
    assert code == 0, err
    assert len(org.deploys) == 2 and org.deploys[1]["members"]["ApexClass"] == ["Widget"]
    assert hub.hub_deploys == []
    # delete: the Dev Hub is reached again with the JWT facts kept at create time
    scratch_registry.forget_sessions()
    old_token = next(iter(org.tokens))
    code, out, err = run_cli(["org", "delete", "so1"], capsys)
    assert code == 0, err
    assert org.deleted and f"ActiveScratchOrg {org.active_id}" in out
    assert hub.infos[org.info_id]["Status"] == "Deleted"
    refused = requests.get(
        f"{org.url}/services/data/v61.0/limits", headers={"Authorization": f"Bearer {old_token}"}, timeout=5
    )
    assert refused.status_code == 401  # the org's tokens stop working
    code, out, _ = run_cli(["org", "list"], capsys)
    assert "No scratch orgs" in out
    assert_nothing_secret_on_disk(tmp_path, hub, keys)


def write_widget(source: Path) -> None:
    (source.parent / "sfdx-project.json").write_text(
        json.dumps(
            {"packageDirectories": [{"path": source.name, "default": True}], "sourceApiVersion": "61.0"}
        )
    )
    classes = source / "main" / "default" / "classes"
    classes.mkdir(parents=True)
    (classes / "Widget.cls").write_text("public with sharing class Widget {\n}\n")
    (classes / "Widget.cls-meta.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata">'
        "<apiVersion>61.0</apiVersion><status>Active</status></ApexClass>\n"
    )


def test_auth_code_flow_keeps_the_refresh_token_in_memory_only(
    hub: FakeDevHub,
    keys: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_widget(tmp_path / "force-app")
    code, _, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so2", *FAST, *TOKEN_HUB], capsys
    )
    assert code == 0, err
    (org,) = hub.orgs.values()
    assert org.code_used  # the AuthCode was exchanged, with PlatformCLI and the 1717 callback
    assert hub.infos[org.info_id]["ConnectedAppConsumerKey"] == "PlatformCLI"
    assert_nothing_secret_on_disk(tmp_path, hub, keys)
    # same process: the session is in memory
    code, _, err = run_cli(["deploy", "-o", "so2", "--test-level", "NoTestRun", *FAST], capsys)
    assert code == 0, err
    assert org.deploys[-1]["members"]["ApexClass"] == ["Widget"]
    # a new process without a keyring cannot log in again, and says why and what to do
    scratch_registry.forget_sessions()
    monkeypatch.setattr(scratch_registry, "_keyring", lambda: None)
    code, _, err = run_cli(["deploy", "-o", "so2", "--test-level", "NoTestRun", *FAST], capsys)
    assert code == 2
    assert "one-time AuthCode" in err and "keyring" in err


class MemoryKeyring:
    """Stands in for the OS keyring (the ``keyring`` package's get/set/delete_password)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, name: str, value: str) -> None:
        self.items[(service, name)] = value

    def get_password(self, service: str, name: str) -> str | None:
        return self.items.get((service, name))

    def delete_password(self, service: str, name: str) -> None:
        self.items.pop((service, name), None)


def test_with_a_keyring_a_later_process_logs_in_with_the_refresh_token(
    hub: FakeDevHub,
    keys: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ring = MemoryKeyring()
    monkeypatch.setattr(scratch_registry, "_keyring", lambda: ring)
    write_widget(tmp_path / "force-app")
    code, out, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so6", *FAST, *TOKEN_HUB], capsys
    )
    assert code == 0, err
    assert "refresh token in the OS keyring" in out
    (org,) = hub.orgs.values()
    assert list(ring.items.values()) == list(org.refresh_tokens)
    scratch_registry.forget_sessions()
    code, _, err = run_cli(["deploy", "-o", "so6", "--test-level", "NoTestRun", *FAST], capsys)
    assert code == 0, err
    assert org.deploys[-1]["members"]["ApexClass"] == ["Widget"]
    code, _, err = run_cli(["org", "delete", "so6", *TOKEN_HUB], capsys)
    assert code == 0, err
    assert ring.items == {}
    assert_nothing_secret_on_disk(tmp_path, hub, keys)


def test_a_reused_auth_code_is_a_clear_error(
    hub: FakeDevHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = hub._activate

    def used_elsewhere(record: dict[str, object]) -> None:
        original(record)
        hub.orgs[str(record["Id"])].code_used = True  # someone exchanged it first

    hub._activate = used_elsewhere  # type: ignore[method-assign]
    code, _, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so3", *FAST, *TOKEN_HUB], capsys
    )
    assert code == 2
    first = err.splitlines()[-2]
    assert first.startswith("Error: Error authenticating with auth code due to: invalid_grant")
    assert "expired authorization code" in first
    assert "works once" in err
    # the org exists on the Dev Hub: jtel-sf kept its facts, so it can be deleted
    (org,) = hub.orgs.values()
    code, _, err = run_cli(["org", "delete", "so3", *TOKEN_HUB], capsys)
    assert code == 0, err
    assert org.deleted


def test_prove_deletes_an_org_it_could_not_log_in_to(
    hub: FakeDevHub, keys: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    original = hub._activate

    def used_elsewhere(record: dict[str, object]) -> None:
        original(record)
        hub.orgs[str(record["Id"])].code_used = True

    hub._activate = used_elsewhere  # type: ignore[method-assign]
    code, out, _ = run_cli(["org", "prove", "--definition", "def.json", *FAST, *TOKEN_HUB], capsys)
    assert code == 1
    assert re.search(r"^  create scratch org\s+FAILED", out, re.M)
    assert "expired authorization code" in out
    assert re.search(r"^  delete scratch org\s+OK", out, re.M)
    (org,) = hub.orgs.values()
    assert org.deleted


def test_an_error_outcome_is_one_line_with_the_code_and_what_to_do(
    hub: FakeDevHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.next_error = "C-1016"
    code, _, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so4", *FAST, *TOKEN_HUB], capsys
    )
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: scratch org signup failed with C-1016: We encountered a problem while attempting to "
        "configure and approve the Connected App for your org. Verify the Connected App configuration "
        "with your Salesforce admin."
    ]
    assert "Hint: If the Dev Hub is reached through an External Client App" in err
    assert "sfdx_dev_scratch_orgs_error_codes.htm" in err
    assert hub.orgs == {}


def test_a_signup_app_makes_a_jwt_dev_hub_use_the_auth_code(
    hub: FakeDevHub, keys: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["org", "create", "--definition", "def.json", "-a", "so5", "--signup-connected-app", "PlatformCLI"]
    code, _, err = run_cli([*args, *FAST, *jwt_hub(keys)], capsys)
    assert code == 0, err
    (org,) = hub.orgs.values()
    assert hub.created_bodies[0]["ConnectedAppConsumerKey"] == "PlatformCLI"
    assert org.code_used
    assert scratch_registry.find("so5").login["method"] == "refresh-token"  # type: ignore[union-attr]


def test_no_active_scratch_org_left_stops_before_the_request(
    hub: FakeDevHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.active_max = 0
    code, _, err = run_cli(["org", "create", "--definition", "def.json", *FAST, *TOKEN_HUB], capsys)
    assert code == 1
    assert "Error: the Dev Hub has no active scratch org left (0 of 0)" in err
    assert hub.created_bodies == []


def test_no_dev_hub_credentials_names_the_dev_hub_options(
    hub: FakeDevHub, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["org", "create", "--definition", "def.json", "--dev-hub-instance-url", HUB], capsys
    )
    assert code == 2
    assert "Error: no complete Dev Hub credentials (given: --dev-hub-instance-url)" in err
    assert "--dev-hub-jwt-key-file" in err


def test_every_org_auth_option_has_a_dev_hub_twin() -> None:
    from jtel_sf.commands.org import _dev_hub_params
    from jtel_sf.options import org_auth_options

    def probe(**_: object) -> None:
        pass

    names = {p.name for p in org_auth_options(probe).__click_params__} - {"api_version"}  # type: ignore[attr-defined]
    twins = {p.name: p for p in _dev_hub_params()}
    assert set(twins) == {f"dev_hub_{n}" for n in names}
    assert twins["dev_hub_access_token"].envvar == "SF_DEV_HUB_ACCESS_TOKEN"
    assert twins["dev_hub_target_org"].opts == ["--dev-hub"]


def test_prove_runs_every_step_as_the_integration_user_and_deletes_the_org(
    hub: FakeDevHub, keys: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "rec"
    code, out, err = run_cli(
        ["org", "prove", "--definition", "def.json", "--source-dir", str(REPO / "force-app"),
         "--record", str(record), *FAST, *jwt_hub(keys)],
        capsys,
    )  # fmt: skip
    assert code == 0, out + err
    (org,) = hub.orgs.values()
    steps = re.findall(r"^  (.+?)\s{2,}(OK|FAILED|SKIPPED|NOT RUN)\s+[\d.]+s$", out, re.M)
    assert steps == [
        ("create scratch org", "OK"),
        ("deploy force-app + Apex tests", "OK"),
        ("integration user", "OK"),
        ("contract-test", "OK"),
        ("scrub check", "OK"),
        ("delete scratch org", "OK"),
    ]
    # the deploy ran the Apex tests and reported coverage
    assert "Code coverage" in out
    assert re.search(r"^\s+JtelCallStatisticsService\s+95\.0% \(19/20 lines\)", out, re.M)
    assert "JtelTestData" not in out  # an @IsTest helper: Salesforce reports no coverage for it
    main_deploy = org.deploys[1]
    assert "JtelCallStatisticsServiceTest" in main_deploy["tests"]
    # the integration user: integration licence profile, only the shipped non-admin permission sets
    (user_id,) = [i for i, u in org.users.items()]
    assert org.users[user_id]["ProfileId"] == "00eINTEGRATION0AAA"
    assert org.users[user_id]["TimeZoneSidKey"] == "Europe/Berlin"
    assert org.assigned(user_id) == ["JtelCallStatisticsIntegration", "JtelCallStatisticsRecordAccess"]
    assert len(org.assignments) == 2
    assert org.psl_assignments == [user_id]
    # every Apex REST request came with the integration user's token, none with the admin's
    assert org.apex_callers == {user_id}
    assert "OK:" in out  # the contract summary
    assert (record / "recording.json").is_file()
    assert org.deleted
    assert_nothing_secret_on_disk(tmp_path, hub, keys)


def test_prove_deletes_the_org_when_a_step_fails(
    hub: FakeDevHub, keys: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["org", "prove", "--definition", "def.json", "--source-dir", str(tmp_path / "missing"), *FAST,
         *jwt_hub(keys)],
        capsys,
    )  # fmt: skip
    assert code == 1
    assert re.search(r"^  deploy force-app \+ Apex tests\s+FAILED", out, re.M)
    assert re.search(r"^  contract-test\s+SKIPPED", out, re.M)
    assert re.search(r"^  delete scratch org\s+OK", out, re.M)
    (org,) = hub.orgs.values()
    assert org.deleted
    assert "Error: org prove failed at: deploy force-app + Apex tests" in err


def test_the_scrub_check_finds_what_the_org_left(tmp_path: Path) -> None:
    (tmp_path / "exchanges").mkdir()
    (tmp_path / "exchanges" / "a.json").write_text(
        '{"url": "https://acme.my.salesforce.com/x", "u": "me-user"}'
    )
    (tmp_path / "exchanges" / "b.json").write_text('{"url": "https://org.example.invalid/x"}')
    assert scrub_check(tmp_path, {"admin username": "me-user"}) == [
        "exchanges/a.json: My Domain host",
        "exchanges/a.json: admin username",
    ]
    assert scrub_check(tmp_path / "exchanges", {"x": "nowhere-to-be-found"}) == ["a.json: My Domain host"]


def test_the_settings_file_is_what_sfdx_core_writes(tmp_path: Path) -> None:
    from jtel_sf.org.scratch_def import load_definition, settings_package

    path = tmp_path / "d.json"
    path.write_text(json.dumps({"edition": "Developer", "settings": {"securitySettings": {
        "passwordPolicies": {"minimumPasswordLength": 8}, "enableAdminLoginAsAnyUser": False}}}))  # fmt: skip
    package = settings_package(load_definition(path), "61.0")
    assert package is not None
    text = package.files["settings/Security.settings"].decode()
    assert '<SecuritySettings xmlns="http://soap.sforce.com/2006/04/metadata">' in text
    assert "<minimumPasswordLength>8</minimumPasswordLength>" in text
    assert "<enableAdminLoginAsAnyUser>false</enableAdminLoginAsAnyUser>" in text
    assert "<members>Security</members>" in package.package_xml()
    with zipfile.ZipFile(__import__("io").BytesIO(package.to_zip())) as archive:
        assert sorted(archive.namelist()) == ["package.xml", "settings/Security.settings"]


def test_deleting_an_org_the_dev_hub_no_longer_has(
    hub: FakeDevHub, keys: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so7", *FAST, *jwt_hub(keys)], capsys
    )
    assert code == 0, err
    (org,) = hub.orgs.values()
    org.deleted = True  # expired, or deleted in the Dev Hub's UI
    code, _, err = run_cli(["org", "delete", "so7"], capsys)
    assert code == 1
    assert "Error: Attempting to delete an expired or deleted org (so7," in err
    assert "--forget" in err
    code, out, _ = run_cli(["org", "delete", "so7", "--forget"], capsys)
    assert code == 0 and "dropped" in out
    code, _, err = run_cli(["org", "delete", "so7"], capsys)
    assert code == 1 and "jtel-sf has no scratch org called so7" in err


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"Edition": "Developer"}, "key 'Edition' must be camelCase (edition)"),
        ({"edition": "Developer", "durationDays": 3}, "durationDays is not allowed in the file; use --days"),
        ({"edition": "Developer", "orgPreferences": {"enabled": []}}, "orgPreferences is deprecated"),
        ({"orgName": "no edition"}, "edition is required"),
    ],
)
def test_a_definition_sfdx_core_refuses_is_refused_before_the_dev_hub_is_asked(
    hub: FakeDevHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    definition: dict[str, object],
    message: str,
) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(definition), encoding="utf-8")
    code, _, err = run_cli(["org", "create", "--definition", "bad.json", *FAST, *TOKEN_HUB], capsys)
    assert code == 2
    assert message in err
    assert hub.created_bodies == []


def test_waiting_for_the_new_host_to_resolve_gives_up_after_three_minutes() -> None:
    now = [0.0]
    shown: list[str] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(scratch.TimeoutExceeded, match="did not resolve within 3 minutes"):
        scratch.wait_for_dns(
            "https://nowhere.invalid",
            on_status=lambda text, _t: shown.append(text),
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert len(shown) == 18  # every 10 seconds, as sfdx-core's MyDomainResolver


def test_a_key_the_dev_hub_does_not_know_is_its_error(
    hub: FakeDevHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "odd.json").write_text(
        json.dumps({"edition": "Developer", "colour": "blue"}), encoding="utf-8"
    )
    code, _, err = run_cli(["org", "create", "--definition", "odd.json", *FAST, *TOKEN_HUB], capsys)
    assert code == 1
    assert "creating the ScratchOrgInfo failed: HTTP 400: INVALID_FIELD: No such column 'Colour'" in err


def test_a_signup_slower_than_wait_exits_3_naming_the_request(
    hub: FakeDevHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.polls_until_active = 10**6
    args = ["org", "create", "--definition", "def.json", "--wait", "0.0005", *FAST, *TOKEN_HUB]
    code, _, err = run_cli(args, capsys)
    assert code == 3
    (info_id,) = hub.infos
    assert f"Error: The scratch org did not complete within 0.0005 minutes (ScratchOrgInfo {info_id}" in err
    assert "last status Creating" in err


def test_create_json_names_the_org_and_no_secret(
    hub: FakeDevHub, keys: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["org", "create", "--definition", "def.json", "-a", "so8", "--json", *FAST, *jwt_hub(keys)], capsys
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["status"] == 0 and document["warnings"] == []
    facts = document["result"]  # the --json envelope; keys in camelCase
    (org,) = hub.orgs.values()
    assert (facts["alias"], facts["username"], facts["orgId"]) == ("so8", org.username, org.org_id[:15])
    for secret in secrets_of(hub, keys):
        assert secret not in out + err
