"""``jtel-sf doctor``: is the org ready for jtel? A checklist, each line passed, failed, a warning,
skipped (not asked for) or not run (it was tried and could not run: the line names the real cause:
network, TLS, permission, missing feature). A check never passes for an org it did not reach.
Every check is a plain function of a ``DoctorContext``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..auth import HTTP_TIMEOUT, TOKEN_PATH, OrgRequestError, OrgSession, unreachable
from ..contract import load_records
from ..errors import AuthError, OrgUnreachable, UsageError
from ..settings import Settings, validate
from .permsets import find_user, integration_permission_sets, missing_assignments
from .soql import quote

PASS, FAIL, WARN, SKIP, NOT_RUN = "pass", "fail", "warn", "skip", "not-run"
QUARANTINE_OBJECT = "JtelQuarantine__c"
JTEL_OBJECTS = ("JtelCall__c", "JtelCallRow__c", "JtelQuarantine__c")
# Salesforce Help, "Data and File Storage Allocations": most records count 2 KB of data storage.
RECORD_STORAGE_KB = 2
# JtelRetentionSchedule.JOB_NAME in force-app (tests/test_storage.py keeps the two equal)
RETENTION_JOB_NAME = "jtel retention"
RETENTION_SCHEDULE_LINE = (
    "System.schedule(JtelRetentionSchedule.JOB_NAME, JtelRetentionSchedule.DAILY_AT_3,"
    " new JtelRetentionSchedule());"
)
# CronTrigger.State values that mean the job will run again (Object Reference, CronTrigger)
_LIVE_CRON_STATES = frozenset({"WAITING", "ACQUIRED", "EXECUTING"})
INTEGRATION_LICENSE = "Salesforce Integration"
INTEGRATION_PROFILE = "Minimum Access - API Only Integrations"
SETTINGS_TYPE = "JtelSettings__mdt"
SETTINGS_RECORD = "Default"
ECA_TYPE = "ExternalClientApplication"
FALLBACK_ENDPOINT_CLASS = "JtelCallStatisticsResource"
_REST_RESOURCE = re.compile(r"@RestResource\s*\(\s*urlMapping\s*=\s*'([^']*)'", re.I)
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MD_NS = "{http://soap.sforce.com/2006/04/metadata}"


@dataclass
class CheckResult:
    status: str  # pass | fail | warn
    detail: str
    fix: str = ""
    name: str = ""  # set by run_doctor from CHECKS


@dataclass
class DoctorContext:
    """What the checks share: the org, local settings, and what earlier checks learned."""

    org: OrgSession
    settings: Settings
    source_dir: Path
    integration_user: str | None = None
    org_settings: dict[str, Any] = field(default_factory=dict)  # Settings keys read from the CMDT record
    jtel_client_id: str | None = None  # the External Client App's consumer key, as configured in jtel
    jtel_client_secret: str | None = field(default=None, repr=False)
    jtel_token: str | None = field(default=None, repr=False)  # set by the client-credentials check
    jtel_token_user_id: str | None = None


def camel_to_key(field_name: str) -> str:
    """``RetryHttpStatus__c`` -> ``retry_http_status`` (CMDT field -> settings key)."""
    base = field_name.removesuffix("__c")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()


def endpoint_class(source_dir: Path, settings: Settings) -> str:
    """The Apex class whose @RestResource urlMapping is the configured URL path (from the source)."""
    wanted = "/" + settings.url_path
    for path in sorted(source_dir.glob("**/classes/*.cls")):
        match = _REST_RESOURCE.search(path.read_text(encoding="utf-8", errors="replace"))
        if match and match.group(1) == wanted:
            return path.stem
    return FALLBACK_ENDPOINT_CLASS


def check_api(ctx: DoctorContext) -> CheckResult:
    versions = ctx.org.rest_json("GET", "/services/data/")
    offered = [str(v.get("version")) for v in versions if isinstance(v, dict)]
    latest = max(offered, key=float) if offered else "?"
    if ctx.org.api_version not in offered:
        return CheckResult(
            FAIL,
            f"{ctx.org.instance_url} answers (latest API {latest}) "
            f"but does not offer API {ctx.org.api_version}",
            f"Leave --api-version out (the org's newest is used) or pass one of {', '.join(offered[-3:])}.",
        )
    ctx.org.rest_json("GET", "limits")  # a call that needs the session: proves it is accepted
    return CheckResult(PASS, f"{ctx.org.instance_url}: API {ctx.org.api_version} (latest {latest})")


def check_endpoint_class(ctx: DoctorContext) -> CheckResult:
    name = endpoint_class(ctx.source_dir, ctx.settings)
    records = ctx.org.query(
        f"SELECT Name, Status, IsValid, ApiVersion FROM ApexClass WHERE Name = {quote(name)}", tooling=True
    )
    fix = "Run `jtel-sf deploy` (the endpoint class and its tests are in force-app)."
    if not records:
        return CheckResult(FAIL, f"Apex class {name} is not in the org", fix)
    record = records[0]
    if record.get("Status") != "Active":
        return CheckResult(FAIL, f"{name} is {record.get('Status')}, not Active", fix)
    note = "" if record.get("IsValid", True) else " (marked invalid: recompile it)"
    return CheckResult(
        PASS if not note else WARN,
        f"{name} Active, API {record.get('ApiVersion')}, "
        f"serving /services/apexrest/{ctx.settings.url_path}{note}",
        "" if not note else "Setup > Apex Classes > Compile all classes.",
    )


def check_settings_record(ctx: DoctorContext) -> CheckResult:
    name = f"{SETTINGS_TYPE.removesuffix('__mdt')}.{SETTINGS_RECORD}"
    fix = "Run `jtel-sf generate` and `jtel-sf deploy` (the record is force-app/**/customMetadata)."
    try:
        describe = ctx.org.rest_json("GET", f"sobjects/{SETTINGS_TYPE}/describe")
    except OrgRequestError as exc:
        if exc.status == 404:
            return CheckResult(FAIL, f"the custom metadata type {SETTINGS_TYPE} is not in the org", fix)
        raise
    known = {f.name for f in dataclasses.fields(Settings)}
    fields = sorted(f["name"] for f in describe.get("fields", []) if camel_to_key(f["name"]) in known)
    soql = (
        f"SELECT {', '.join(['DeveloperName', *fields])} FROM {SETTINGS_TYPE} "
        f"WHERE DeveloperName = {quote(SETTINGS_RECORD)}"
    )
    records = ctx.org.query(soql)
    if not records:
        return CheckResult(FAIL, f"{name} is missing", fix)
    values: dict[str, Any] = {}
    for field_name in fields:
        key = camel_to_key(field_name)
        value = records[0].get(field_name)
        if value is None or value == "":
            continue  # empty: the endpoint uses the built-in default
        default = getattr(Settings(), key)
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            value = int(value) if value.is_integer() else value
        values[key] = value
    ctx.org_settings = values
    try:
        validate(dataclasses.replace(ctx.settings, **values), source=name)
    except UsageError as exc:
        return CheckResult(FAIL, str(exc), exc.hint or "Correct the value in Setup > Custom Metadata Types.")
    differing = sorted(k for k, v in values.items() if getattr(ctx.settings, k) != v)
    detail = f"{name} present and valid ({len(values)} values set)"
    if differing:
        return CheckResult(
            WARN,
            detail + f"; differs from the local settings in {', '.join(differing)}",
            "Run `jtel-sf generate` and `jtel-sf deploy` if the local settings are the intended ones.",
        )
    return CheckResult(PASS, detail)


def check_permission_sets(ctx: DoctorContext) -> CheckResult:
    names = integration_permission_sets(ctx.settings)
    if not ctx.integration_user:
        sets = ctx.org.query(
            f"SELECT Id, Name FROM PermissionSet WHERE Name IN ({', '.join(quote(n) for n in names)})"
        )
        absent = [n for n in names if n not in {r.get("Name") for r in sets}]
        if absent:
            return CheckResult(FAIL, f"{', '.join(absent)} not in the org", "Run `jtel-sf deploy`.")
        return CheckResult(
            WARN,
            f"{', '.join(names)} present; assignment not checked",
            "Pass --integration-user USERNAME (the External Client App's run-as user) to check it.",
        )
    user = find_user(ctx.org, ctx.integration_user)
    if user is None:
        return CheckResult(FAIL, f"no user {ctx.integration_user}", "Check --integration-user.")
    absent, unassigned = missing_assignments(ctx.org, user, names)
    if absent:
        return CheckResult(FAIL, f"{', '.join(absent)} not in the org", "Run `jtel-sf deploy`.")
    if unassigned:
        return CheckResult(
            FAIL,
            f"{', '.join(unassigned)} not assigned to {ctx.integration_user}",
            f"Run `jtel-sf deploy --assign-permset {ctx.integration_user}` "
            "(assigns every one, idempotently).",
        )
    return CheckResult(PASS, f"{', '.join(names)} assigned to {ctx.integration_user}")


def check_integration_user(ctx: DoctorContext) -> CheckResult:
    """Licence and profile (Salesforce Help, "Give Integration Users API Only Access")."""
    if not ctx.integration_user:
        return CheckResult(SKIP, "not asked for", "Pass --integration-user USERNAME.")
    user = find_user(ctx.org, ctx.integration_user)
    if user is None:
        return CheckResult(
            FAIL, f"no user {ctx.integration_user}", "Create it: docs/admin-setup.md section 4."
        )
    if not user.active:
        return CheckResult(FAIL, f"{ctx.integration_user} is inactive", "Activate the user.")
    profile = user.record.get("Profile") or {}
    licence = (profile.get("UserLicense") or {}).get("Name") or "?"
    detail = f"{ctx.integration_user}: active, licence {licence}, profile {profile.get('Name') or '?'}"
    if licence != INTEGRATION_LICENSE:
        # licence and profile names can be translated in orgs whose language is not English: a warning
        return CheckResult(
            WARN,
            detail,
            f"Salesforce recommends the {INTEGRATION_LICENSE} licence with the profile "
            f"'{INTEGRATION_PROFILE}' for an integration user (names shown in the org's language).",
        )
    return CheckResult(PASS, detail)


def check_client_credentials(ctx: DoctorContext) -> CheckResult:
    """The token call exactly as jtel makes it: POST <My Domain>/services/oauth2/token,
    grant_type=client_credentials with the External Client App's consumer key and secret."""
    if not (ctx.jtel_client_id and ctx.jtel_client_secret):
        return CheckResult(
            SKIP,
            "not asked for",
            "Pass --jtel-client-id/--jtel-client-secret (or JTEL_CLIENT_ID/JTEL_CLIENT_SECRET): "
            "the consumer key "
            "and secret configured in jtel.",
        )
    url = ctx.org.instance_url + TOKEN_PATH
    data = {
        "grant_type": "client_credentials",
        "client_id": ctx.jtel_client_id,
        "client_secret": ctx.jtel_client_secret,
    }
    try:
        response = requests.post(url, data=data, headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise unreachable(url, exc, [ctx.jtel_client_secret]) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        code = str(body.get("error") or f"HTTP {response.status_code}")
        description = str(body.get("error_description") or "")
        fix = {
            "invalid_grant": "In the External Client App's policies: enable the Client Credentials Flow "
            "and set "
            "its Run As user to the integration user (docs/admin-setup.md section 7).",
            "invalid_client": "Copy the consumer key and secret again; a new app can take minutes to work.",
            "invalid_client_id": "Copy the consumer key again.",
            "unsupported_grant_type": "Use the My Domain URL, and enable the client credentials flow.",
        }.get(code, "See docs/admin-setup.md section 14.")
        return CheckResult(
            FAIL, f"the org refused jtel's token request: {code} ({description})".replace(" ()", ""), fix
        )
    ctx.jtel_token = str(body["access_token"])
    identity = str(body.get("id") or "")
    ctx.jtel_token_user_id = identity.rsplit("/", 1)[-1] if identity else None
    detail = "token issued"
    if ctx.integration_user and ctx.jtel_token_user_id:
        user = find_user(ctx.org, ctx.integration_user)
        if user is not None and user.id[:15] != ctx.jtel_token_user_id[:15]:
            return CheckResult(
                FAIL,
                f"token issued for user {ctx.jtel_token_user_id}, not for {ctx.integration_user}",
                "Set the app's Run As user to the integration user.",
            )
        detail += f" for {ctx.integration_user}"
    return CheckResult(PASS, detail)


def check_endpoint_answers(ctx: DoctorContext) -> CheckResult:
    """The endpoint, called with jtel's token, with a request that stores nothing: a GET, which the
    resource does not define (Apex REST answers 405 for a method the class has no handler for)."""
    if ctx.jtel_token is None:
        return CheckResult(SKIP, "needs the client-credentials token (see the check above)")
    url = f"{ctx.org.instance_url}/services/apexrest/{ctx.settings.url_path}"
    try:
        response = requests.get(
            url, headers={"Authorization": f"Bearer {ctx.jtel_token}"}, timeout=HTTP_TIMEOUT
        )
    except requests.RequestException as exc:
        raise unreachable(url, exc) from None
    if response.status_code == 405:
        return CheckResult(
            PASS,
            f"GET /services/apexrest/{ctx.settings.url_path} answered 405 as expected "
            "(the class is reachable for jtel's user; nothing stored)",
        )
    text = response.text[:200]
    fixes = {
        401: "The token was refused: check the app's session policies.",
        403: "Assign the integration permission sets (they grant the Apex class): "
        "`jtel-sf deploy --assign-permset USER`.",
        404: "Deploy the endpoint (`jtel-sf deploy`); the URL is case-sensitive.",
    }
    return CheckResult(
        FAIL,
        f"answered HTTP {response.status_code}: {text}",
        fixes.get(response.status_code, "See section 14."),
    )


def check_activity_sharing(ctx: DoctorContext) -> CheckResult:
    """The Task organisation-wide default (EntityDefinition.InternalSharingModel, Tooling API)."""
    records = ctx.org.query(
        "SELECT QualifiedApiName, InternalSharingModel FROM EntityDefinition WHERE QualifiedApiName = 'Task'",
        tooling=True,
    )
    model = str(records[0].get("InternalSharingModel")) if records else ""
    if not model:
        return CheckResult(
            NOT_RUN, "the org did not tell Task's sharing model", "Check Setup > Sharing Settings."
        )
    if model == "ControlledByParent":
        return CheckResult(
            PASS,
            "Activities: Controlled by Parent - the integration user updates a call's Task only with Edit "
            "on the "
            "record it is linked to (JtelCallStatisticsRecordAccess + sharing)",
        )
    if model == "Private":
        return CheckResult(
            FAIL,
            "Activities: Private - the integration user cannot update Tasks owned by agents; later rows of a "
            "call are refused (409 org_refused)",
            "Set Activities to Controlled by Parent (docs/admin-setup.md section 6).",
        )
    return CheckResult(WARN, f"Activities: {model}", "See docs/admin-setup.md section 6.")


def check_quarantine_backlog(ctx: DoctorContext) -> CheckResult:
    body = ctx.org.rest_json(
        "GET",
        "query",
        params={
            "q": f"SELECT COUNT() FROM {QUARANTINE_OBJECT}"
            f" WHERE Status__c = {quote(load_records().quarantine_statuses['new'])}"
        },
    )
    count = int(body.get("totalSize", 0))
    if count:
        return CheckResult(
            WARN, f"{count} quarantined request(s) waiting", "Review them: `jtel-sf quarantine list`."
        )
    return CheckResult(PASS, "no quarantined request waiting")


def check_api_usage(ctx: DoctorContext) -> CheckResult:
    """Daily API requests against the org's limit (REST API "Limits": DailyApiRequests)."""
    limits = ctx.org.rest_json("GET", "limits")
    daily = limits.get("DailyApiRequests") or {}
    maximum, remaining = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
    if not maximum:
        return CheckResult(NOT_RUN, "the org reported no DailyApiRequests limit")
    used = maximum - remaining
    detail = f"{used} of {maximum} API requests used in the last 24 h ({100 * used / maximum:.0f}%)"
    if remaining < maximum * 0.1:
        return CheckResult(
            FAIL if remaining <= 0 else WARN,
            detail,
            "Every jtel POST is one API request: buy more, or find who else uses them (API Usage report).",
        )
    return CheckResult(PASS, detail)


def check_storage(ctx: DoctorContext) -> CheckResult:
    """Records of the jtel objects (REST API "Record Count") and the org's data storage (Limits)."""
    counts = ctx.org.rest_json("GET", "limits/recordCount", params={"sObjects": ",".join(JTEL_OBJECTS)})
    by_name = {str(c.get("name")): int(c.get("count") or 0) for c in (counts or {}).get("sObjects", [])}
    limits = ctx.org.rest_json("GET", "limits")
    storage = limits.get("DataStorageMB") or {}
    maximum, remaining = int(storage.get("Max") or 0), int(storage.get("Remaining") or 0)
    records = sum(by_name.values())
    jtel_mb = records * RECORD_STORAGE_KB / 1024
    detail = (
        ", ".join(f"{name} {by_name.get(name, 0)}" for name in JTEL_OBJECTS)
        + f" records (about {jtel_mb:.1f} MB at 2 KB each); "
        + f"org data storage {maximum - remaining} of {maximum} MB used"
    )
    if maximum and remaining < maximum * 0.1:
        return CheckResult(
            WARN,
            detail,
            "Data storage is nearly full: schedule the retention job or lower row_retention_days"
            " (docs/storage.md).",
        )
    return CheckResult(PASS, detail)


def check_retention_job(ctx: DoctorContext) -> CheckResult:
    """Is JtelRetentionSchedule scheduled (CronTrigger by its CronJobDetail.Name, Object Reference)?"""
    days = int(_effective(ctx, "row_retention_days"))
    soql = (
        "SELECT Id, State, NextFireTime, CronExpression FROM CronTrigger"
        f" WHERE CronJobDetail.Name = {quote(RETENTION_JOB_NAME)}"
    )
    jobs = ctx.org.query(soql)
    live = [j for j in jobs if str(j.get("State")) in _LIVE_CRON_STATES]
    if live:
        job = live[0]
        when = f"next run {job.get('NextFireTime')}" if job.get("NextFireTime") else "running"
        retention = f"rows kept {days} days" if days else "rows kept forever (row_retention_days = 0)"
        cron = job.get("CronExpression")
        return CheckResult(PASS, f"'{RETENTION_JOB_NAME}' scheduled ({cron}), {when}; {retention}")
    if jobs:
        state = ", ".join(sorted({str(j.get("State")) for j in jobs}))
        return CheckResult(
            FAIL,
            f"'{RETENTION_JOB_NAME}' is scheduled but will not run (state {state})",
            "Delete it under Setup > Scheduled Jobs and schedule it again: " + RETENTION_SCHEDULE_LINE,
        )
    if days == 0:
        return CheckResult(WARN, "no retention job, and rows are kept forever: storage grows with every call")
    return CheckResult(
        WARN,
        f"'{RETENTION_JOB_NAME}' is not scheduled: rows are not deleted after {days} days, storage grows",
        "As an admin holding JtelCallStatisticsRetention, run in Execute Anonymous: "
        + RETENTION_SCHEDULE_LINE,
    )


def expected_ecas(source_dir: Path) -> list[str]:
    return sorted(
        p.name.removesuffix(".eca-meta.xml") for p in source_dir.glob("**/externalClientApps/*.eca-meta.xml")
    )


def check_external_client_app(ctx: DoctorContext) -> CheckResult:
    """Listed through the Metadata API (listMetadata), the documented way to see ECA metadata."""
    body = (
        f"<met:queries><met:type>{ECA_TYPE}</met:type></met:queries>"
        f"<met:asOfVersion>{ctx.org.api_version}</met:asOfVersion>"
    )
    try:
        response = ctx.org.metadata_soap("listMetadata", body)
    except OrgRequestError as exc:
        return CheckResult(
            WARN,
            f"cannot list External Client Apps through the Metadata API: {exc}",
            "Check in Setup > External Client App Manager "
            "(needs API 59.0+ and the External Client Apps opt-in).",
        )
    found = sorted(
        (r.findtext(f"{MD_NS}fullName") or "").strip()
        for r in response.findall(f"{MD_NS}result")
        if (r.findtext(f"{MD_NS}type") or ECA_TYPE) == ECA_TYPE
    )
    found = [f for f in found if f]
    expected = expected_ecas(ctx.source_dir)
    if expected:
        missing = [e for e in expected if e not in found]
        if missing:
            return CheckResult(
                FAIL,
                f"{', '.join(missing)} not in the org (found: {', '.join(found) or 'none'})",
                "Run `jtel-sf deploy`, then enable the client credentials flow and set the run-as user.",
            )
        return CheckResult(PASS, f"{', '.join(expected)} present")
    if found:
        return CheckResult(
            WARN,
            f"none defined in {ctx.source_dir}; the org has {', '.join(found)} "
            "(which one jtel uses is not visible here)",
            "Make sure jtel's client id belongs to one of them, with the client credentials flow enabled.",
        )
    return CheckResult(
        FAIL,
        "the org has no External Client App",
        "Create one (Setup > External Client App Manager): OAuth, client credentials flow, run-as user "
        "= the integration user.",
    )


def _effective(ctx: DoctorContext, key: str) -> Any:
    return ctx.org_settings.get(key, getattr(ctx.settings, key))


def check_fallback_owner(ctx: DoctorContext) -> CheckResult:
    username = _effective(ctx, "fallback_owner_username")
    if not username:
        return CheckResult(PASS, "none configured: the integration user owns Tasks of unmatched agents")
    users = ctx.org.query(f"SELECT Id, IsActive FROM User WHERE Username = {quote(username)}")
    if not users:
        return CheckResult(
            FAIL,
            f"fallback owner {username} does not exist",
            "Correct FallbackOwnerUsername__c in JtelSettings.Default "
            "(or fallback_owner_username, then generate).",
        )
    if not users[0].get("IsActive"):
        return CheckResult(
            FAIL, f"fallback owner {username} is inactive", "Activate the user or choose another."
        )
    return CheckResult(PASS, f"{username} exists and is active")


def check_agent_matching(ctx: DoctorContext) -> CheckResult:
    field_name = str(_effective(ctx, "agent_match_field"))
    if not _API_NAME.match(field_name):
        return CheckResult(FAIL, f"{field_name!r} is not a field name", "Fix agent_match_field.")
    active = "IsActive = true AND UserType = 'Standard'"
    try:
        total = ctx.org.rest_json("GET", "query", params={"q": f"SELECT COUNT() FROM User WHERE {active}"})
        with_value = ctx.org.rest_json(
            "GET", "query", params={"q": f"SELECT COUNT() FROM User WHERE {active} AND {field_name} != null"}
        )
    except OrgRequestError as exc:
        if "INVALID_FIELD" in str(exc):
            return CheckResult(
                FAIL,
                f"User has no field {field_name}",
                "Set AgentMatchField__c to an existing User field (e.g. CommunityNickname).",
            )
        raise
    n, m = int(with_value.get("totalSize", 0)), int(total.get("totalSize", 0))
    detail = f"{n} of {m} active users have {field_name} set"
    if n == 0:
        return CheckResult(
            FAIL,
            detail,
            f"Fill User.{field_name} with each agent's jtel AgentUID, or choose another AgentMatchField__c.",
        )
    unreadable = match_field_unreadable(ctx, field_name)
    return unreadable or CheckResult(PASS, detail)


def match_field_unreadable(ctx: DoctorContext, field_name: str) -> CheckResult | None:
    """The agent lookup runs in user mode: a match field the integration user cannot read maps no
    agent at all (docs/contract.md "Agent matching"). Required User fields take no field
    permissions; any other needs read in the integration permission set."""
    from ..generate.permissions import load_access

    if field_name in load_access()["agentMatchField"]["requiredFields"]:  # type: ignore[index]
        return None
    name = ctx.settings.permission_set
    grants = ctx.org.query(
        f"SELECT PermissionsRead FROM FieldPermissions WHERE Field = {quote('User.' + field_name)} "
        f"AND Parent.Name = {quote(name)}"
    )
    if any(grant.get("PermissionsRead") for grant in grants):
        return None
    return CheckResult(
        FAIL,
        f"{name} grants no read on User.{field_name}: the integration user's agent lookup maps no agent",
        "Run `jtel-sf generate` and `jtel-sf deploy` (the generated set grants it), or grant read on the "
        "field in another permission set of the integration user.",
    )


CHECKS: tuple[tuple[str, Callable[[DoctorContext], CheckResult]], ...] = (
    ("API reachable", check_api),
    ("Endpoint class", check_endpoint_class),
    ("Settings record", check_settings_record),
    ("Permission sets", check_permission_sets),
    ("Integration user", check_integration_user),
    ("External Client App", check_external_client_app),
    ("Client credentials token", check_client_credentials),
    ("Endpoint answers jtel", check_endpoint_answers),
    ("Activity sharing", check_activity_sharing),
    ("Fallback owner", check_fallback_owner),
    ("Agent matching", check_agent_matching),
    ("Quarantine backlog", check_quarantine_backlog),
    ("Daily API usage", check_api_usage),
    ("Storage", check_storage),
    ("Retention job", check_retention_job),
)


def _cause(exc: OrgRequestError) -> str:
    """Name the real cause of an org error that kept a check from running."""
    text = str(exc)
    if exc.status == 403 or "INSUFFICIENT_ACCESS" in text or "FORBIDDEN" in text:
        return f"permission: {text}"
    if exc.status == 404 or "INVALID_TYPE" in text or "NOT_FOUND" in text or "INVALID_FIELD" in text:
        return f"missing feature or object: {text}"
    return text


def run_doctor(
    ctx: DoctorContext, on_result: Callable[[CheckResult], None] | None = None
) -> list[CheckResult]:
    """Run every check in order. A check the org keeps from running is "not run" with its cause;
    once the org cannot be reached at all, every remaining check is "not run" for that reason
    (``OrgUnreachable`` is raised at the end, so the exit code says so too).
    """
    results: list[CheckResult] = []
    lost: OrgUnreachable | None = None
    for name, check in CHECKS:
        if lost is not None:
            result = CheckResult(NOT_RUN, f"not run: {lost}")
        else:
            try:
                result = check(ctx)
            except OrgUnreachable as exc:
                lost = exc
                result = CheckResult(NOT_RUN, f"not run: {exc}", exc.hint or "")
            except AuthError as exc:
                result = CheckResult(NOT_RUN, f"not run: the org refused the session: {exc}", exc.hint or "")
            except OrgRequestError as exc:
                result = CheckResult(
                    NOT_RUN,
                    f"not run: {_cause(exc)}",
                    "Check that the user has API access and the needed permissions.",
                )
        result.name = name
        results.append(result)
        if on_result:
            on_result(result)
    if lost is not None:
        raise lost
    return results


def render_result(result: CheckResult) -> list[str]:
    mark = {PASS: "PASS", FAIL: "FAIL", WARN: "WARN", SKIP: "SKIP", NOT_RUN: "NOT RUN"}[result.status]
    lines = [f"{mark}  {result.name}: {result.detail}"]
    if result.fix and result.status != PASS:
        lines.append(f"      fix: {result.fix}")
    return lines
