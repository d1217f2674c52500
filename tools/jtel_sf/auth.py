"""Reaching a Salesforce org: one function, ``connect``, shared by every org command.

Ways in, tried in this order (the first one whose inputs are complete wins):

1. ``access-token``: ``--access-token`` + ``--instance-url`` (or ``SF_ACCESS_TOKEN`` +
   ``SF_INSTANCE_URL``, read by the click options).
2. ``sf-cli``: ``--target-org ALIAS``: one of jtel-sf's own scratch orgs (``jtel-sf org create``),
   else through the Salesforce CLI when it is installed
   (``sf org auth show-access-token``: ``sf org display`` hides the token since mid-2026).
3. ``client-credentials``: client id + secret against the My Domain URL (what jtel itself uses).
4. ``jwt-bearer``: client id + private key file + username; audience login or test.
5. ``password``: username + password (+ security token), last, with a warning: Salesforce is
   retiring it. With a client id + secret it is the OAuth password grant; without, the SOAP
   login simple-salesforce implements (removed from API 65.0).

Interactive, without the sf CLI: ``--browser-login`` with ``--client-id`` + ``--instance-url``
runs the OAuth 2.0 web server flow with PKCE (RFC 7636; Salesforce Help "OAuth 2.0 Web Server
Flow for Web App Integration") through an External Client App whose callback URL is
``http://localhost:1717/OauthRedirect`` (port: ``JTEL_SF_LOGIN_PORT``): the browser opens the
org's login page, the org redirects to that local address with a code, and the code plus the
PKCE verifier buy the token. The access token stays in memory; the refresh token is kept in the
operating system's keyring when the optional ``keyring`` package is installed (and reused by the
next command), otherwise nowhere. Nothing is ever written to a plain file.

Secrets (access token, client secret, password, security token, the private key) never appear in
``repr``/``str`` of these objects, in log records or in exception messages; every message that
could echo a server answer passes through ``_redact`` first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from .errors import AuthError, JtelSfError, OrgUnreachable, UsageError
from .login import LOGIN_OPTION_NAMES

TOKEN_PATH = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
HTTP_TIMEOUT = 60  # seconds for one HTTP exchange with the org
# API versions (see resolve_api_version): the tool's own calls use the org's newest version up to
# API_NEWEST_SUPPORTED; below API_FLOOR the tool refuses (External Client App metadata needs 59.0,
# force-app is written and checked against 61.0). SOAP accepts JWT-based access tokens only from
# API_JWT_SOAP_MIN (Salesforce Help "JWT-Based Access Tokens": REST only at first; SOAP API from
# 68.0 as jsforce PR #1817 and source-deploy-retrieve PR #1835 record).
API_FLOOR = "61.0"
API_NEWEST_SUPPORTED = "68.0"
API_JWT_SOAP_MIN = "68.0"
_AUTH_OPTION_NAMES = LOGIN_OPTION_NAMES  # one list: options.login_options builds the options from it
PASSWORD_FLOW_WARNING = (
    "Warning: the username-password flow is being retired by Salesforce (blocked in new orgs, "
    "SOAP login removed from API 65.0). Switch to --client-id/--client-secret (client credentials) "
    "or --jwt-key-file (JWT bearer)."
)


class OrgRequestError(JtelSfError):
    """The org answered a REST/Tooling request with an error (exit 1). Carries no credentials."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass(frozen=True)
class AuthOptions:
    """What the user gave on the command line or in the environment. Secrets are left out of repr."""

    instance_url: str | None = None
    access_token: str | None = field(default=None, repr=False)
    target_org: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    jwt_key_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    login_domain: str = "login"
    api_version: str | None = None
    browser_login: bool = False

    @classmethod
    def from_click(cls, kwargs: Mapping[str, Any]) -> AuthOptions:
        """Pick the ``org_auth_options`` values out of a click command's keyword arguments.

        Other keys are ignored, so a command can pass its whole ``**kwargs``. Empty strings count
        as absent (an empty environment variable must not select a flow).
        """
        values: dict[str, Any] = {}
        for name in _AUTH_OPTION_NAMES:
            value = kwargs.get(name)
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None and value is not False:
                values[name] = value
        return cls(**values)

    def secrets(self) -> list[str]:
        """The secret values given (for redaction), longest first."""
        found = [s for s in (self.access_token, self.client_secret, self.password, self.security_token) if s]
        if self.password and self.security_token:
            found.append(self.password + self.security_token)
        return sorted(set(found), key=len, reverse=True)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and (for urllib3) the ``reason`` it carries, in order."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))


