"""Scratch orgs from a Dev Hub with plain REST, doing what Salesforce's own sfdx-core does.

Read from forcedotcom/sfdx-core (commit cd4bdcb9, 2026-08-07); each step names its source. Line
numbers at that commit: ``src/org/scratchOrgInfoApi.ts`` getOrgInstanceAuthority 58,
buildOAuth2Options 86, authorizeScratchOrg 210, requestScratchOrgCreation 326,
pollForScratchOrgInfo 381, deploySettings 449, resolveUrl 479; ``scratchOrgCreate.ts``
DEFAULT_STREAM_TIMEOUT_MINUTES 45, validateDuration 95, scratchOrgCreate 215;
``scratchOrgErrorCodes.ts`` checkScratchOrgInfoForErrors 130; ``org.ts`` destroyScratchOrg 1438,
deleteScratchOrg 1506; ``authInfo.ts`` DEFAULT_CONNECTED_APP_INFO 199, getRedirectUri 737, authJwt
1065, exchangeToken 1198; ``util/sfdcUrl.ts`` getLoginAudienceCombos 25.

1. Insert a ``ScratchOrgInfo`` on the Dev Hub (``scratchOrgInfoApi.ts`` ``requestScratchOrgCreation``:
   ``sobject('ScratchOrgInfo').create``; a ``REQUIRED_FIELD_MISSING`` answer is
   "Required fields are missing for org creation"). The body comes from ``scratch_def``.
2. Poll it (``pollForScratchOrgInfo``: ``retrieve(id)`` every second, done at ``Active`` or
   ``Error``; a failed poll is retried until the wait is over). Statuses (``scratchOrgTypes.ts``):
   New, Creating, Active, Error, Deleted.
3. An ``Error`` becomes the message of its ``ErrorCode`` (``scratchOrgErrorCodes.ts``
   ``checkScratchOrgInfoForErrors`` with ``messages/scratchOrgErrorCodes.md``, copied into
   ``scratch_errors.json``), plus the link to the error code page.
4. Log in to the new org (``authorizeScratchOrg`` / ``buildOAuth2Options``): with JWT when the
   Dev Hub was reached with a private key (same client id and key, the new org's
   ``SignupUsername``; the audience is tried as ``authInfo.ts`` ``authJwt`` does through
   ``getLoginAudienceCombos``, test.salesforce.com first for a scratch org), otherwise the one-time
   ``AuthCode`` is exchanged (``grant_type=authorization_code``, ``client_id`` =
   ``ConnectedAppConsumerKey``, ``redirect_uri`` = ``ConnectedAppCallbackUrl``) at the org's
   authority: ``https://<SignupInstance>.salesforce.com`` unless the instance name ends in ``s``,
   else ``LoginUrl`` (``getOrgInstanceAuthority``), and once more at ``LoginUrl`` if that fails.
5. Deploy the definition's ``settings`` (``deploySettings``: a Metadata API deploy; a failure is
   "A scratch org was created with username X, but the settings failed to deploy").
6. Delete (``org.ts`` ``deleteScratchOrg``): ``SELECT Id FROM ActiveScratchOrg WHERE
   SignupUsername = '<username>'`` on the Dev Hub, then delete that record; no record is
   "Attempting to delete an expired or deleted org"; ``INVALID_TYPE`` /
   ``INSUFFICIENT_ACCESS_OR_READONLY`` is "You do not have the appropriate permissions".
   When the username finds nothing, the record is also looked up by ``ScratchOrg`` = the org id's
   first 15 characters (how ``org.ts`` checks a scratch org against its Dev Hub).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from ..auth import HTTP_TIMEOUT, TOKEN_PATH, AuthOptions, OrgRequestError, OrgSession, _redact, connect
from ..errors import AuthError, CheckFailed, JtelSfError, TimeoutExceeded, UsageError
from .scratch_def import ScratchDefinition, scratch_org_info, settings_package

DONE_STATUSES = ("Active", "Error")
SANDBOX_LOGIN = "https://test.salesforce.com"
PRODUCTION_LOGIN = "https://login.salesforce.com"
HEARTBEAT_SECONDS = 30.0  # show the status at least this often while it does not change
ERROR_CODES_FILE = Path(__file__).with_name("scratch_errors.json")


class ScratchOrgFailed(JtelSfError):
    """The Dev Hub reported the signup as failed (exit 1)."""


@cache
def _error_codes() -> dict[str, Any]:
    return dict(json.loads(ERROR_CODES_FILE.read_text(encoding="utf-8")))


@dataclass
class ScratchOrg:
    """What jtel-sf keeps about one of its scratch orgs. No secret: tokens never go in here."""

    alias: str
    username: str
    org_id: str
    instance_url: str
    login_url: str
    dev_hub_username: str
    dev_hub_instance_url: str
    scratch_org_info_id: str
    expiration_date: str = ""
    created: str = ""
    edition: str = ""
    # how to log in again: {"method": "jwt", "clientId", "keyFile"} or {"method": "refresh-token"}
    login: dict[str, str] = field(default_factory=dict)
    # how the Dev Hub was reached, without secrets (jwt: client id, key file, username, login domain)
    dev_hub_login: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScratchOrg:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def error_message(code: str, project_file: str = "sfdx-project.json") -> tuple[str, str]:
    """(message, what to do) for a ScratchOrgInfo ErrorCode, as sfdx-core words them."""
    table = _error_codes()
    message = table["codes"].get(code)
    action = table["actions"].get(code, "")
    link = f"See {table['docs']} for error code {code}."
    if message is None:
        return f"The request to create a scratch org failed with error code: {code}.", link
    return message.replace("%s", project_file), (action + " " + link).strip()


# --------------------------------------------------------------------------------------------
# Dev Hub side
# --------------------------------------------------------------------------------------------


def hub_identity(hub: OrgSession) -> tuple[str, str]:
    """(username, org id) of the Dev Hub user, from ``/services/oauth2/userinfo``."""
    try:
        info = hub.rest_json("GET", "/services/oauth2/userinfo") or {}
    except OrgRequestError:  # a token without the openid/id scope: the org id is enough
        records = hub.query("SELECT Id FROM Organization LIMIT 1")
        return "", str(records[0]["Id"]) if records else ""
    return str(info.get("preferred_username") or info.get("username") or ""), str(
        info.get("organization_id") or ""
    )


ALLOCATIONS = (("ActiveScratchOrgs", "active"), ("DailyScratchOrgs", "daily"))


def allocation(hub: OrgSession) -> dict[str, tuple[int, int]]:
    """The Dev Hub's scratch org allocation, {"active"|"daily": (remaining, max)}, from the REST
    ``limits`` resource (REST API Developer Guide, "List Org Limits": ``ActiveScratchOrgs`` and
    ``DailyScratchOrgs``, each ``Max`` and ``Remaining``). Empty when the user may not read limits
    (it needs View Setup and Configuration)."""
    try:
        limits = hub.rest_json("GET", "limits") or {}
    except OrgRequestError:
        return {}
    found: dict[str, tuple[int, int]] = {}
    for key, name in ALLOCATIONS:
        entry = limits.get(key)
        if isinstance(entry, dict) and "Remaining" in entry:
            found[name] = (int(entry["Remaining"]), int(entry.get("Max") or 0))
    return found


def check_allocation(found: dict[str, tuple[int, int]]) -> None:
    for name, (remaining, maximum) in found.items():
        if remaining <= 0:
            raise ScratchOrgFailed(
                f"the Dev Hub has no {name} scratch org left (0 of {maximum})",
                hint="Delete a scratch org you no longer need (jtel-sf org list / org delete NAME)"
                if name == "active"
                else "The daily allocation renews over the next 24 hours; try again later.",
            )


def request_scratch_org(hub: OrgSession, body: dict[str, Any]) -> str:
    """Insert the ScratchOrgInfo; return its id."""
    response = hub.rest("POST", "sobjects/ScratchOrgInfo", json=body)
    if response.status_code >= 300:
        errors = _errors(response)
        codes = {e.get("errorCode") for e in errors}
        if "REQUIRED_FIELD_MISSING" in codes:
            missing = sorted({f for e in errors for f in e.get("fields") or []})
            raise UsageError(f"Required fields are missing for org creation: [{', '.join(missing)}]")
        if "INVALID_TYPE" in codes or "NOT_FOUND" in codes:
            raise UsageError(
                "the Dev Hub org does not know ScratchOrgInfo: it is not enabled as a Dev Hub",
                hint="Open the org, go to Setup > Dev Hub and click Enable; then log in to it again.",
            )
        raise OrgRequestError(
            hub.redact(
                f"creating the ScratchOrgInfo failed: HTTP {response.status_code}: {_describe(errors)}"
            ),
            status=response.status_code,
        )
    return str(response.json()["id"])


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def _describe(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('errorCode', '')}: {e.get('message', '')}" for e in errors) or "no details"


def poll_scratch_org(
    hub: OrgSession,
    info_id: str,
    *,
    wait_minutes: float,
    poll_interval: float,
    on_status: Callable[[str, float], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the ScratchOrgInfo until Active or Error (or the wait is over)."""
    started = clock()
    deadline = started + wait_minutes * 60
    last_status = ""
    last_shown = started
    while True:
        try:
            record = hub.rest_json("GET", f"sobjects/ScratchOrgInfo/{info_id}") or {}
            status = str(record.get("Status") or "")
        except OrgRequestError:
            record, status = {}, last_status  # sfdx-core: "Re-trying deploy check again...."
        now = clock()
        if status != last_status or status in DONE_STATUSES or now - last_shown >= HEARTBEAT_SECONDS:
            on_status(status or "?", now - started)
            last_status, last_shown = status, now
        if status in DONE_STATUSES:
            return record
        if status == "Deleted":
            raise ScratchOrgFailed(f"ScratchOrgInfo {info_id} was deleted while it was being created")
        if clock() >= deadline:
            raise TimeoutExceeded(
                f"The scratch org did not complete within {wait_minutes:g} minutes "
                f"(ScratchOrgInfo {info_id}, last status {last_status or 'unknown'})",
                hint="Run again with a longer --wait; the request may still complete in the Dev Hub "
                "(App Launcher > Scratch Org Infos), where it can also be deleted.",
            )
        sleep(max(0.0, min(poll_interval, deadline - clock())))


