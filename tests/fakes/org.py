"""A fake Salesforce org on 127.0.0.1, for driving ``jtel-sf`` end to end through its CLI.

Built from Salesforce's documentation, NOT recorded from Salesforce. Sources:

- Metadata API Developer Guide: ``deploy()`` + ``DeployOptions``, ``checkDeployStatus()`` +
  ``DeployResult`` / ``DeployDetails`` / ``DeployMessage`` / ``RunTestsResult`` /
  ``CodeCoverageResult`` / ``CodeCoverageWarning``, ``deployRecentValidation()`` (only a check-only
  deploy that succeeded with tests can be quick-deployed), ``cancelDeploy()`` +
  ``CancelDeployResult``, ``listMetadata()``; "Running a Subset of Tests in a Deployment" (with
  RunSpecifiedTests every deployed class must reach 75% on its own; RunLocalTests: 75% overall).
- Apex Developer Guide, "Understanding Code Coverage": ``@IsTest`` classes (test classes and
  helpers alike) are not counted and are never reported in coverage.
- REST API Developer Guide: Versions (``GET /services/data/``), Query (``totalSize``, ``done``,
  ``records`` with ``attributes``; ``COUNT()`` answers ``totalSize`` and no records), sObject
  create (``{"id", "success", "errors"}``, 201) / update (``PATCH``, 204) / describe, Limits
  (``DailyApiRequests``, ``DataStorageMB``: ``Max`` / ``Remaining``), Record Count
  (``/limits/recordCount?sObjects=``), errors as ``[{"errorCode", "message"}]``.
- Actions Developer Guide, "Apex Actions": ``POST /services/data/vXX.X/actions/custom/apex/<Class>``
  with ``{"inputs": [...]}``; answer: one ``{"actionName", "errors", "isSuccess", "outputValues"}``
  per input.
- OAuth 2.0 (Salesforce Help, "OAuth 2.0 Client Credentials Flow", "Web Server Flow" with PKCE,
  RFC 6749 / RFC 7636): ``/services/oauth2/token`` and ``/services/oauth2/authorize``.
- Apex REST: a method the resource does not define is answered 405 ``METHOD_NOT_ALLOWED``.
- JWT-based access tokens: Salesforce Help, "JWT-Based Access Tokens" (originally REST only);
  SOAP accepts them from API 68.0 (jsforce PR #1817, source-deploy-retrieve PR #1835). What the
  fake answers a JWT on older SOAP versions (an ``INVALID_SESSION_ID`` fault) is an assumption.

SOQL is evaluated by a deliberately small interpreter: ``SELECT`` fields or ``COUNT()``, one
``FROM`` object, a ``WHERE`` of ``AND``-joined ``=``, ``!=``, ``IN (...)`` comparisons on
(dotted) fields, optional ``LIMIT``. A query outside that shape is answered with Salesforce's
``MALFORMED_QUERY`` so a test notices.

Deploy behaviour is scripted per deploy through ``DeployScript`` (how many polls it stays in
progress, which components and tests fail, the coverage each class gets).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
VERSIONS = ("60.0", "61.0", "62.0", "63.0", "64.0", "65.0", "66.0", "67.0", "68.0")
LABELS = {
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
    "63.0": "Spring '25",
    "64.0": "Summer '25",
    "65.0": "Winter '26",
    "66.0": "Spring '26",
    "67.0": "Summer '26",
    "68.0": "Winter '27",
}
JWT_SOAP_MIN = 68.0

_KEY_PREFIX = {
    "User": "005",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "ApexClass": "01p",
    "JtelQuarantine__c": "a02",
    "JtelCall__c": "a00",
    "JtelCallRow__c": "a01",
    "Profile": "00e",
    "Organization": "00D",
}


# --------------------------------------------------------------------------------------------
# Apex source, read the way the platform treats it (independent of jtel_sf's own parser)
# --------------------------------------------------------------------------------------------

_STRIP = re.compile(r"/\*.*?\*/|//[^\n]*|'(?:\\.|[^'\\\n])*'", re.S)


def _code(source: str) -> str:
    return _STRIP.sub(lambda m: "''" if m.group(0).startswith("'") else " ", source)


def apex_is_test(source: str) -> bool:
    """``@IsTest`` on the top-level class: not counted in coverage (Apex Developer Guide)."""
    head = _code(source).split("{", 1)[0]
    return bool(re.search(r"@istest\b", head, re.I))


def apex_test_methods(source: str) -> list[str]:
    body = _code(source).split("{", 1)[-1]
    names = re.findall(r"@istest\b(?:\s*\([^)]*\))?\s+(?:\w+\s+)*?void\s+(\w+)\s*\(", body, re.I)
    names += re.findall(r"\btestmethod\s+void\s+(\w+)\s*\(", body, re.I)
    return names


def apex_locations(source: str) -> int:
    """Executable lines (a line with a statement end) - a fair stand-in for coverage locations."""
    body = _code(source).split("{", 1)[-1]
    return sum(1 for line in body.splitlines() if ";" in line)


# --------------------------------------------------------------------------------------------
# deploys
# --------------------------------------------------------------------------------------------


@dataclass
class DeployScript:
    """How the next deploy behaves."""

    polls_in_progress: int | None = 1  # None: never finishes
    component_failures: list[dict[str, Any]] = field(default_factory=list)
    test_failures: dict[str, str] = field(default_factory=dict)  # "Class.method" -> message
    coverage: dict[str, float] = field(default_factory=dict)  # class -> fraction covered (default 1.0)


@dataclass
class Deploy:
    id: str
    check_only: bool
    test_level: str
    run_tests: list[str]
    classes: dict[str, str]  # name -> source
    members: dict[str, list[str]]
    script: DeployScript
    files: dict[str, bytes] = field(default_factory=dict)
    polls: int = 0
    status: str = "Queued"
    canceled: bool = False
    quick_of: str | None = None
    applied: bool = False


# --------------------------------------------------------------------------------------------
# SOQL
# --------------------------------------------------------------------------------------------

_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>[\w.]+)(?:\s+(?P<direction>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.I | re.S,
)
_COND = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?P<op>=|!=|IN)\s*(?P<value>\(.*\)|'(?:\\.|[^'\\])*'|[\w.-]+)\s*$", re.I | re.S
)


class SoqlError(Exception):
    pass


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    lower = text.lower()
    if lower == "null":
        return None
    if lower in ("true", "false"):
        return lower == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise SoqlError(f"unexpected token: {text}") from None


def _get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        match = next((k for k in value if k.lower() == part.lower()), None)
        value = value.get(match) if match else None
    return value


def _split_and(where: str) -> list[str]:
    parts, depth, quote, start = [], 0, False, 0
    i = 0
    while i < len(where):
        ch = where[i]
        if ch == "\\" and quote:
            i += 2
            continue
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and where[i : i + 5].upper() == " AND ":
            parts.append(where[start:i])
            start = i + 5
            i += 5
            continue
        i += 1
    parts.append(where[start:])
    return parts


def _matches(record: dict[str, Any], where: str | None) -> bool:
    if not where:
        return True
    for part in _split_and(where):
        match = _COND.match(part)
        if not match:
            raise SoqlError(f"unsupported condition: {part.strip()}")
        actual = _get(record, match.group("field"))
        op = match.group("op").upper()
        raw = match.group("value")
        if op == "IN":
            values = [_literal(v) for v in re.findall(r"'(?:\\.|[^'\\])*'|[\w.-]+", raw[1:-1])]
            if actual not in values:
                return False
        elif op == "=":
            if actual != _literal(raw):
                return False
        elif actual == _literal(raw):
            return False
    return True


# --------------------------------------------------------------------------------------------
# the org
# --------------------------------------------------------------------------------------------


class FakeOrg:
    """An org on ``http://127.0.0.1:<port>``; ``with FakeOrg() as org: ...``."""

    def __init__(self, *, max_version: str = "68.0", jwt_tokens: bool = False) -> None:
        self.max_version = max_version
        self.jwt_tokens = jwt_tokens
        self.lock = threading.RLock()
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.tooling: dict[str, list[dict[str, Any]]] = {}
        self.fields: dict[str, set[str]] = {}  # object -> fields declared by deployed metadata
        self.deploys: dict[str, Deploy] = {}
        self.deploy_requests = 0
        self.next_script = DeployScript()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.soap_actions: list[str] = []
        self.tokens: dict[str, str] = {}  # token -> username
        self.clients: dict[str, dict[str, Any]] = {}  # client id -> {secret, run_as, redirect}
        self.auth_codes: dict[str, dict[str, str]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.limits = {
            "DailyApiRequests": {"Max": 100000, "Remaining": 98000},
            "DataStorageMB": {"Max": 5120, "Remaining": 5000},
        }
        self.activity_access = "ControlledByParent"
        self.action_calls: list[dict[str, Any]] = []
        self.down = False  # True: every request is answered by closing the connection
        self.down_after: int | None = None  # go down once this many requests were answered
        self._ids = 0
        self.org_id = "00D5g000000FAKEAAA"
        # CronTrigger: scheduled Apex jobs, CronJobDetail.Name the name System.schedule gave
        # (Object Reference, CronTrigger and CronJobDetail); empty until a test schedules one.
        for name in ("User", "PermissionSet", "PermissionSetAssignment", "Organization", "CronTrigger"):
            self.tables[name] = []
        self.fields["CronTrigger"] = {"Id", "State", "NextFireTime", "CronExpression", "CronJobDetail"}
        for name in (
            "ApexClass",
            "ApexCodeCoverageAggregate",
            "EntityDefinition",
            "ExternalClientApplication",
        ):
            self.tooling[name] = []
        self.admin = self.add_user("admin@acme.example", profile="System Administrator", license="Salesforce")
        self.admin_token = self.issue_token("admin@acme.example")
        self.insert("Organization", {"Id": self.org_id, "Name": "Acme", "IsSandbox": False})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # ---- lifecycle
    def __enter__(self) -> FakeOrg:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- data
    def new_id(self, sobject: str) -> str:
        with self.lock:
            self._ids += 1
            prefix = _KEY_PREFIX.get(sobject, "a09")
            return f"{prefix}5g{self._ids:010d}AAA"[:18]

    def insert(self, sobject: str, record: dict[str, Any], *, tooling: bool = False) -> dict[str, Any]:
        with self.lock:
            record = {"Id": record.get("Id") or self.new_id(sobject), **record}
            record["attributes"] = {"type": sobject}
            (self.tooling if tooling else self.tables).setdefault(sobject, []).append(record)
            return record

    def rows(self, sobject: str, *, tooling: bool = False) -> list[dict[str, Any]]:
        return (self.tooling if tooling else self.tables).get(sobject, [])

    def add_user(
        self,
        username: str,
        *,
        active: bool = True,
        profile: str = "Minimum Access - API Only Integrations",
        license: str = "Salesforce Integration",
        user_type: str = "Standard",
    ) -> dict[str, Any]:
        return self.insert(
            "User",
            {
                "Username": username,
                "IsActive": active,
                "UserType": user_type,
                "Profile": {"Name": profile, "UserLicense": {"Name": license}},
            },
        )

    def issue_token(self, username: str) -> str:
        if self.jwt_tokens:
            header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT","tty":"sfdc-core-token"}')
            payload = base64.urlsafe_b64encode(json.dumps({"sub": username}).encode())
            token = f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}.{secrets.token_hex(16)}"
        else:
            token = f"{self.org_id[:15]}!AQ{secrets.token_hex(24)}"
        self.tokens[token] = username
        return token

    def add_client(
        self, client_id: str, secret: str, *, run_as: str | None = None, redirect_uri: str | None = None
    ) -> None:
        """An External Client App: client credentials needs ``run_as`` (the policy's run-as user)."""
        self.clients[client_id] = {"secret": secret, "run_as": run_as, "redirect": redirect_uri}

    def seed_jtel(self, integration_user: str, client_id: str, client_secret: str) -> dict[str, Any]:
        """An org where jtel was deployed and set up as docs/admin-setup.md says."""
        user = self._user(integration_user) or self.add_user(integration_user)
        for name in (
            "JtelCallStatisticsResource",
            "JtelCallStatisticsService",
            "JtelQuarantineReprocessAction",
        ):
            self.insert(
                "ApexClass",
                {"Name": name, "Status": "Active", "IsValid": True, "ApiVersion": 61.0},
                tooling=True,
            )
        for name in (
            "JtelCallStatisticsIntegration",
            "JtelCallStatisticsRecordAccess",
            "JtelCallStatisticsAdmin",
        ):
            pset = self.insert("PermissionSet", {"Name": name, "Label": name})
            if name != "JtelCallStatisticsAdmin":
                self.insert(
                    "PermissionSetAssignment", {"AssigneeId": user["Id"], "PermissionSetId": pset["Id"]}
                )
        self.insert(
            "JtelSettings__mdt",
            {
                "DeveloperName": "Default",
                "TimeZone__c": "Europe/Berlin",
                "AgentMatchField__c": "CommunityNickname",
                "RetryHttpStatus__c": 503.0,
            },
        )
        for name in ("JtelCall__c", "JtelCallRow__c", "JtelQuarantine__c"):
            self.tables.setdefault(name, [])
        self.insert("ExternalClientApplication", {"DeveloperName": "jtel_ACD"}, tooling=True)
        self.insert(
            "EntityDefinition",
            {"QualifiedApiName": "Task", "InternalSharingModel": self.activity_access},
            tooling=True,
        )
        # the retention job, scheduled as docs/storage.md says (System.schedule names the CronJobDetail)
        self.insert(
            "CronTrigger",
            {
                "CronJobDetail": {"Name": "jtel retention"},
                "State": "WAITING",
                "CronExpression": "0 0 3 * * ?",
                "NextFireTime": "2026-12-02T02:00:00.000+0000",
            },
        )
        self.add_client(client_id, client_secret, run_as=integration_user)
        agent = self.add_user("agent@acme.example", profile="Standard User", license="Salesforce")
        agent["CommunityNickname"] = "agent7"
        return user

    def deploy_script(self, script: DeployScript) -> None:
        self.next_script = script

    # ---- the handler
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        org = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                elif isinstance(body, str):
                    data = body.encode()
                else:
                    data = body or b""
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                body = self._body()
                if org.down_after is not None and len(org.requests) >= org.down_after:
                    org.down = True
                if org.down:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                parts = urlsplit(self.path)
                with org.lock:
                    org.requests.append((method, parts.path))
                try:
                    status, answer, ctype = org.route(
                        method, parts.path, parse_qs(parts.query), body, self.headers
                    )
                except Exception as exc:  # a bug in the fake: say so loudly
                    status, answer, ctype = (
                        500,
                        [{"errorCode": "FAKE_ORG_BUG", "message": repr(exc)}],
                        "application/json",
                    )
                if status in (301, 302):
                    self.send_response(status)
                    self.send_header("Location", answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(status, answer, ctype)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        return Handler

    # ---- routing
    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> tuple[int, Any, str]:
        js = "application/json"
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(parse_qs(body.decode()))
        if path == "/services/oauth2/authorize":
            return self._authorize(query)
        if path.startswith("/services/Soap/m/") and method == "POST":
            return self._soap(path.rsplit("/", 1)[-1], body, headers)
        user = self._bearer(headers)
        if path.rstrip("/") == "/services/data":
            return (
                200,
                [
                    {"label": LABELS[v], "url": f"/services/data/v{v}", "version": v}
                    for v in VERSIONS
                    if float(v) <= float(self.max_version)
                ],
                js,
            )
        if user is None:
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], js
        if path.startswith("/services/apexrest/"):
            return self._apexrest(method, path, user)
        match = re.match(r"^/services/data/v(\d+\.\d)(/.*)$", path)
        if not match:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], js
        version, rest = match.groups()
        if float(version) > float(self.max_version) or version not in VERSIONS:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], js
        if rest in ("/query", "/tooling/query") and method == "GET":
            return self._query(query.get("q", [""])[0], tooling=rest.startswith("/tooling"))
        if rest == "/limits" and method == "GET":
            return 200, self.limits, js
        if rest == "/limits/recordCount" and method == "GET":
            names = (query.get("sObjects", [""])[0]).split(",")
            return 200, {"sObjects": [{"count": len(self.rows(n)), "name": n} for n in names if n]}, js
        if rest == "/actions/custom/apex/JtelQuarantineReprocessAction" and method == "POST":
            return self._reprocess(json.loads(body or b"{}"), user)
        sobject = re.match(r"^/sobjects/(\w+)(?:/(\w+))?$", rest)
        if sobject:
            return self._sobject(method, sobject.group(1), sobject.group(2), body)
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], js

    def _bearer(self, headers: Any) -> str | None:
        auth = headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        return self.tokens.get(token)

    # ---- OAuth
    def _token(self, form: dict[str, list[str]]) -> tuple[int, Any, str]:
        js = "application/json"
        get = lambda name: (form.get(name) or [""])[0]  # noqa: E731
        grant = get("grant_type")
        client = self.clients.get(get("client_id"))
        if grant == "client_credentials":
            if client is None or client["secret"] != get("client_secret"):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, js
            if not client["run_as"]:
                return (
                    400,
                    {"error": "invalid_grant", "error_description": "no client credentials user enabled"},
                    js,
                )
            user = self._user(client["run_as"])
            if user is None or not user["IsActive"]:
                return 400, {"error": "invalid_grant", "error_description": "user is inactive"}, js
            return 200, self._token_answer(client["run_as"]), js
        if grant == "authorization_code":
            code = self.auth_codes.pop(get("code"), None)
            if client is None or code is None or code["client_id"] != get("client_id"):
                return 400, {"error": "invalid_grant", "error_description": "invalid authorization code"}, js
            if get("redirect_uri") != code["redirect_uri"]:
                return (
                    400,
                    {"error": "redirect_uri_mismatch", "error_description": "redirect_uri mismatch"},
                    js,
                )
            challenge = base64.urlsafe_b64encode(hashlib.sha256(get("code_verifier").encode()).digest())
            if challenge.decode().rstrip("=") != code["challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "invalid code verifier"}, js
            answer = self._token_answer(code["username"])
            refresh = secrets.token_hex(16)
            self.refresh_tokens[refresh] = code["username"]
            answer["refresh_token"] = refresh
            return 200, answer, js
        if grant == "refresh_token":
            username = self.refresh_tokens.get(get("refresh_token"))
            if client is None or username is None:
                return (
                    400,
                    {"error": "invalid_grant", "error_description": "expired access/refresh token"},
                    js,
                )
            return 200, self._token_answer(username), js
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, js

    def _token_answer(self, username: str) -> dict[str, Any]:
        return {
            "access_token": self.issue_token(username),
            "instance_url": self.url,
            "id": f"{self.url}/id/{self.org_id}/{self._user(username)['Id']}",
            "token_type": "Bearer",
            "issued_at": "1767225600000",
            "signature": "fake",
        }

    def _authorize(self, query: dict[str, list[str]]) -> tuple[int, Any, str]:
        """The browser step: the fake's admin is logged in and approves at once (302 to redirect_uri)."""
        get = lambda name: (query.get(name) or [""])[0]  # noqa: E731
        client = self.clients.get(get("client_id"))
        if client is None or get("response_type") != "code":
            return 400, "error=invalid_client_id", "text/plain"
        if get("code_challenge_method") != "S256" or not get("code_challenge"):
            return 400, "error=invalid_request&error_description=PKCE required", "text/plain"
        if client["redirect"] and get("redirect_uri") != client["redirect"]:
            return 400, "error=redirect_uri_mismatch", "text/plain"
        code = secrets.token_hex(8)
        self.auth_codes[code] = {
            "client_id": get("client_id"),
            "redirect_uri": get("redirect_uri"),
            "challenge": get("code_challenge"),
            "username": "admin@acme.example",
        }
        return 302, f"{get('redirect_uri')}?{urlencode({'code': code, 'state': get('state')})}", "text/plain"

    # ---- REST
    def _user(self, username: str) -> dict[str, Any] | None:
        return next((u for u in self.rows("User") if u["Username"] == username), None)

    def _query(self, soql: str, *, tooling: bool) -> tuple[int, Any, str]:
        js = "application/json"
        match = _SELECT.match(soql)
        if not match:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": f"unexpected query: {soql}"}], js
        if match.group("object") not in (self.tooling if tooling else self.tables):
            problem = f"sObject type '{match.group('object')}' is not supported."
            return 400, [{"errorCode": "INVALID_TYPE", "message": problem}], js
        try:
            found = [
                r
                for r in self.rows(match.group("object"), tooling=tooling)
                if _matches(r, match.group("where"))
            ]
        except SoqlError as exc:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": str(exc)}], js
        if match.group("order"):
            order = match.group("order")
            found.sort(
                key=lambda r: (_get(r, order) is None, str(_get(r, order) or "")),
                reverse=(match.group("direction") or "").upper() == "DESC",
            )
        if match.group("limit"):
            found = found[: int(match.group("limit"))]
        fields = [f.strip() for f in match.group("fields").split(",")]
        if [f.upper() for f in fields] == ["COUNT()"]:
            return 200, {"totalSize": len(found), "done": True, "records": []}, js
        records = []
        for record in found:
            out: dict[str, Any] = {"attributes": record["attributes"]}
            known = self.fields.get(match.group("object"), set())
            for name in fields:
                head = name.split(".")[0]
                key = next((k for k in record if k.lower() == head.lower()), None)
                if key is None:
                    key = next((k for k in known if k.lower() == head.lower()), None)
                    if key is None:
                        return (
                            400,
                            [{"errorCode": "INVALID_FIELD", "message": f"No such column '{name}'"}],
                            js,
                        )
                out[key] = record.get(key)
            records.append(out)
        return 200, {"totalSize": len(records), "done": True, "records": records}, js

    def _sobject(self, method: str, sobject: str, record_id: str | None, body: bytes) -> tuple[int, Any, str]:
        js = "application/json"
        if record_id == "describe" and method == "GET":
            if sobject not in self.tables:
                return (
                    404,
                    [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                    js,
                )
            rows = self.rows(sobject)
            names = sorted({k for r in rows for k in r if k != "attributes"})
            return 200, {"name": sobject, "fields": [{"name": n} for n in names]}, js
        if method == "POST" and record_id is None:
            data = json.loads(body or b"{}")
            if sobject == "PermissionSetAssignment":
                duplicate = any(
                    a["AssigneeId"] == data.get("AssigneeId")
                    and a["PermissionSetId"] == data.get("PermissionSetId")
                    for a in self.rows(sobject)
                )
                if duplicate:
                    return 400, [{"errorCode": "DUPLICATE_VALUE", "message": "duplicate value found"}], js
            record = self.insert(sobject, data)
            return 201, {"id": record["Id"], "success": True, "errors": []}, js
        record = next((r for r in self.rows(sobject) if r["Id"] == record_id), None)
        if record is None:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], js
        if method == "PATCH":
            data = json.loads(body or b"{}")
            status_value = data.get("Status__c") if sobject == "JtelQuarantine__c" else None
            if status_value is not None and status_value not in ("New", "Reprocessed", "Failed", "Discarded"):
                problem = f"Status: bad value for restricted picklist field: {status_value}"
                return 400, [{"errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": problem}], js
            record.update(data)
            return 204, b"", js
        if method == "GET":
            return 200, record, js
        return (
            405,
            [{"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{method}' not allowed"}],
            js,
        )

    def _apexrest(self, method: str, path: str, username: str) -> tuple[int, Any, str]:
        js = "application/json"
        deployed = any(
            r["Name"] == "JtelCallStatisticsResource" for r in self.rows("ApexClass", tooling=True)
        )
        if path.rstrip("/") != "/services/apexrest/jtelACD/writeCallStatistics" or not deployed:
            return (
                404,
                [{"errorCode": "NOT_FOUND", "message": f"Could not find a match for URL {path[18:]}"}],
                js,
            )
        if not self._has_permset(username, "JtelCallStatisticsIntegration"):
            return (
                403,
                [
                    {
                        "errorCode": "FORBIDDEN",
                        "message": "You do not have access to the Apex class named "
                        "'JtelCallStatisticsResource'.",
                    }
                ],
                js,
            )
        if method != "POST":
            return (
                405,
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{method}' not allowed. Allowed are POST",
                    }
                ],
                js,
            )
        return 200, {"status": "written", "code": "ok_no_record"}, js

    def _has_permset(self, username: str, name: str) -> bool:
        user = self._user(username)
        pset = next((p for p in self.rows("PermissionSet") if p["Name"] == name), None)
        return bool(user and pset) and any(
            a["AssigneeId"] == user["Id"] and a["PermissionSetId"] == pset["Id"]
            for a in self.rows("PermissionSetAssignment")
        )

    def _reprocess(self, document: dict[str, Any], username: str) -> tuple[int, Any, str]:
        """JtelQuarantineReprocessAction as the package ships it: one Result per input."""
        js = "application/json"
        self.action_calls.append(document)
        inputs = document.get("inputs")
        if not isinstance(inputs, list):
            return (
                400,
                [{"errorCode": "JSON_PARSER_ERROR", "message": "the top-level key must be inputs"}],
                js,
            )
        answers = []
        for request in inputs:
            ids = request.get("quarantineIds") or []
            result = {"reprocessed": 0, "failed": 0, "waiting": 0, "answers": []}
            for quarantine_id in ids:
                record = next((r for r in self.rows("JtelQuarantine__c") if r["Id"] == quarantine_id), None)
                if record is None:
                    result["answers"].append(f"{quarantine_id}: not found")
                    result["failed"] += 1
                elif record.get("Reason__c") == "invalid_payload":
                    record["Status__c"] = "Failed"
                    record["ReprocessResult__c"] = "409 rejected/invalid_payload"
                    result["answers"].append(f"{quarantine_id}: 409 rejected/invalid_payload")
                    result["failed"] += 1
                else:
                    record["Status__c"] = "Reprocessed"
                    record["ReprocessResult__c"] = "200 written/ok"
                    result["answers"].append(f"{quarantine_id}: 200 written/ok")
                    result["reprocessed"] += 1
            answers.append(
                {
                    "actionName": "JtelQuarantineReprocessAction",
                    "errors": None,
                    "isSuccess": True,
                    "outputValues": result,
                    "version": 1,
                }
            )
        return 200, answers, js

    # ---- SOAP (Metadata API)
    def _fault(self, code: str, message: str) -> tuple[int, Any, str]:
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
            f'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>sf:{code}</faultcode><faultstring>{escape(code)}: {escape(message)}</faultstring>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return 500, text, "text/xml; charset=utf-8"

    def _envelope(self, action: str, inner: str) -> tuple[int, Any, str]:
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
            f'xmlns="{MD_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f"<{action}Response>{inner}</{action}Response></soapenv:Body></soapenv:Envelope>"
        )
        return 200, text, "text/xml; charset=utf-8"

    def _soap(self, version: str, body: bytes, headers: Any) -> tuple[int, Any, str]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return self._fault("INVALID_XML", "could not parse the request")
        session = (root.findtext(f".//{{{MD_NS}}}sessionId") or "").strip()
        if version not in VERSIONS or float(version) > float(self.max_version):
            return self._fault("UNSUPPORTED_API_VERSION", f"Invalid Api version specified on URL: {version}")
        if session not in self.tokens:
            return self._fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        if session.count(".") == 2 and float(version) < JWT_SOAP_MIN:
            return self._fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        soap_body = root.find(f"{{{SOAP_NS}}}Body")
        operation = next(iter(soap_body)) if soap_body is not None and len(soap_body) else None
        if operation is None:
            return self._fault("INVALID_XML", "empty body")
        action = operation.tag.split("}")[-1]
        if headers.get("SOAPAction", "").strip('"') not in (action, ""):
            return self._fault("INVALID_XML", "SOAPAction does not match the operation")
        with self.lock:
            self.soap_actions.append(action)
        text = lambda name: (operation.findtext(f".//{{{MD_NS}}}{name}") or "").strip()  # noqa: E731
        if action == "deploy":
            return self._deploy(operation)
        if action == "checkDeployStatus":
            deploy = self.deploys.get(text("asyncProcessId"))
            if deploy is None:
                return self._fault("INVALID_ID_FIELD", "invalid deploy id")
            return self._envelope(action, self._deploy_result(deploy, text("includeDetails") == "true"))
        if action == "deployRecentValidation":
            validation = self.deploys.get(text("validationId"))
            if (
                validation is None
                or not validation.check_only
                or validation.status != "Succeeded"
                or validation.test_level == "NoTestRun"
            ):
                return self._fault(
                    "INVALID_ID_FIELD", "No validation found that can be quick deployed for this id"
                )
            quick = Deploy(
                id=self._deploy_id(),
                check_only=False,
                test_level=validation.test_level,
                run_tests=[],
                classes=validation.classes,
                members=validation.members,
                files=validation.files,
                script=DeployScript(polls_in_progress=1),
                quick_of=validation.id,
            )
            self.deploys[quick.id] = quick
            return self._envelope(action, f"<result>{quick.id}</result>")
        if action == "cancelDeploy":
            deploy = self.deploys.get(text("String"))
            if deploy is None:
                return self._fault("INVALID_ID_FIELD", "invalid deploy id")
            if deploy.status not in ("Succeeded", "Failed", "SucceededPartial", "Canceled"):
                deploy.status = "Canceled"
                deploy.canceled = True
            return self._envelope(action, f"<result><done>true</done><id>{deploy.id}</id></result>")
        if action == "listMetadata":
            return self._envelope(
                action,
                "".join(
                    f"<result><fullName>{escape(r['DeveloperName'])}</fullName>"
                    "<type>ExternalClientApplication</type></result>"
                    for r in self.rows("ExternalClientApplication", tooling=True)
                ),
            )
        return self._fault("INVALID_OPERATION", f"unknown operation {action}")

    def _deploy_id(self) -> str:
        with self.lock:
            self._ids += 1
            return f"0Af5g{self._ids:010d}AAA"[:18]

    def _deploy(self, operation: ET.Element) -> tuple[int, Any, str]:
        self.deploy_requests += 1
        text = lambda name: (operation.findtext(f".//{{{MD_NS}}}{name}") or "").strip()  # noqa: E731
        try:
            archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(text("ZipFile"))))
            files = {name: archive.read(name) for name in archive.namelist()}
        except (ValueError, zipfile.BadZipFile):
            return self._fault("INVALID_ZIP", "the zip file could not be read")
        if "package.xml" not in files:
            return self._fault("INVALID_ZIP", "No package.xml found")
        manifest = ET.fromstring(files["package.xml"])
        members: dict[str, list[str]] = {}
        for types in manifest.findall(f"{{{MD_NS}}}types"):
            members[types.findtext(f"{{{MD_NS}}}name") or ""] = [
                m.text or "" for m in types.findall(f"{{{MD_NS}}}members")
            ]
        classes = {
            name.removeprefix("classes/").removesuffix(".cls"): content.decode("utf-8")
            for name, content in files.items()
            if name.startswith("classes/") and name.endswith(".cls")
        }
        test_level = text("testLevel") or "NoTestRun"
        run_tests = [e.text or "" for e in operation.iter(f"{{{MD_NS}}}runTests")]
        if test_level == "RunSpecifiedTests" and not run_tests:
            return self._fault("INVALID_OPERATION", "runTests must not be empty with RunSpecifiedTests")
        deploy = Deploy(
            id=self._deploy_id(),
            check_only=text("checkOnly") == "true",
            test_level=test_level,
            run_tests=run_tests,
            classes=classes,
            members=members,
            script=self.next_script,
            files=files,
        )
        self.next_script = DeployScript()
        self.deploys[deploy.id] = deploy
        return self._envelope(
            "deploy", f"<result><done>false</done><id>{deploy.id}</id><state>Queued</state></result>"
        )

    def _outcome(self, deploy: Deploy) -> dict[str, Any]:
        """What the finished deploy reports (computed once it is finished)."""
        failures = deploy.script.component_failures
        tests: list[tuple[str, str, str | None]] = []  # class, method, failure message
        coverage: list[tuple[str, int, int]] = []
        warnings: list[tuple[str, str]] = []
        runs_tests = deploy.test_level != "NoTestRun" and deploy.quick_of is None and not failures
        if runs_tests:
            if deploy.test_level == "RunSpecifiedTests":
                test_classes = deploy.run_tests
            else:
                test_classes = [
                    n for n, s in deploy.classes.items() if apex_is_test(s) and apex_test_methods(s)
                ]
            for name in test_classes:
                source = deploy.classes.get(name, "")
                for method in apex_test_methods(source):
                    tests.append((name, method, deploy.script.test_failures.get(f"{name}.{method}")))
            for name, source in sorted(deploy.classes.items()):
                if apex_is_test(source):
                    continue  # never in coverage
                total = apex_locations(source)
                if total == 0:
                    continue
                covered = round(total * deploy.script.coverage.get(name, 1.0))
                coverage.append((name, total, total - covered))
            if deploy.test_level == "RunSpecifiedTests":
                for name, total, missed in coverage:
                    percent = 100 * (total - missed) // total
                    if percent < 75:
                        warnings.append(
                            (
                                name,
                                f"Test coverage of selected Apex Class is {percent}%, "
                                "at least 75% test coverage is required",
                            )
                        )
            else:
                total = sum(t for _, t, _ in coverage)
                missed = sum(m for _, _, m in coverage)
                if total and 100 * (total - missed) / total < 75:
                    warnings.append(
                        (
                            "",
                            f"Average test coverage across all Apex Classes and Triggers is "
                            f"{100 * (total - missed) // total}%, at least 75% test coverage is required.",
                        )
                    )
        failed_tests = [t for t in tests if t[2]]
        ok = not failures and not failed_tests and not warnings
        return {"tests": tests, "coverage": coverage, "warnings": warnings, "ok": ok, "failures": failures}

    def _apply(self, deploy: Deploy) -> None:
        """A real deploy that succeeded changes the org."""
        if deploy.applied or deploy.check_only:
            return
        deploy.applied = True
        for name in deploy.members.get("ApexClass", []):
            if not any(r["Name"] == name for r in self.rows("ApexClass", tooling=True)):
                self.insert(
                    "ApexClass",
                    {"Name": name, "Status": "Active", "IsValid": True, "ApiVersion": 61.0},
                    tooling=True,
                )
        for name in deploy.members.get("PermissionSet", []):
            if not any(r["Name"] == name for r in self.rows("PermissionSet")):
                self.insert("PermissionSet", {"Name": name, "Label": name})
        for name in deploy.members.get("CustomObject", []):
            self.tables.setdefault(name, [])
            source = deploy.files.get(f"objects/{name}.object")
            if source:  # the object's fields, as the Metadata API file declares them
                declared = {
                    f.findtext(f"{{{MD_NS}}}fullName") or ""
                    for f in ET.fromstring(source).iter(f"{{{MD_NS}}}fields")
                }
                self.fields[name] = {"Id", "Name", "OwnerId", "CreatedDate", "LastModifiedDate", *declared}
        for name in deploy.members.get("CustomMetadata", []):
            type_name, _, record = name.partition(".")
            rows = self.tables.setdefault(f"{type_name}__mdt", [])
            values: dict[str, Any] = {"DeveloperName": record}
            source = deploy.files.get(f"customMetadata/{name}.md")
            if source:  # <values><field>X__c</field><value xsi:type="xsd:...">v</value></values>
                xsi = "{http://www.w3.org/2001/XMLSchema-instance}"
                for item in ET.fromstring(source).findall(f"{{{MD_NS}}}values"):
                    value = item.find(f"{{{MD_NS}}}value")
                    kind = value.get(f"{xsi}type", "") if value is not None else ""
                    text = value.text if value is not None and value.get(f"{xsi}nil") != "true" else None
                    if text is not None and kind == "xsd:double":
                        parsed: Any = float(text)
                    elif text is not None and kind == "xsd:boolean":
                        parsed = text == "true"
                    else:
                        parsed = text
                    values[item.findtext(f"{{{MD_NS}}}field") or ""] = parsed
            rows[:] = [r for r in rows if r.get("DeveloperName") != record]
            self.insert(f"{type_name}__mdt", values)

    def _deploy_result(self, deploy: Deploy, details: bool) -> str:
        total_components = sum(len(v) for v in deploy.members.values())
        deploy.polls += 1
        finished = deploy.status in ("Succeeded", "Failed", "Canceled")
        if not finished:
            limit = deploy.script.polls_in_progress
            if limit is not None and deploy.polls > limit:
                outcome = self._outcome(deploy)
                deploy.status = "Succeeded" if outcome["ok"] else "Failed"
                if outcome["ok"]:
                    self._apply(deploy)
            else:
                deploy.status = "InProgress"
        parts = [
            f"<checkOnly>{str(deploy.check_only).lower()}</checkOnly>",
            "<createdBy>005000000000000AAA</createdBy>",
        ]
        outcome = self._outcome(deploy) if deploy.status in ("Succeeded", "Failed") else None
        if details:
            detail = []
            if outcome:
                for failure in outcome["failures"]:
                    detail.append(
                        "<componentFailures>"
                        + f"<changed>false</changed><columnNumber>{failure.get('column', 1)}</columnNumber>"
                        + f"<componentType>{failure['type']}</componentType><created>false</created>"
                        + "<deleted>false</deleted>"
                        + f"<fileName>{escape(failure['file'])}</fileName>"
                        + f"<fullName>{escape(failure['name'])}</fullName>"
                        + f"<lineNumber>{failure.get('line', 1)}</lineNumber>"
                        + f"<problem>{escape(failure['problem'])}</problem><problemType>Error</problemType>"
                        + "<success>false</success></componentFailures>"
                    )
                run = []
                for name, total, missed in outcome["coverage"]:
                    run.append(
                        f"<codeCoverage><id>01p000000000001AAA</id><name>{name}</name>"
                        f'<namespace xsi:nil="true"/><numLocations>{total}</numLocations>'
                        f"<numLocationsNotCovered>{missed}</numLocationsNotCovered>"
                        "<type>Class</type></codeCoverage>"
                    )
                for name, message in outcome["warnings"]:
                    run.append(
                        "<codeCoverageWarnings><id>01p000000000001AAA</id>"
                        f"<message>{escape(message)}</message>"
                        + (f"<name>{name}</name>" if name else '<name xsi:nil="true"/>')
                        + '<namespace xsi:nil="true"/></codeCoverageWarnings>'
                    )
                for name, method, message in outcome["tests"]:
                    if message:
                        run.append(
                            f"<failures><id>01p000000000002AAA</id><message>{escape(message)}</message>"
                            f"<methodName>{method}</methodName><name>{name}</name>"
                            f'<namespace xsi:nil="true"/><stackTrace>Class.{name}.{method}: line 3, column 1'
                            "</stackTrace><time>10.0</time><type>Class</type></failures>"
                        )
                failed = sum(1 for t in outcome["tests"] if t[2])
                run.append(
                    f"<numFailures>{failed}</numFailures><numTestsRun>{len(outcome['tests'])}</numTestsRun>"
                )
                for name, method, message in outcome["tests"]:
                    if not message:
                        run.append(
                            f"<successes><id>01p000000000002AAA</id><methodName>{method}</methodName>"
                            f'<name>{name}</name><namespace xsi:nil="true"/><time>10.0</time></successes>'
                        )
                run.append("<totalTime>100.0</totalTime>")
                detail.append("<runTestResult>" + "".join(run) + "</runTestResult>")
            parts.append("<details>" + "".join(detail) + "</details>")
        done = deploy.status in ("Succeeded", "Failed", "Canceled")
        tests_total = len(outcome["tests"]) if outcome else 0
        tests_failed = sum(1 for t in outcome["tests"] if t[2]) if outcome else 0
        component_errors = len(outcome["failures"]) if outcome else 0
        deployed = total_components - component_errors if done else 0
        parts += [
            f"<done>{str(done).lower()}</done>",
            f"<id>{deploy.id}</id>",
            "<ignoreWarnings>false</ignoreWarnings>",
            f"<numberComponentErrors>{component_errors}</numberComponentErrors>",
            f"<numberComponentsDeployed>{deployed}</numberComponentsDeployed>",
            f"<numberComponentsTotal>{total_components}</numberComponentsTotal>",
            f"<numberTestErrors>{tests_failed}</numberTestErrors>",
            f"<numberTestsCompleted>{tests_total - tests_failed}</numberTestsCompleted>",
            f"<numberTestsTotal>{tests_total}</numberTestsTotal>",
            "<rollbackOnError>true</rollbackOnError>",
            f"<runTestsEnabled>{str(deploy.test_level != 'NoTestRun').lower()}</runTestsEnabled>",
        ]
        if deploy.status == "InProgress":
            parts.append("<stateDetail>Processing Type: ApexClass</stateDetail>")
        parts += [
            f"<status>{deploy.status}</status>",
            f"<success>{str(deploy.status == 'Succeeded').lower()}</success>",
        ]
        return "<result>" + "".join(parts) + "</result>"