def network_cause(exc: BaseException) -> str:
    """The real cause of a request that got no HTTP answer, in a few words."""
    import ssl

    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({item.verify_message or item.reason})"
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake failed ({item.reason or item})"
    names = [type(item).__name__ for item in _chain(exc)]
    texts = " ".join(str(item) for item in _chain(exc))
    if "SSLError" in names:
        return "TLS failed (" + (texts.split("SSLError")[-1].strip(" (:'\")")[:120] or "handshake") + ")"
    if "NameResolutionError" in names or "gaierror" in names or "Name or service not known" in texts:
        return "host name not found (DNS)"
    if "ProxyError" in names:
        return "the proxy refused or failed the connection"
    if "ConnectionRefusedError" in names or "Connection refused" in texts:
        return "connection refused"
    if any(n in names for n in ("ConnectTimeout", "ConnectTimeoutError")):
        return "no connection within the time limit"
    if any(n in names for n in ("ReadTimeout", "ReadTimeoutError", "TimeoutError", "Timeout")):
        return f"no answer within {HTTP_TIMEOUT} s"
    if any(n in names for n in ("RemoteDisconnected", "ConnectionResetError", "ProtocolError")):
        return "the connection was closed without an answer"
    return type(exc).__name__


def unreachable(url: str, exc: BaseException, secrets: list[str] | None = None) -> OrgUnreachable:
    """One short line: ``cannot reach HOST: CAUSE`` (same exit code, 5, in every command)."""
    host = urlparse(url).netloc or url
    return OrgUnreachable(
        _redact(f"cannot reach {host}: {network_cause(exc)}", secrets or []),
        hint="Check the URL, the network and any proxy (HTTPS_PROXY); behind a TLS-inspecting proxy "
        "point REQUESTS_CA_BUNDLE at its CA certificate.",
    )


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return text


def _default_api_version() -> str:
    from .settings import Settings

    return Settings().api_version


def _normalise_version(version: str) -> str:
    version = version.strip().lstrip("vV")
    try:
        float(version)
    except ValueError:
        raise UsageError(f"--api-version must look like 61.0, got {version!r}") from None
    return version if "." in version else f"{version}.0"


