"""``jtel-sf org prove``: a fresh scratch org, force-app deployed with its Apex tests, a user that
holds only the shipped permission sets (as jtel's integration user would), the contract run as
that user and recorded, the recording's scrub check, and the org deleted again.

The integration user (Salesforce Help, "Give Integration Users API Only Access"): the
*Salesforce Integration* user licence, available in Developer Edition (so in a Developer scratch
org), comes with the *Minimum Access - API Only Integrations* profile and the *Salesforce API
Integration* permission set licence. The profile is looked up by its licence, not by its
(translated) name. The user is created the way sfdx-core's ``src/org/user.ts`` ``createUser``
(line 368, ``createUserInternal`` 451, ``scimEndpoint`` 58; commit cd4bdcb9) does for
``sf org create user``: ``POST /services/scim/v1/Users`` with the header
``auto-approve-user: true``, whose answer carries a refresh token for the new user in the
``auto-approve-user`` header, exchanged at the org for an access token (never written anywhere).
Its time zone is set to the settings' ``time_zone``: Apex reads jtel's local times in the running
user's zone.

During the contract run the requests jtel makes (``/services/apexrest/...``) and the
``userinfo`` call that names the running user go with the integration user's token; preparing
and checking records (Contacts, Tasks, the jtel objects) goes with the scratch org admin's, since
the integration user may, by design, not create Contacts.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from ..auth import OrgRequestError, OrgSession
from ..errors import CheckFailed, JtelSfError
from ..settings import Settings

SCIM_USERS = "/services/scim/v1/Users"
INTEGRATION_LICENCE = "Salesforce Integration"
INTEGRATION_PSL = "Salesforce API Integration"
RECORD_ACCESS_PERMISSION_SET = "JtelCallStatisticsRecordAccess"
_INTEGRATION_PATHS = ("/services/apexrest/", "/services/oauth2/userinfo")


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    result: str = "not run"  # ok | failed | skipped | not run
    detail: list[str] = field(default_factory=list)


@dataclass
class ProveReport:
    steps: list[Step] = field(default_factory=list)
    org_alias: str = ""

    @property
    def ok(self) -> bool:
        return all(s.result in ("ok", "skipped") for s in self.steps)

    def lines(self) -> list[str]:
        width = max(len(s.name) for s in self.steps) if self.steps else 10
        out = [f"org prove ({self.org_alias or 'no org'}):"]
        for step in self.steps:
            out.append(f"  {step.name.ljust(width)}  {step.result.upper():8} {step.seconds:7.1f}s")
            out.extend(f"      {line}" for line in step.detail)
        out.append("RESULT: " + ("OK" if self.ok else "FAILED"))
        return out


class RoutingSession(requests.Session):
    """A requests session that sends jtel's requests as the integration user, the rest as admin."""

    def __init__(self, integration_token: str) -> None:
        super().__init__()
        self._integration = f"Bearer {integration_token}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        path = urlparse(url if isinstance(url, str) else url.decode()).path
        if path.startswith(_INTEGRATION_PATHS):
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Authorization"] = self._integration
            kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)


def _bearer(org: OrgSession) -> str:
    value = str(org.session.headers.get("Authorization", ""))
    return value.split(" ", 1)[1] if " " in value else ""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class IntegrationUser:
    user_id: str
    username: str
    session: OrgSession = field(repr=False)
    profile: str
    permission_sets: list[str]
    notes: list[str] = field(default_factory=list)


