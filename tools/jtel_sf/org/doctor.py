"""``jtel-sf doctor``: is the org ready for jtel? A checklist, each line passed, failed or a warning,
each failure with the fix. Every check is a plain function of an ``OrgSession``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..auth import OrgRequestError, OrgSession
from ..errors import UsageError
from ..settings import Settings, validate
from .soql import quote

PASS, FAIL, WARN = "pass", "fail", "warn"
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
            f"Set api_version in the settings (or --api-version) to one of {', '.join(offered[-3:])}.",
        )
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
        f"SELECT DeveloperName, {', '.join(fields)} FROM {SETTINGS_TYPE} "
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


def check_permission_set(ctx: DoctorContext) -> CheckResult:
    name = ctx.settings.permission_set
    sets = ctx.org.query(f"SELECT Id FROM PermissionSet WHERE Name = {quote(name)}")
    if not sets:
        return CheckResult(FAIL, f"{name} is not in the org", "Run `jtel-sf deploy`.")
    if not ctx.integration_user:
        return CheckResult(
            WARN,
            f"{name} present; assignment not checked",
            "Pass --integration-user USERNAME (the External Client App's run-as user) to check it.",
        )
    users = ctx.org.query(f"SELECT Id, IsActive FROM User WHERE Username = {quote(ctx.integration_user)}")
    if not users:
        return CheckResult(
            FAIL, f"{name} present; no user {ctx.integration_user}", "Check --integration-user."
        )
    assigned = ctx.org.query(
        f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {quote(users[0]['Id'])} "
        f"AND PermissionSetId = {quote(sets[0]['Id'])}"
    )
    if not assigned:
        return CheckResult(
            FAIL,
            f"{name} present but not assigned to {ctx.integration_user}",
            f"Run `jtel-sf deploy --assign-permset {ctx.integration_user}` or assign it in Setup > Users.",
        )
    if not users[0].get("IsActive"):
        return CheckResult(
            FAIL,
            f"{name} assigned to {ctx.integration_user}, but the user is inactive",
            "Activate the integration user.",
        )
    return CheckResult(PASS, f"{name} assigned to {ctx.integration_user}")


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
    ("Permission set", check_permission_set),
    ("External Client App", check_external_client_app),
    ("Fallback owner", check_fallback_owner),
    ("Agent matching", check_agent_matching),
)


def run_doctor(
    ctx: DoctorContext, on_result: Callable[[CheckResult], None] | None = None
) -> list[CheckResult]:
    """Run every check in order; an org error in one check fails that check, not the run.

    An authentication error stops everything (exit 2): nothing can be checked without a session.
    """
    results: list[CheckResult] = []
    for name, check in CHECKS:
        try:
            result = check(ctx)
        except OrgRequestError as exc:
            result = CheckResult(
                FAIL, str(exc), "Check that the user has API access and the needed permissions."
            )
        result.name = name
        results.append(result)
        if on_result:
            on_result(result)
    return results


def render_result(result: CheckResult) -> list[str]:
    mark = {PASS: "PASS", FAIL: "FAIL", WARN: "WARN"}[result.status]
    lines = [f"{mark}  {result.name}: {result.detail}"]
    if result.fix and result.status != PASS:
        lines.append(f"      fix: {result.fix}")
    return lines