def _check_url(url: str, what: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise UsageError(f"{what} must be a URL such as https://acme.my.salesforce.com, got {url!r}")
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(f"{what} must use https (plain http is only allowed for 127.0.0.1), got {url!r}")
    return f"{parsed.scheme}://{parsed.netloc}"


# --------------------------------------------------------------------------------------------
# Token acquisition: each returns (access_token, instance_url)
# --------------------------------------------------------------------------------------------

_OAUTH_HINTS: dict[str, str] = {
    "invalid_client_id": "Check --client-id: it must be the consumer key of the External Client App.",
    "invalid_client": "Check --client-id and --client-secret (consumer key and secret of the External "
    "Client App); a new app can take up to 10 minutes before its credentials work.",
    "invalid_grant": "The org refused the grant: for client credentials, enable the flow in the External "
    "Client App and set its run-as user; for JWT, upload the certificate, pre-authorise the user (admin "
    "approved) and check --username and --login-domain (test for sandboxes); for passwords, check "
    "password, security token and IP restrictions.",
    "unsupported_grant_type": "This login host does not support the flow: use your My Domain URL "
    "(--instance-url https://<my-domain>.my.salesforce.com).",
    "invalid_request": "The token request was incomplete; check the options given.",
    "inactive_user": "The user is inactive; activate it in Setup > Users.",
    "inactive_org": "The org is locked, deleted or expired.",
}


def _token_exchange(
    url: str, data: dict[str, str], flow: str, secrets: list[str], http: requests.Session
) -> tuple[str, str, str | None]:
    """POST to the OAuth token endpoint and turn any refusal into an AuthError without secrets.

    Returns (access token, instance URL, refresh token or None)."""
    try:
        response = http.post(url, data=data, headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise unreachable(url, exc, secrets) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        if isinstance(body, dict) and body.get("error"):
            code = str(body.get("error"))
            description = str(body.get("error_description") or "").strip()
            message = f"{flow}: Salesforce refused the login at {url}: {code}"
            if description:
                message += f" ({description})"
            raise AuthError(_redact(message, secrets), hint=_OAUTH_HINTS.get(code))
        raise AuthError(
            f"{flow}: the token endpoint {url} answered HTTP {response.status_code} without a token",
            hint="Is this a Salesforce login URL? Use https://<my-domain>.my.salesforce.com.",
        )
    token = str(body["access_token"])
    instance = str(body.get("instance_url") or "") or url[: -len(TOKEN_PATH)]
    refresh = str(body["refresh_token"]) if body.get("refresh_token") else None
    return token, _check_url(instance, "instance_url in the token answer"), refresh


def _token_request(
    url: str, data: dict[str, str], flow: str, secrets: list[str], http: requests.Session
) -> tuple[str, str]:
    token, instance, _refresh = _token_exchange(url, data, flow, secrets, http)
    return token, instance


def _login_base(options: AuthOptions) -> str:
    if options.instance_url:
        return _check_url(options.instance_url, "--instance-url")
    domain = options.login_domain.strip() or "login"
    if "://" in domain:
        return _check_url(domain, "--login-domain")
    return f"https://{domain}.salesforce.com"


def _client_credentials(options: AuthOptions, http: requests.Session) -> tuple[str, str]:
    if not options.instance_url and options.login_domain in ("login", "test"):
        raise AuthError(
            "client credentials need the org's My Domain URL, not login.salesforce.com/test.salesforce.com",
            hint="Pass --instance-url https://<my-domain>.my.salesforce.com "
            "(or --login-domain <my-domain>.my).",
        )
    url = _login_base(options) + TOKEN_PATH
    data = {
        "grant_type": "client_credentials",
        "client_id": options.client_id or "",
        "client_secret": options.client_secret or "",
    }
    return _token_request(url, data, "client credentials", options.secrets(), http)


def _jwt_bearer(options: AuthOptions, http: requests.Session) -> tuple[str, str]:
    import jwt  # pyjwt, a dependency of simple-salesforce

    key_path = Path(options.jwt_key_file or "")
    try:
        key = key_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(f"JWT bearer: cannot read the key file {key_path} ({exc.strerror})") from None
    audience = (
        "https://test.salesforce.com" if options.login_domain == "test" else "https://login.salesforce.com"
    )
    claims = {
        "iss": options.client_id,
        "sub": options.username,
        "aud": audience,
        "exp": int(time.time()) + 180,
    }
    try:
        assertion = jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise AuthError(
            f"JWT bearer: {key_path} is not a usable RSA private key ({type(exc).__name__})",
            hint="Use the PEM private key whose certificate is uploaded to the External Client App.",
        ) from None
    url = _login_base(options) + TOKEN_PATH
    return _token_request(
        url,
        {"grant_type": JWT_GRANT, "assertion": assertion},
        "JWT bearer",
        [*options.secrets(), assertion],
        http,
    )


def _password_flow(options: AuthOptions, http: requests.Session, api_version: str) -> tuple[str, str]:
    secrets = options.secrets()
    if options.client_id and options.client_secret:
        url = _login_base(options) + TOKEN_PATH
        data = {
            "grant_type": "password",
            "client_id": options.client_id,
            "client_secret": options.client_secret,
            "username": options.username or "",
            "password": (options.password or "") + (options.security_token or ""),
        }
        return _token_request(url, data, "username-password", secrets, http)
    # Without a client id: the SOAP login simple-salesforce implements (gone from API 65.0).
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from simple_salesforce.login import SalesforceLogin

    domain = options.login_domain or "login"
    try:
        session_id, instance = SalesforceLogin(
            username=options.username,
            password=options.password,
            security_token=options.security_token or "",
            domain=domain,
            sf_version=api_version,
            session=http,
        )
    except SalesforceAuthenticationFailed as exc:
        raise AuthError(
            _redact(f"username-password: Salesforce refused the login: {exc.code} ({exc.message})", secrets),
            hint="Check username, password and security token; new orgs block this flow entirely.",
        ) from None
    except requests.RequestException as exc:
        raise unreachable(f"https://{domain}.salesforce.com", exc, secrets) from None
    return str(session_id), f"https://{instance}"


# --------------------------------------------------------------------------------------------
# Interactive login: OAuth 2.0 web server flow with PKCE on localhost
# --------------------------------------------------------------------------------------------

KEYRING_SERVICE = "jtel-sf"
LOGIN_TIMEOUT = 300  # seconds to wait for the browser to come back
DEFAULT_LOGIN_PORT = 1717
Browser = Callable[[str], Any]


def login_redirect_uri() -> str:
    import os

    port = int(os.environ.get("JTEL_SF_LOGIN_PORT") or DEFAULT_LOGIN_PORT)
    return f"http://localhost:{port}/OauthRedirect"


def _keyring() -> Any | None:
    try:
        import keyring  # optional dependency: pip install 'jtel-sf[keyring]'
    except ImportError:
        return None
    return keyring


def _keyring_name(instance: str, client_id: str) -> str:
    return f"{instance}|{client_id}"


def _wait_for_code(redirect_uri: str, state: str, open_browser: Callable[[], Any]) -> str:
    """Serve the redirect URI on 127.0.0.1 until the org sends the browser back with a code."""
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs

    parsed = urlparse(redirect_uri)
    received: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            if urlparse(self.path).path != parsed.path:
                self.send_response(404)
                self.end_headers()
                return
            for key in ("code", "state", "error", "error_description"):
                if key in query:
                    received[key] = query[key][0]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"jtel-sf: login received, you can close this window.")

        def log_message(self, *args: Any) -> None:
            pass

    try:
        server = HTTPServer(("127.0.0.1", parsed.port or 80), Callback)
    except OSError as exc:
        raise AuthError(
            f"browser login: cannot listen on {redirect_uri} ({exc.strerror})",
            hint="Free the port or set JTEL_SF_LOGIN_PORT (and the app's callback URL) to another one.",
        ) from None
    server.timeout = 1.0
    deadline = time.monotonic() + LOGIN_TIMEOUT
    try:
        open_browser()
        while not received and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not received:
        raise AuthError(f"browser login: no answer from the browser within {LOGIN_TIMEOUT} s")
    if received.get("error"):
        raise AuthError(
            f"browser login: the org refused: {received['error']} ({received.get('error_description', '')})",
            hint=_OAUTH_HINTS.get(received["error"]),
        )
    if received.get("state") != state:
        raise AuthError("browser login: the answer's state does not match (a stale or foreign redirect)")
    return received.get("code", "")


def _browser_login(
    options: AuthOptions, http: requests.Session, browser: Browser | None = None
) -> tuple[str, str, str | None]:
    """(access token, instance URL, refresh token) from the web server flow with PKCE."""
    import base64
    import hashlib
    import secrets as secrets_mod
    import webbrowser
    from urllib.parse import urlencode

    base = _login_base(options)
    verifier = secrets_mod.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    state = secrets_mod.token_urlsafe(16)
    redirect_uri = login_redirect_uri()
    url = f"{base}/services/oauth2/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": options.client_id or "",
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "api refresh_token",
            "state": state,
        }
    )
    opener = browser or webbrowser.open

    def open_browser() -> None:
        print(
            f"Log in to the org in your browser (opening {base}/services/oauth2/authorize ...)",
            file=sys.stderr,
        )
        print(f"If no browser opens, visit: {url}", file=sys.stderr)
        opener(url)

    code = _wait_for_code(redirect_uri, state, open_browser)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": options.client_id or "",
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return _token_exchange(base + TOKEN_PATH, data, "browser login", [verifier, code], http)