def check_outcome(record: dict[str, Any], hub_username: str) -> None:
    """Raise for an Error outcome with Salesforce's error code and what to do."""
    if record.get("Status") == "Active":
        return
    code = str(record.get("ErrorCode") or "")
    if code:
        message, action = error_message(code)
        raise ScratchOrgFailed(f"scratch org signup failed with {code}: {message}", hint=action)
    raise ScratchOrgFailed(
        "An unknown server error occurred. Please try again. If you still see this error, contact "
        f"Salesforce support with ScratchOrgInfo {record.get('Id')} of Dev Hub user {hub_username}."
    )


def org_authority(record: dict[str, Any], hub_login_url: str) -> str:
    """scratchOrgInfoApi.ts getOrgInstanceAuthority."""
    instance = str(record.get("SignupInstance") or "")
    if instance == "utf8":
        return hub_login_url
    if instance and not instance.lower().endswith("s"):
        return f"https://{instance}.salesforce.com"
    return str(record.get("LoginUrl") or hub_login_url)


# --------------------------------------------------------------------------------------------
# Logging in to the new org
# --------------------------------------------------------------------------------------------


def jwt_login(
    *, login_url: str, client_id: str, key_file: str, username: str, api_version: str
) -> OrgSession:
    """JWT bearer into a scratch org: (login URL, test audience), then the sandbox and production
    login hosts (a reduced ``getLoginAudienceCombos``). The first refusal is the one reported."""
    attempts = [
        (login_url, "test"),
        (SANDBOX_LOGIN, "test"),
        (login_url, "login"),
        (PRODUCTION_LOGIN, "login"),
    ]
    first: AuthError | None = None
    seen: set[tuple[str, str]] = set()
    for url, audience in attempts:
        if (url, audience) in seen:
            continue
        seen.add((url, audience))
        options = AuthOptions(
            instance_url=url,
            client_id=client_id,
            jwt_key_file=key_file,
            username=username,
            login_domain=audience,
            api_version=api_version,
        )
        try:
            return connect(options)
        except AuthError as exc:
            first = first or exc
    assert first is not None
    raise first