def create_integration_user(
    admin: OrgSession,
    *,
    settings: Settings,
    permission_sets: list[str],
    client_id: str,
    assign: Callable[[OrgSession, str, str], str],
) -> IntegrationUser:
    profiles = admin.query(
        f"SELECT Id, Name FROM Profile WHERE UserLicense.Name = {_quote(INTEGRATION_LICENCE)} LIMIT 1"
    )
    if not profiles:
        raise CheckFailed(
            f"the scratch org offers no profile of the {INTEGRATION_LICENCE} user licence",
            hint="Use a Developer or Enterprise edition scratch org (the licence is available in both).",
        )
    profile = profiles[0]
    domain = admin.instance_url.split("//", 1)[-1].split(".", 1)[0]
    username = f"jtel-integration.{secrets.token_hex(4)}@{domain}.example.com"
    body = {
        "username": username,
        "emails": [username],
        "name": {"familyName": "jtel integration"},
        "nickName": username[:40],
        "entitlements": [{"value": profile["Id"]}],
    }
    response = admin.rest(
        "POST",
        SCIM_USERS,
        json=body,
        headers={"auto-approve-user": "true", "Content-Type": "application/json"},
    )
    if response.status_code not in (200, 201):
        raise OrgRequestError(
            admin.redact(
                f"creating the integration user failed: HTTP {response.status_code}: {response.text[:300]}"
            ),
            status=response.status_code,
        )
    user_id = str(response.json()["id"])
    refresh_token = response.headers.get("auto-approve-user", "")
    admin.rest_json(
        "PATCH",
        f"sobjects/User/{user_id}",
        json={
            "Alias": "jtelint",
            "TimeZoneSidKey": settings.time_zone,
            "LocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US",
            "EmailEncodingKey": "UTF-8",
        },
    )
    notes = [f"profile {profile.get('Name')} ({INTEGRATION_LICENCE} licence), time zone {settings.time_zone}"]
    licences = admin.query(
        f"SELECT Id FROM PermissionSetLicense WHERE MasterLabel = {_quote(INTEGRATION_PSL)}"
    )
    if licences:
        admin.rest_json(
            "POST",
            "sobjects/PermissionSetLicenseAssign",
            json={"AssigneeId": user_id, "PermissionSetLicenseId": licences[0]["Id"]},
        )
        notes.append(f"permission set licence {INTEGRATION_PSL} assigned")
    for name in permission_sets:
        notes.append(assign(admin, username, name))
    if not refresh_token:
        raise CheckFailed("the org's user creation answer carried no refresh token for the integration user")
    from .scratch import refresh_token_login

    session = refresh_token_login(
        login_url=admin.instance_url,
        client_id=client_id,
        refresh_token=refresh_token,
        api_version=admin.api_version,
        method="integration-user",
    )
    return IntegrationUser(
        user_id=user_id,
        username=username,
        session=session,
        profile=str(profile.get("Name")),
        permission_sets=permission_sets,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# scrub check
# --------------------------------------------------------------------------------------------

_LEAK_PATTERNS = (
    ("My Domain host", re.compile(r"[A-Za-z0-9-]+\.my\.salesforce\.com")),
    ("org id", re.compile(r"\b00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?\b")),
    ("bearer token", re.compile(r"Bearer [^\"\s]+")),
    ("session id", re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+")),
    ("e-mail address", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
)


def scrub_check(directory: Path, known: dict[str, str]) -> list[str]:
    """Findings (``file: what``) of anything of the org left in a recording: the patterns of
    docs/contract-testing.md step 3, plus the values we know (tokens, org id, host, usernames)."""
    findings: list[str] = []
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(directory)
        for label, pattern in _LEAK_PATTERNS:
            for match in pattern.findall(text):
                if "example.invalid" not in match:
                    findings.append(f"{rel}: {label}")
                    break
        for label, value in known.items():
            if value and len(value) >= 6 and value in text:
                findings.append(f"{rel}: {label}")
    return sorted(set(findings))


# --------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------


@dataclass
class ProveSteps:
    """The parts prove runs, each a plain function (the command wires them up)."""

    create: Callable[[], Any]  # -> CreateResult
    deploy: Callable[[OrgSession], tuple[Any, Any]]  # -> (DeployOutcome, package)
    deploy_lines: Callable[[Any], list[str]]
    make_user: Callable[[OrgSession, str], IntegrationUser]
    contract: Callable[[str], Any]  # alias -> RunReport
    contract_lines: Callable[[Any], list[str]]
    delete: Callable[[Any], str]  # ScratchOrg -> record id
    remember: Callable[[Any, OrgSession], None]  # register the org + routing session
    left_behind: Callable[[], Any] = lambda: None  # ScratchOrg of a create that failed after Active
    record_dir: Path | None = None
    keep: bool = False
    clock: Callable[[], float] = time.monotonic


def prove(steps: ProveSteps, report: ProveReport, on_step: Callable[[Step], None]) -> ProveReport:
    """Run the steps in order; a failing step stops the rest; the org is deleted at the end
    (unless ``keep``), whatever happened. Never raises for a failed step: see ``report.ok``."""
    created: Any = None
    names = [
        "create scratch org",
        "deploy force-app + Apex tests",
        "integration user",
        "contract-test",
        "scrub check",
        "delete scratch org",
    ]
    report.steps = [Step(n) for n in names]
    by_name = {s.name: s for s in report.steps}

    def run(name: str, fn: Callable[[Step], None]) -> bool:
        step = by_name[name]
        started = steps.clock()
        try:
            fn(step)
            if step.result == "not run":
                step.result = "ok"
        except JtelSfError as exc:
            step.result = "failed"
            step.detail.append(f"Error: {exc}")
            if exc.hint:
                step.detail.append(f"Hint: {exc.hint}")
        except Exception as exc:  # a bug must not leave the org behind: report it, go on to delete
            step.result = "failed"
            step.detail.append(f"Error: unexpected {type(exc).__name__}: {exc}")
        finally:
            step.seconds = steps.clock() - started
            on_step(step)
        return step.result in ("ok", "skipped")

    state: dict[str, Any] = {}

    def do_create(step: Step) -> None:
        nonlocal created
        created = steps.create()
        report.org_alias = created.org.alias
        step.detail.append(f"{created.org.alias}: {created.org.username} at {created.org.instance_url}")
        step.detail.append(
            f"expires {created.org.expiration_date or 'unknown'}; settings deployed: "
            f"{', '.join(created.settings_deployed) or 'none'}"
        )

    def do_deploy(step: Step) -> None:
        outcome, _package = steps.deploy(created.session)
        step.detail.extend(steps.deploy_lines(outcome))
        status = outcome.status
        if (
            getattr(outcome, "timed_out", False)
            or not status.succeeded
            or getattr(outcome, "coverage_below", None)
        ):
            step.result = "failed"

    def do_user(step: Step) -> None:
        user = steps.make_user(created.session, created.org.alias)
        state["user"] = user
        step.detail.append(f"{user.username}: " + "; ".join(user.notes))
        steps.remember(created, user.session)

    def do_contract(step: Step) -> None:
        result = steps.contract(created.org.alias)
        state["contract"] = result
        step.detail.extend(steps.contract_lines(result))
        if not result.ok:
            step.result = "failed"

    def do_scrub(step: Step) -> None:
        if steps.record_dir is None:
            step.result = "skipped"
            step.detail.append("no --record DIR given")
            return
        user = state.get("user")
        known = {
            "org id": created.org.org_id,
            "scratch org host": urlparse(created.org.instance_url).hostname or "",
            "admin username": created.org.username,
            "admin access token": _bearer(created.session),
            "integration username": user.username if user else "",
            "integration access token": _bearer(user.session) if user else "",
        }
        findings = scrub_check(steps.record_dir, known)
        if findings:
            step.result = "failed"
            step.detail.extend(f"left in the recording: {f}" for f in findings)
        else:
            step.detail.append(
                f"{steps.record_dir}: clean (no host, org id, token, e-mail or username of the org)"
            )

    def do_delete(step: Step) -> None:
        org = created.org if created is not None else steps.left_behind()
        if org is None:
            step.result = "skipped"
            step.detail.append("no org was created")
            return
        if steps.keep:
            step.result = "skipped"
            step.detail.append(f"--keep: {org.alias} stays; delete it with `jtel-sf org delete {org.alias}`")
            return
        record_id = steps.delete(org)
        step.detail.append(f"ActiveScratchOrg {record_id} deleted")

    ok = run("create scratch org", do_create)
    for name, fn in (
        ("deploy force-app + Apex tests", do_deploy),
        ("integration user", do_user),
        ("contract-test", do_contract),
        ("scrub check", do_scrub),
    ):
        if ok:
            ok = run(name, fn)
        else:
            by_name[name].result = "skipped"
            by_name[name].detail.append("an earlier step failed")
    run("delete scratch org", do_delete)
    return report