def _refresh_grant(options: AuthOptions, refresh_token: str, http: requests.Session) -> tuple[str, str]:
    url = _login_base(options) + TOKEN_PATH
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": options.client_id or "",
    }
    return _token_request(url, data, "browser login (refresh)", [refresh_token], http)


def browser_session_tokens(
    options: AuthOptions, http: requests.Session, browser: Browser | None = None
) -> tuple[str, str, Callable[[], tuple[str, str]]]:
    """Log in through the browser, or silently with a refresh token kept in the OS keyring."""
    if not options.client_id or not options.instance_url:
        raise AuthError(
            "--browser-login needs --client-id (the External Client App's consumer key) and --instance-url",
            hint="See docs/admin-setup.md section 7b for the app's settings (callback URL, PKCE).",
        )
    instance = _check_url(options.instance_url, "--instance-url")
    ring = _keyring()
    name = _keyring_name(instance, options.client_id)
    stored = ring.get_password(KEYRING_SERVICE, name) if ring else None
    refresh = stored
    if stored:
        try:
            token, instance_url = _refresh_grant(options, stored, http)
        except AuthError:
            ring.delete_password(KEYRING_SERVICE, name)  # type: ignore[union-attr]
            stored = None
    if not stored:
        token, instance_url, refresh = _browser_login(options, http, browser)
        if refresh and ring:
            ring.set_password(KEYRING_SERVICE, name, refresh)

    def renew() -> tuple[str, str]:
        if refresh:
            return _refresh_grant(options, refresh, http)
        token_, instance_, _ = _browser_login(options, http, browser)
        return token_, instance_

    return token, instance_url, renew