def _token_post(url: str, data: dict[str, str], secrets: list[str]) -> dict[str, Any]:
    try:
        response = requests.post(url, data=data, headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise AuthError(f"cannot reach {urlparse(url).netloc} ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        code = str(body.get("error") or f"HTTP {response.status_code}") if isinstance(body, dict) else ""
        detail = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        raise AuthError(_redact(f"{code}" + (f" ({detail})" if detail else ""), secrets))
    return body


def refresh_token_login(
    *, login_url: str, client_id: str, refresh_token: str, api_version: str, method: str = "refresh-token"
) -> OrgSession:
    """An OrgSession on a refresh token (``grant_type=refresh_token``), renewable the same way."""

    def renew() -> tuple[str, str]:
        body = _token_post(
            login_url.rstrip("/") + TOKEN_PATH,
            {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
            [refresh_token],
        )
        return str(body["access_token"]), str(body.get("instance_url") or login_url)

    try:
        token, instance = renew()
    except AuthError as exc:
        raise AuthError(f"refreshing the scratch org's session failed: {exc}") from None
    return OrgSession(
        instance_url=instance,
        access_token=token,
        api_version=api_version,
        method=method,
        refresher=renew,
        secrets=[refresh_token],
    )


def exchange_auth_code(record: dict[str, Any], authority: str, api_version: str) -> tuple[OrgSession, str]:
    """Exchange the one-time AuthCode (``AuthInfo.exchangeToken``); returns the session and the
    refresh token (kept in memory or the keyring by the caller, never on disk)."""
    code = str(record.get("AuthCode") or "")
    if not code:
        raise AuthError(
            "the Dev Hub returned no AuthCode for the new org, and the Dev Hub was not reached with JWT"
        )
    client_id = str(record.get("ConnectedAppConsumerKey") or "PlatformCLI")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": str(record.get("ConnectedAppCallbackUrl") or ""),
    }
    urls = [authority]
    if record.get("LoginUrl") and record["LoginUrl"] != authority:
        urls.append(str(record["LoginUrl"]))  # authorizeScratchOrg retries at LoginUrl
    first: AuthError | None = None
    for url in urls:
        try:
            body = _token_post(url.rstrip("/") + TOKEN_PATH, data, [code])
            break
        except AuthError as exc:
            first = first or exc
    else:
        assert first is not None
        raise AuthError(
            f"Error authenticating with auth code due to: {first}",
            hint="An AuthCode works once and only for a few minutes: if this org was already logged in "
            "to, or the code expired, delete the org (jtel-sf org delete) and create a new one; reach the "
            "Dev Hub with JWT (--dev-hub-client-id/--dev-hub-jwt-key-file) to log in without an AuthCode.",
        )
    refresh = str(body.get("refresh_token") or "")
    instance = str(body.get("instance_url") or authority)
    login_url = authority
    if refresh:

        def renew() -> tuple[str, str]:
            answer = _token_post(
                login_url.rstrip("/") + TOKEN_PATH,
                {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh},
                [refresh],
            )
            return str(answer["access_token"]), str(answer.get("instance_url") or instance)

        refresher: Callable[[], tuple[str, str]] | None = renew
    else:
        refresher = None
    session = OrgSession(
        instance_url=instance,
        access_token=str(body["access_token"]),
        api_version=api_version,
        method="auth-code",
        refresher=refresher,
        secrets=[s for s in (refresh, code) if s],
    )
    return session, refresh


def resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def wait_for_dns(
    url: str,
    *,
    on_status: Callable[[str, float], None],
    timeout: float = 180.0,
    every: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until the new org's My Domain host resolves: ``scratchOrgInfoApi.ts`` ``resolveUrl``
    (``MyDomainResolver``: up to 3 minutes, every 10 seconds), since a fresh My Domain takes a while
    to reach DNS. Gives up with TimeoutExceeded."""
    host = urlparse(url).hostname or ""
    started = clock()
    while not resolves(host):
        if clock() - started >= timeout:
            raise TimeoutExceeded(
                f"the new org's host {host} did not resolve within {timeout / 60:g} minutes",
                hint="The org exists; try `jtel-sf deploy -o ALIAS` in a few minutes, or delete it.",
            )
        on_status(f"waiting for {host} to resolve", clock() - started)
        sleep(every)


# --------------------------------------------------------------------------------------------
# The whole create
# --------------------------------------------------------------------------------------------


@dataclass
class CreateResult:
    org: ScratchOrg
    session: OrgSession
    refresh_token: str = field(default="", repr=False)
    settings_deployed: list[str] = field(default_factory=list)
    seconds: float = 0.0


SettingsDeployer = Callable[[OrgSession, Any], Any]


def create_scratch_org(
    hub: OrgSession,
    hub_auth: AuthOptions,
    definition: ScratchDefinition,
    *,
    alias: str,
    days: int,
    wait_minutes: float,
    poll_interval: float,
    on_status: Callable[[str, float], None],
    deploy_settings: SettingsDeployer,
    on_active: Callable[[ScratchOrg], None] = lambda _org: None,
    on_login: Callable[[CreateResult], None] = lambda _result: None,
    signup_app: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CreateResult:
    """The whole create. ``signup_app`` names the connected app the new org is signed up with
    (sfdx-core's ``SF_SCRATCH_SIGNUP_CONNECTED_APP``): then the AuthCode is exchanged even when the
    Dev Hub was reached with JWT (``buildOAuth2Options``: ``isJwtFlow = !signupAppOverridden && ...``),
    the workaround for C-1016 when the Dev Hub's app is an External Client App.

    ``on_active`` gets the org's facts as soon as the Dev Hub reports it Active (so a failure after
    that, in the login or the settings deploy, leaves an org the caller can still delete);
    ``on_login`` gets the result once the session exists, before the settings deploy."""
    started = clock()
    hub_username, _hub_org_id = hub_identity(hub)
    found = allocation(hub)
    if found:
        on_status(
            "Dev Hub allocation: " + ", ".join(f"{n} {r} of {m} left" for n, (r, m) in found.items()), 0.0
        )
    check_allocation(found)
    use_jwt = not signup_app and bool(
        hub_auth.client_id and hub_auth.jwt_key_file and hub.method == "jwt-bearer"
    )
    body = scratch_org_info(
        definition, days=days, consumer_key=signup_app or (hub_auth.client_id if use_jwt else None)
    )
    info_id = request_scratch_org(hub, body)
    on_status(f"requested (ScratchOrgInfo {info_id})", 0.0)
    record = poll_scratch_org(
        hub,
        info_id,
        wait_minutes=wait_minutes,
        poll_interval=poll_interval,
        on_status=on_status,
        clock=clock,
        sleep=sleep,
    )
    check_outcome(record, hub_username)
    username = str(record.get("SignupUsername") or record.get("Username") or "")
    hub_login = hub_auth.instance_url or f"https://{hub_auth.login_domain or 'login'}.salesforce.com"
    authority = org_authority(record, hub_login)
    org = ScratchOrg(
        alias=alias,
        username=username,
        org_id=str(record.get("ScratchOrg") or ""),
        instance_url=str(record.get("LoginUrl") or authority),
        login_url=authority,
        dev_hub_username=hub_username,
        dev_hub_instance_url=hub.instance_url,
        scratch_org_info_id=info_id,
        expiration_date=str(record.get("ExpirationDate") or ""),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        edition=str(record.get("Edition") or definition.edition),
        dev_hub_login=dev_hub_login_facts(hub, hub_auth),
    )
    # the org exists from here on: whatever fails next, the caller can still delete it
    on_active(org)
    refresh = ""
    if use_jwt:
        session = jwt_login(
            login_url=authority,
            client_id=str(hub_auth.client_id),
            key_file=str(Path(str(hub_auth.jwt_key_file)).resolve()),
            username=username,
            api_version=hub.api_version,
        )
        login = {
            "method": "jwt",
            "clientId": str(hub_auth.client_id),
            "keyFile": str(Path(str(hub_auth.jwt_key_file)).resolve()),
        }
    else:
        session, refresh = exchange_auth_code(record, authority, hub.api_version)
        login = {
            "method": "refresh-token",
            "clientId": str(record.get("ConnectedAppConsumerKey") or "PlatformCLI"),
        }
    org.instance_url = session.instance_url
    org.login = login
    result = CreateResult(org=org, session=session, refresh_token=refresh)
    on_login(result)
    wait_for_dns(session.instance_url, on_status=on_status, clock=clock, sleep=sleep)
    package = settings_package(definition, session.api_version)
    if package is not None:
        on_status("deploying settings", clock() - started)
        outcome = deploy_settings(session, package)
        status = outcome.status
        if not status.succeeded:
            failures = (
                "; ".join(
                    f"[{f.problem_type}] {f.full_name} : {f.problem}" for f in status.component_failures
                )
                or status.error_message
                or status.status
            )
            raise CheckFailed(
                f"A scratch org was created with username {username}, "
                f"but the settings failed to deploy due to: "
                f"{failures}",
                hint=f"Fix the settings in {definition.path}; the org exists: delete it with "
                f"`jtel-sf org delete {alias}`.",
            )
        result.settings_deployed = [c.name for c in package.components]
    result.seconds = clock() - started
    return result


def dev_hub_login_facts(hub: OrgSession, hub_auth: AuthOptions) -> dict[str, str]:
    """How to reach the Dev Hub again without asking, when that needs no secret (JWT)."""
    if hub.method == "jwt-bearer" and hub_auth.client_id and hub_auth.jwt_key_file and hub_auth.username:
        return {
            "method": "jwt",
            "clientId": hub_auth.client_id,
            "keyFile": str(Path(hub_auth.jwt_key_file).resolve()),
            "username": hub_auth.username,
            "loginDomain": hub_auth.login_domain,
            "instanceUrl": hub_auth.instance_url or "",
        }
    if hub.method == "sf-cli" and hub_auth.target_org:
        return {"method": "sf-cli", "targetOrg": hub_auth.target_org}
    return {"method": hub.method}


def dev_hub_options_from_facts(facts: dict[str, str], api_version: str | None) -> AuthOptions | None:
    if facts.get("method") == "jwt":
        return AuthOptions(
            instance_url=facts.get("instanceUrl") or None,
            client_id=facts["clientId"],
            jwt_key_file=facts["keyFile"],
            username=facts["username"],
            login_domain=facts.get("loginDomain") or "login",
            api_version=api_version,
        )
    if facts.get("method") == "sf-cli":
        return AuthOptions(target_org=facts["targetOrg"], api_version=api_version)
    return None


def delete_scratch_org(hub: OrgSession, org: ScratchOrg) -> str:
    """Delete the org's ActiveScratchOrg record on the Dev Hub; returns the deleted record id."""
    if org.org_id and hub_identity(hub)[1][:15] == org.org_id[:15]:
        raise UsageError("The Dev Hub org cannot be deleted.")
    username = org.username.replace("\\", "\\\\").replace("'", "\\'")
    try:
        records = hub.query(f"SELECT Id FROM ActiveScratchOrg WHERE SignupUsername = '{username}'")
        if not records and org.org_id:
            records = hub.query(f"SELECT Id FROM ActiveScratchOrg WHERE ScratchOrg = '{org.org_id[:15]}'")
    except OrgRequestError as exc:
        if "INVALID_TYPE" in str(exc):
            raise UsageError(
                "You do not have the appropriate permissions to delete a scratch org "
                "(the Dev Hub user cannot read ActiveScratchOrg). Please contact your Salesforce admin."
            ) from None
        raise
    if not records:
        raise ScratchOrgFailed(
            f"Attempting to delete an expired or deleted org ({org.alias}, {org.username})",
            hint=f"It is gone from the Dev Hub already; `jtel-sf org delete {org.alias} --forget` "
            "drops it from jtel-sf's list.",
        )
    record_id = str(records[0]["Id"])
    response = hub.rest("DELETE", f"sobjects/ActiveScratchOrg/{record_id}")
    if response.status_code >= 300:
        errors = _errors(response)
        codes = {e.get("errorCode") for e in errors}
        if codes & {"INVALID_TYPE", "INSUFFICIENT_ACCESS_OR_READONLY"}:
            raise UsageError(
                "You do not have the appropriate permissions to delete a scratch org. "
                "Please contact your Salesforce admin."
            )
        raise OrgRequestError(
            hub.redact(f"deleting ActiveScratchOrg {record_id} failed: {_describe(errors)}"),
            status=response.status_code,
        )
    return record_id