SfRunner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run_sf(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _sf_json(args: list[str], run: SfRunner, secrets: list[str]) -> dict[str, Any]:
    try:
        completed = run(args)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AuthError(f"the Salesforce CLI could not be run ({type(exc).__name__})") from None
    try:
        document = json.loads(completed.stdout or "{}")
    except ValueError:
        document = {}
    if completed.returncode != 0 or not isinstance(document, dict) or document.get("status", 0) != 0:
        message = ""
        if isinstance(document, dict):
            message = str(document.get("message") or document.get("name") or "")
        raise AuthError(
            _redact(
                f"the Salesforce CLI failed: `{' '.join(args[:4])}`: "
                f"{message or 'exit ' + str(completed.returncode)}",
                secrets,
            ),
            hint="Check the alias with `sf org list`; log in again with `sf org login web --alias ...`.",
        )
    result = document.get("result")
    return result if isinstance(result, dict) else {}


def _sf_cli(options: AuthOptions, run: SfRunner | None) -> tuple[str, str]:
    alias = options.target_org or ""
    if run is None:
        if shutil.which("sf") is None:
            raise AuthError(
                f"--target-org {alias} needs the Salesforce CLI (`sf`), which is not installed",
                hint="Install it (npm install -g @salesforce/cli, needs Node >= 22) or use --access-token/"
                "--instance-url, --client-id/--client-secret or --jwt-key-file instead.",
            )
        run = _run_sf
    shown = _sf_json(["sf", "org", "auth", "show-access-token", "--target-org", alias, "--json"], run, [])
    token = shown.get("accessToken") or shown.get("token")
    if not token:
        raise AuthError(f"the Salesforce CLI returned no access token for {alias}")
    instance = shown.get("instanceUrl") or options.instance_url
    if not instance:
        shown_org = _sf_json(["sf", "org", "display", "--target-org", alias, "--json"], run, [str(token)])
        instance = shown_org.get("instanceUrl")
    if not instance:
        raise AuthError(
            f"the Salesforce CLI returned no instance URL for {alias}", hint="Pass --instance-url."
        )
    return str(token), _check_url(str(instance), "the CLI's instance URL")


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


class OrgSession:
    """An authenticated connection to one org.

    ``session`` is a ``requests.Session`` whose ``Authorization: Bearer`` header is set; ``rest``
    and ``query`` add the base URL, refresh the token once on a 401 when the method allows it, and
    turn Salesforce error answers into ``OrgRequestError``.
    """

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        api_version: str,
        method: str,
        refresher: Callable[[], tuple[str, str]] | None = None,
        secrets: list[str] | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.method = method
        self.session = http or requests.Session()
        self._refresher = refresher
        self._token = access_token
        self._secrets = [*(secrets or []), access_token]
        self.session.headers["Authorization"] = f"Bearer {access_token}"
        self.session.headers.setdefault("Accept", "application/json")

    @property
    def jwt_token(self) -> bool:
        """True for a JWT-based access token (three base64url parts, a JSON header with ``alg``)."""
        return is_jwt(self._token)

    def __repr__(self) -> str:
        return (
            f"OrgSession(instance_url={self.instance_url!r}, api_version={self.api_version!r}, "
            f"method={self.method!r})"
        )

    __str__ = __repr__

    @property
    def can_refresh(self) -> bool:
        return self._refresher is not None

    def redact(self, text: str) -> str:
        """``text`` with every secret of this session replaced (for messages built from answers)."""
        return _redact(text, sorted(set(self._secrets), key=len, reverse=True))

    def refresh(self) -> None:
        """Get a new token from the same flow; AuthError when the flow cannot (a bare token)."""
        if self._refresher is None:
            raise AuthError(
                f"the org rejected the session ({self.method}) and it cannot be renewed",
                hint="Get a new access token (sf org auth show-access-token) "
                "or use a flow that can log in again.",
            )
        token, instance = self._refresher()
        self._token = token
        self._secrets.append(token)
        self.instance_url = instance.rstrip("/")
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        """Absolute URL: ``/services/...`` is taken from the instance root, anything else is
        relative to ``/services/data/vXX.X/`` (``tooling/query``, ``sobjects/User``)."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return self.instance_url + path
        return f"{self.instance_url}/services/data/v{self.api_version}/{path}"

    def rest(self, method: str, path: str, **kw: Any) -> requests.Response:
        """One HTTP request to the org; on 401 the token is renewed once (when possible) and retried.

        Returns the response whatever its status; see ``rest_json`` for the raising variant.
        """
        kw.setdefault("timeout", HTTP_TIMEOUT)
        url = self.url(path)
        try:
            response = self.session.request(method, url, **kw)
            if response.status_code == 401 and self._refresher is not None:
                self.refresh()
                response = self.session.request(method, self.url(path), **kw)
        except requests.RequestException as exc:
            raise unreachable(url, exc, self._secrets) from None
        if response.status_code == 401:
            raise AuthError(
                f"the org rejected the session ({self.method}): {self._error_text(response)}",
                hint="The token expired or was revoked; log in again.",
            )
        return response

    def _error_text(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return self.redact(f"HTTP {response.status_code}: {response.text[:300]}")
        if isinstance(body, list) and body and isinstance(body[0], dict):
            parts = [f"{e.get('errorCode', '')}: {e.get('message', '')}".strip(": ") for e in body]
            return self.redact(f"HTTP {response.status_code}: " + "; ".join(parts))
        return self.redact(f"HTTP {response.status_code}: {json.dumps(body)[:300]}")

    def rest_json(self, method: str, path: str, **kw: Any) -> Any:
        """``rest`` that returns the JSON body and raises ``OrgRequestError`` on any status >= 300."""
        response = self.rest(method, path, **kw)
        if response.status_code >= 300:
            raise OrgRequestError(
                f"{method} {urlparse(self.url(path)).path} failed: {self._error_text(response)}",
                status=response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def query(self, soql: str, *, tooling: bool = False) -> list[dict[str, Any]]:
        """All records of a SOQL query (following ``nextRecordsUrl``); Tooling API when ``tooling``."""
        return list(self.iter_query(soql, tooling=tooling))

    def iter_query(self, soql: str, *, tooling: bool = False) -> Iterator[dict[str, Any]]:
        path = "tooling/query" if tooling else "query"
        body = self.rest_json("GET", path, params={"q": soql})
        while True:
            yield from body.get("records", [])
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            body = self.rest_json("GET", next_url)

    def metadata_soap(self, action: str, body_xml: str) -> Any:
        """Call a Metadata API SOAP operation (``<met:{action}>`` with ``body_xml`` inside it).

        Returns the ``{action}Response`` element (``xml.etree``). The session id goes in the SOAP
        header; faults become ``OrgRequestError`` (``AuthError`` for an invalid session that
        cannot be renewed), with any secret removed.
        """
        import xml.etree.ElementTree as ET
        from xml.sax.saxutils import escape

        if self.jwt_token and float(self.api_version) < float(API_JWT_SOAP_MIN):
            raise AuthError(
                f"{action}: this org issues JWT-based access tokens, which the SOAP Metadata API accepts "
                f"only from API {API_JWT_SOAP_MIN} (this session uses {self.api_version})",
                hint=f"Pass --api-version {API_JWT_SOAP_MIN} (or leave --api-version out: the org's newest "
                "is used), or switch off 'Issue JSON Web Token (JWT)-based access tokens' in the app's OAuth "
                "settings.",
            )
        for attempt in (1, 2):
            envelope = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:met="http://soap.sforce.com/2006/04/metadata">'
                f"<soapenv:Header><met:SessionHeader><met:sessionId>{escape(self._token)}</met:sessionId>"
                "</met:SessionHeader></soapenv:Header>"
                f"<soapenv:Body><met:{action}>{body_xml}</met:{action}></soapenv:Body></soapenv:Envelope>"
            )
            url = self.url(f"/services/Soap/m/{self.api_version}")
            try:
                response = self.session.post(
                    url,
                    data=envelope.encode("utf-8"),
                    headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": action},
                    timeout=HTTP_TIMEOUT,
                )
            except requests.RequestException as exc:
                raise unreachable(url, exc, self._secrets) from None
            try:
                root = ET.fromstring(response.content)
            except ET.ParseError:
                raise OrgRequestError(
                    f"{action}: the org answered HTTP {response.status_code} without a SOAP envelope",
                    status=response.status_code,
                ) from None
            fault = root.find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
            if fault is not None:
                text = self.redact(
                    (fault.findtext("faultstring") or fault.findtext("faultcode") or "").strip()
                )
                if "INVALID_SESSION_ID" in text:
                    if attempt == 1 and self._refresher is not None:
                        self.refresh()
                        continue
                    raise AuthError(f"{action}: the org rejected the session: {text}")
                raise OrgRequestError(f"{action} failed: {text}", status=response.status_code)
            found = root.find(f".//{{http://soap.sforce.com/2006/04/metadata}}{action}Response")
            if found is None:
                raise OrgRequestError(
                    f"{action}: no {action}Response in the answer", status=response.status_code
                )
            return found
        raise AssertionError("unreachable")  # pragma: no cover

    def salesforce(self) -> Any:
        """A fresh ``simple_salesforce.Salesforce`` on this session's token.

        A new object (and its own headers dict and ``requests.Session``) on every call: its
        metadata calls merge ``Content-Type: text/xml`` and ``SOAPAction`` into its headers in
        place, which must not leak into this session's REST calls.
        """
        from simple_salesforce import Salesforce

        http = requests.Session()
        http.headers.update({k: v for k, v in self.session.headers.items() if k.lower() != "authorization"})
        return Salesforce(
            session_id=self._token, instance_url=self.instance_url, version=self.api_version, session=http
        )


def is_jwt(token: str) -> bool:
    import base64

    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


def resolve_api_version(org: OrgSession) -> str:
    """The org's newest API version that this tool supports (``GET /services/data/``, REST API
    Developer Guide "Versions"), never below ``API_FLOOR``."""
    versions = org.rest_json("GET", "/services/data/")
    offered = sorted(
        (str(v.get("version")) for v in versions or [] if isinstance(v, dict) and v.get("version")), key=float
    )
    usable = [v for v in offered if float(API_FLOOR) <= float(v) <= float(API_NEWEST_SUPPORTED)]
    if not usable:
        newest = offered[-1] if offered else "none"
        raise UsageError(
            f"{org.instance_url} offers API versions up to {newest}; jtel-sf needs {API_FLOOR} or later",
            hint="Pass --api-version to force one (at your own risk).",
        )
    return usable[-1]


def connect(
    options: AuthOptions,
    *,
    warn: Callable[[str], None] | None = None,
    sf_runner: SfRunner | None = None,
    http: requests.Session | None = None,
    default_api_version: str | None = None,
    negotiate_version: bool = False,
    browser: Browser | None = None,
) -> OrgSession:
    """Log in with the first complete set of credentials in ``options`` (see the module doc).

    The API version is ``--api-version``; else, with ``negotiate_version``, the org's newest
    version the tool supports (``resolve_api_version``); else ``default_api_version``, else the
    built-in default of ``Settings``.
    """
    org = _connect(
        options, warn=warn, sf_runner=sf_runner, http=http, default_api_version=default_api_version
    )
    if negotiate_version and not options.api_version:
        org.api_version = resolve_api_version(org)
    return org


def _connect(
    options: AuthOptions,
    *,
    warn: Callable[[str], None] | None,
    sf_runner: SfRunner | None,
    http: requests.Session | None,
    default_api_version: str | None,
    browser: Browser | None = None,
) -> OrgSession:
    api_version = _normalise_version(options.api_version or default_api_version or _default_api_version())
    warn = warn or (lambda message: print(message, file=sys.stderr))
    login_http = requests.Session()
    secrets = options.secrets()

    def session(
        token: str, instance: str, method: str, refresher: Callable[[], tuple[str, str]] | None
    ) -> OrgSession:
        return OrgSession(
            instance_url=instance,
            access_token=token,
            api_version=api_version,
            method=method,
            refresher=refresher,
            secrets=secrets,
            http=http,
        )

    if options.access_token:
        if not options.instance_url:
            raise AuthError(
                "--access-token (SF_ACCESS_TOKEN) needs --instance-url (SF_INSTANCE_URL)",
                hint="The instance URL is the org's My Domain URL, e.g. https://acme.my.salesforce.com.",
            )
        instance = _check_url(options.instance_url, "--instance-url")
        return session(options.access_token, instance, "access-token", None)

    if options.target_org:
        # jtel-sf's own scratch orgs first (`jtel-sf org create`), then the sf CLI's aliases.
        from .org.scratch_registry import session_for_alias

        own = session_for_alias(options.target_org, api_version)
        if own is not None:
            return own

        def via_cli() -> tuple[str, str]:
            return _sf_cli(options, sf_runner)

        return session(*via_cli(), "sf-cli", via_cli)

    if options.browser_login:
        token, instance, renew = browser_session_tokens(options, login_http, browser)
        return session(token, instance, "browser-login", renew)

    if options.client_id and options.client_secret and not options.password:

        def via_client_credentials() -> tuple[str, str]:
            return _client_credentials(options, login_http)

        return session(*via_client_credentials(), "client-credentials", via_client_credentials)

    if options.client_id and options.jwt_key_file:
        if not options.username:
            raise AuthError("the JWT bearer flow needs --username (the user the token is issued for)")

        def via_jwt() -> tuple[str, str]:
            return _jwt_bearer(options, login_http)

        return session(*via_jwt(), "jwt-bearer", via_jwt)

    if options.username and options.password:
        warn(PASSWORD_FLOW_WARNING)

        def via_password() -> tuple[str, str]:
            return _password_flow(options, login_http, api_version)

        return session(*via_password(), "password", via_password)

    given = [
        name
        for name in ("client_id", "client_secret", "jwt_key_file", "username", "instance_url")
        if getattr(options, name)
    ]
    detail = f" (given: {', '.join('--' + g.replace('_', '-') for g in given)})" if given else ""
    raise AuthError(
        "no complete org credentials" + detail,
        hint="Use one of: --access-token + --instance-url; --target-org ALIAS (sf CLI); --client-id + "
        "--client-secret + --instance-url (client credentials); --client-id + --jwt-key-file + --username "
        "(JWT bearer); --username + --password [+ --security-token] (retiring).",
    )
