"""Every way of reaching an org, replayed from documented Salesforce answers (no org here).

Each test uses distinctive secret values and checks that none of them shows up in anything a
user (or a log) could see: repr/str of the objects, exception messages, warnings.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jtel_sf.auth import (
    PASSWORD_FLOW_WARNING,
    AuthOptions,
    OrgRequestError,
    OrgSession,
    connect,
)
from jtel_sf.errors import EXIT_USAGE, AuthError, OrgUnreachable, UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "http"
INSTANCE = "https://acme.my.salesforce.com"
TOKEN = "00D000000000000!AQ0-test-access-token-7c1e"
NEW_TOKEN = "00D000000000000!AQ0-test-refreshed-token-51d0"
CLIENT_SECRET = "test-client-secret-9b2f4"
PASSWORD = "test-password-Q7x"
SECURITY_TOKEN = "test-security-token-k3"
ALL_SECRETS = (TOKEN, NEW_TOKEN, CLIENT_SECRET, PASSWORD, SECURITY_TOKEN)


def fixture(name: str, **fill: str) -> Any:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in fill.items():
        text = text.replace("{{" + key + "}}", value)
    return text if name.endswith(".xml") else json.loads(text)


def add_json(rsps: responses.RequestsMock, method: str, url: str, name: str, **fill: str) -> None:
    doc = fixture(name, **fill)
    rsps.add(method, url, json=doc["body"], status=doc["status"])


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in str(text), f"a secret leaked into: {str(text)[:200]}"


def test_fixture_files_are_labelled_and_hold_no_secret() -> None:
    files = sorted(FIXTURES.iterdir())
    assert files, "no HTTP fixtures found"
    token_like = re.compile(r"00D[0-9A-Za-z]{12,15}![0-9A-Za-z._-]{20,}")
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "built from documentation:" in text, f"{path.name} does not say where it comes from"
        assert "recorded from a real org" not in text.replace("not recorded from a real org", ""), path.name
        assert not token_like.search(text), f"{path.name} contains something shaped like an access token"
        assert_no_secret(text)


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


def test_from_click_takes_auth_keys_only_and_ignores_blanks() -> None:
    options = AuthOptions.from_click(
        {"instance_url": INSTANCE, "access_token": TOKEN, "client_id": "  ", "as_json": True, "wait": 5}
    )
    assert options.instance_url == INSTANCE
    assert options.access_token == TOKEN
    assert options.client_id is None
    assert options.login_domain == "login"


def test_repr_of_options_hides_every_secret() -> None:
    options = AuthOptions(
        instance_url=INSTANCE,
        access_token=TOKEN,
        client_id="3MVGclientid",
        client_secret=CLIENT_SECRET,
        username="int@acme.example",
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
    )
    assert "3MVGclientid" in repr(options)
    assert_no_secret(repr(options), str(options))


def test_no_credentials_is_an_auth_error_listing_the_ways_in() -> None:
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(client_id="abc"))
    assert info.value.exit_code == EXIT_USAGE
    assert "no complete org credentials" in str(info.value)
    assert "--client-id" in str(info.value)
    assert "--jwt-key-file" in (info.value.hint or "")


# ---------------------------------------------------------------------------------------------
# 1. access token
# ---------------------------------------------------------------------------------------------


@responses.activate
def test_access_token_path_sends_bearer_and_never_shows_it() -> None:
    add_json(responses.mock, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")
    org = connect(AuthOptions(instance_url=INSTANCE + "/", access_token=TOKEN, api_version="v62"))
    assert org.method == "access-token"
    assert org.api_version == "62.0"
    assert org.instance_url == INSTANCE
    versions = org.rest_json("GET", "/services/data/")
    assert versions[-1]["version"] == "62.0"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert not org.can_refresh
    assert_no_secret(repr(org), str(org))


def test_access_token_without_instance_url_is_refused() -> None:
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(access_token=TOKEN))
    assert "--instance-url" in str(info.value)
    assert_no_secret(info.value, info.value.hint)


def test_plain_http_is_only_allowed_for_loopback() -> None:
    with pytest.raises(UsageError):
        connect(AuthOptions(instance_url="http://acme.my.salesforce.com", access_token=TOKEN))
    org = connect(AuthOptions(instance_url="http://127.0.0.1:8765", access_token=TOKEN))
    assert org.url("query") == "http://127.0.0.1:8765/services/data/v61.0/query"


def test_bad_api_version_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        connect(AuthOptions(instance_url=INSTANCE, access_token=TOKEN, api_version="latest"))


@responses.activate
def test_expired_bare_token_gives_a_clear_auth_error() -> None:
    add_json(responses.mock, "GET", f"{INSTANCE}/services/data/", "rest_invalid_session.json")
    org = connect(AuthOptions(instance_url=INSTANCE, access_token=TOKEN))
    with pytest.raises(AuthError) as info:
        org.rest("GET", "/services/data/")
    assert "INVALID_SESSION_ID" in str(info.value)
    assert_no_secret(info.value, info.value.hint)


# ---------------------------------------------------------------------------------------------
# 2. sf CLI
# ---------------------------------------------------------------------------------------------


def fake_sf(
    tmp_path: Path, show: dict[str, Any], display: dict[str, Any] | None = None, code: int = 0
) -> Path:
    """An executable ``sf`` on PATH that answers like the CLI's --json output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "sf"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"show = {json.dumps(show)!r}\n"
        f"display = {json.dumps(display or {})!r}\n"
        "args = sys.argv[1:]\n"
        "open(__file__ + '.calls', 'a').write(' '.join(args) + '\\n')\n"
        "print(show if args[:3] == ['org', 'auth', 'show-access-token'] else display)\n"
        f"sys.exit({code})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_target_org_reads_the_token_from_show_access_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_sf(
        tmp_path,
        {"status": 0, "result": {"accessToken": TOKEN, "instanceUrl": INSTANCE}},
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    org = connect(AuthOptions(target_org="acme-sandbox"))
    assert org.method == "sf-cli"
    assert org.instance_url == INSTANCE
    assert org.session.headers["Authorization"] == f"Bearer {TOKEN}"
    calls = (bin_dir / "sf.calls").read_text(encoding="utf-8").splitlines()
    assert calls == ["org auth show-access-token --target-org acme-sandbox --json"]
    assert org.can_refresh
    assert_no_secret(repr(org))


def test_target_org_falls_back_to_org_display_for_the_instance_url(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def runner(args: list[str]) -> Any:
        seen.append(args)
        import subprocess

        if args[1:4] == ["org", "auth", "show-access-token"]:
            out = {"status": 0, "result": {"accessToken": TOKEN}}
        else:
            out = {"status": 0, "result": {"accessToken": "[REDACTED]", "instanceUrl": INSTANCE}}
        return subprocess.CompletedProcess(args, 0, json.dumps(out), "")

    org = connect(AuthOptions(target_org="prod"), sf_runner=runner)
    assert org.instance_url == INSTANCE
    assert [a[1:3] for a in seen] == [["org", "auth"], ["org", "display"]]


def test_target_org_unknown_alias_shows_the_cli_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_sf(
        tmp_path,
        {
            "status": 1,
            "name": "NamedOrgNotFoundError",
            "message": "No authorization information found for nope.",
        },
        code=1,
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(target_org="nope"))
    assert "No authorization information found for nope" in str(info.value)
    assert "sf org list" in (info.value.hint or "")


def test_target_org_without_the_sf_cli_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(target_org="acme"))
    assert "Salesforce CLI" in str(info.value) and "not installed" in str(info.value)
    assert "--client-id" in (info.value.hint or "")


# ---------------------------------------------------------------------------------------------
# 3. client credentials
# ---------------------------------------------------------------------------------------------


@responses.activate
def test_client_credentials_posts_the_documented_form_to_my_domain() -> None:
    add_json(
        responses.mock,
        "POST",
        f"{INSTANCE}/services/oauth2/token",
        "oauth_client_credentials_ok.json",
        ACCESS_TOKEN=TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    org = connect(AuthOptions(instance_url=INSTANCE, client_id="3MVGclient", client_secret=CLIENT_SECRET))
    assert org.method == "client-credentials"
    assert org.session.headers["Authorization"] == f"Bearer {TOKEN}"
    form = parse_qs(responses.calls[0].request.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["3MVGclient"],
        "client_secret": [CLIENT_SECRET],
    }
    assert_no_secret(repr(org))


def test_client_credentials_against_the_local_endpoint_on_loopback(caplog: pytest.LogCaptureFixture) -> None:
    """The same flow works against http://127.0.0.1:<port> (the local stand-in); real HTTP, so the
    debug logs of requests/urllib3 are captured too and must not carry a secret."""
    import logging

    caplog.set_level(logging.DEBUG)
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            ok = form.get("client_secret") == [CLIENT_SECRET]
            port = self.server.server_address[1]
            body = (
                {"access_token": TOKEN, "instance_url": f"http://127.0.0.1:{port}", "token_type": "Bearer"}
                if ok
                else {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
            data = json.dumps(body).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        org = connect(AuthOptions(instance_url=base, client_id="local", client_secret=CLIENT_SECRET))
        assert org.instance_url == base
        with pytest.raises(AuthError) as info:
            connect(AuthOptions(instance_url=base, client_id="local", client_secret="wrong-secret-value"))
        assert "invalid_client" in str(info.value)
        assert "wrong-secret-value" not in str(info.value)
        org.rest("POST", "/services/oauth2/token", data={"client_secret": CLIENT_SECRET})
    finally:
        server.shutdown()
        server.server_close()
    assert "127.0.0.1" in caplog.text  # urllib3 did log the connections
    assert_no_secret(caplog.text)
    assert "wrong-secret-value" not in caplog.text


@pytest.mark.parametrize(
    ("fixture_name", "expected"),
    [
        ("oauth_invalid_client.json", "invalid_client (invalid client credentials)"),
        ("oauth_invalid_grant_client_credentials.json", "invalid_grant (no client credentials user enabled)"),
        ("oauth_unsupported_grant_type.json", "unsupported_grant_type"),
    ],
)
@responses.activate
def test_client_credentials_refusals_become_clear_auth_errors(fixture_name: str, expected: str) -> None:
    add_json(responses.mock, "POST", f"{INSTANCE}/services/oauth2/token", fixture_name)
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(instance_url=INSTANCE, client_id="3MVGclient", client_secret=CLIENT_SECRET))
    assert expected in str(info.value)
    assert info.value.hint
    assert info.value.exit_code == EXIT_USAGE
    assert_no_secret(info.value, info.value.hint, repr(info.value))


def test_client_credentials_need_my_domain() -> None:
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(client_id="3MVGclient", client_secret=CLIENT_SECRET))
    assert "My Domain" in str(info.value)


@responses.activate
def test_client_credentials_with_login_domain_my_domain_prefix() -> None:
    add_json(
        responses.mock,
        "POST",
        "https://acme.my.salesforce.com/services/oauth2/token",
        "oauth_client_credentials_ok.json",
        ACCESS_TOKEN=TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    org = connect(AuthOptions(login_domain="acme.my", client_id="c", client_secret=CLIENT_SECRET))
    assert org.instance_url == INSTANCE


@responses.activate
def test_client_credentials_refresh_on_401_gets_a_new_token_and_retries() -> None:
    token_url = f"{INSTANCE}/services/oauth2/token"
    add_json(
        responses.mock,
        "POST",
        token_url,
        "oauth_client_credentials_ok.json",
        ACCESS_TOKEN=TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    add_json(
        responses.mock,
        "POST",
        token_url,
        "oauth_client_credentials_ok.json",
        ACCESS_TOKEN=NEW_TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    add_json(responses.mock, "GET", f"{INSTANCE}/services/data/", "rest_invalid_session.json")
    add_json(responses.mock, "GET", f"{INSTANCE}/services/data/", "rest_versions.json")
    org = connect(AuthOptions(instance_url=INSTANCE, client_id="c", client_secret=CLIENT_SECRET))
    body = org.rest_json("GET", "/services/data/")
    assert body[0]["version"] == "60.0"
    gets = [c.request for c in responses.calls if c.request.method == "GET"]
    assert [g.headers["Authorization"] for g in gets] == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


@responses.activate
def test_unreachable_token_endpoint() -> None:
    responses.add("POST", f"{INSTANCE}/services/oauth2/token", body=requests.ConnectionError("refused"))
    with pytest.raises(OrgUnreachable) as info:
        connect(AuthOptions(instance_url=INSTANCE, client_id="c", client_secret=CLIENT_SECRET))
    assert str(info.value).startswith("cannot reach acme.my.salesforce.com: ")
    assert info.value.exit_code == 5
    assert_no_secret(info.value)


@responses.activate
def test_token_endpoint_answering_html_is_explained() -> None:
    responses.add("POST", f"{INSTANCE}/services/oauth2/token", body="<html>nope</html>", status=404)
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(instance_url=INSTANCE, client_id="c", client_secret=CLIENT_SECRET))
    assert "HTTP 404" in str(info.value)


# ---------------------------------------------------------------------------------------------
# 4. JWT bearer
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "server.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


@pytest.mark.parametrize(
    ("domain", "audience", "host"),
    [
        ("login", "https://login.salesforce.com", "https://login.salesforce.com"),
        ("test", "https://test.salesforce.com", "https://test.salesforce.com"),
    ],
)
@responses.activate
def test_jwt_bearer_signs_a_documented_assertion(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, domain: str, audience: str, host: str
) -> None:
    add_json(
        responses.mock,
        "POST",
        f"{host}/services/oauth2/token",
        "oauth_jwt_ok.json",
        ACCESS_TOKEN=TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    key_file = write_key(tmp_path, rsa_key)
    org = connect(
        AuthOptions(
            client_id="3MVGjwt", jwt_key_file=str(key_file), username="int@acme.example", login_domain=domain
        )
    )
    assert org.method == "jwt-bearer"
    assert org.instance_url == INSTANCE
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], rsa_key.public_key(), algorithms=["RS256"], audience=audience)
    assert claims["iss"] == "3MVGjwt"
    assert claims["sub"] == "int@acme.example"
    assert 0 < claims["exp"] - time.time() <= 300


@responses.activate
def test_jwt_bearer_refusal_is_a_clear_auth_error(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    add_json(
        responses.mock,
        "POST",
        "https://test.salesforce.com/services/oauth2/token",
        "oauth_jwt_invalid_grant.json",
    )
    key_file = write_key(tmp_path, rsa_key)
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(client_id="c", jwt_key_file=str(key_file), username="u@x", login_domain="test"))
    assert "invalid_grant (user hasn't approved this consumer)" in str(info.value)
    assert "pre-authorise" in (info.value.hint or "")
    key_text = key_file.read_text()
    assert key_text.splitlines()[1] not in str(info.value)


def test_jwt_bearer_with_an_unusable_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key", encoding="utf-8")
    with pytest.raises(AuthError) as info:
        connect(AuthOptions(client_id="c", jwt_key_file=str(bad), username="u@x"))
    assert "not a usable RSA private key" in str(info.value)
    with pytest.raises(AuthError) as missing:
        connect(AuthOptions(client_id="c", jwt_key_file=str(tmp_path / "none.key"), username="u@x"))
    assert "cannot read the key file" in str(missing.value)
    with pytest.raises(AuthError):
        connect(AuthOptions(client_id="c", jwt_key_file=str(bad)))


# ---------------------------------------------------------------------------------------------
# 5. username + password (retiring)
# ---------------------------------------------------------------------------------------------


@responses.activate
def test_password_flow_via_soap_login_warns_and_works() -> None:
    responses.add(
        "POST",
        "https://login.salesforce.com/services/Soap/u/61.0",
        body=fixture("soap_login_ok.xml", ACCESS_TOKEN=TOKEN),
        status=200,
        content_type="text/xml",
    )
    warnings: list[str] = []
    org = connect(
        AuthOptions(username="int@acme.example", password=PASSWORD, security_token=SECURITY_TOKEN),
        warn=warnings.append,
    )
    assert warnings == [PASSWORD_FLOW_WARNING]
    assert "retired" in warnings[0]
    assert org.method == "password"
    assert org.instance_url == INSTANCE
    sent = responses.calls[0].request.body
    sent = sent.decode() if isinstance(sent, bytes) else sent
    assert PASSWORD + SECURITY_TOKEN in sent  # the secret goes to Salesforce and nowhere else
    assert_no_secret(repr(org), *warnings)


@responses.activate
def test_password_flow_bad_password_is_a_clear_auth_error() -> None:
    responses.add(
        "POST",
        "https://login.salesforce.com/services/Soap/u/61.0",
        body=fixture("soap_login_invalid.xml"),
        status=500,
        content_type="text/xml",
    )
    with pytest.raises(AuthError) as info:
        connect(
            AuthOptions(username="u@x", password=PASSWORD, security_token=SECURITY_TOKEN), warn=lambda m: None
        )
    assert "INVALID_LOGIN" in str(info.value)
    assert_no_secret(info.value, info.value.hint)


@responses.activate
def test_password_flow_via_oauth_when_a_client_id_is_given() -> None:
    add_json(
        responses.mock,
        "POST",
        "https://login.salesforce.com/services/oauth2/token",
        "oauth_password_ok.json",
        ACCESS_TOKEN=TOKEN,
        INSTANCE_URL=INSTANCE,
    )
    org = connect(
        AuthOptions(
            client_id="c",
            client_secret=CLIENT_SECRET,
            username="u@x",
            password=PASSWORD,
            security_token=SECURITY_TOKEN,
        ),
        warn=lambda m: None,
    )
    assert org.method == "password"
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["password"]
    assert form["password"] == [PASSWORD + SECURITY_TOKEN]


@responses.activate
def test_password_flow_oauth_refusal() -> None:
    add_json(
        responses.mock,
        "POST",
        "https://login.salesforce.com/services/oauth2/token",
        "oauth_password_invalid_grant.json",
    )
    with pytest.raises(AuthError) as info:
        connect(
            AuthOptions(client_id="c", client_secret=CLIENT_SECRET, username="u@x", password=PASSWORD),
            warn=lambda m: None,
        )
    assert "invalid_grant (authentication failure)" in str(info.value)
    assert_no_secret(info.value, info.value.hint)


# ---------------------------------------------------------------------------------------------
# the session
# ---------------------------------------------------------------------------------------------


@responses.activate
def test_query_follows_next_records_url_and_uses_tooling() -> None:
    responses.add(
        "GET",
        f"{INSTANCE}/services/data/v61.0/tooling/query",
        json={
            "done": False,
            "totalSize": 2,
            "records": [{"Id": "1"}],
            "nextRecordsUrl": "/services/data/v61.0/tooling/query/01g-2000",
        },
    )
    responses.add(
        "GET",
        f"{INSTANCE}/services/data/v61.0/tooling/query/01g-2000",
        json={"done": True, "totalSize": 2, "records": [{"Id": "2"}]},
    )
    org = OrgSession(instance_url=INSTANCE, access_token=TOKEN, api_version="61.0", method="access-token")
    assert [r["Id"] for r in org.query("SELECT Id FROM ApexClass", tooling=True)] == ["1", "2"]


@responses.activate
def test_rest_errors_carry_salesforce_error_codes_but_no_token() -> None:
    responses.add(
        "GET",
        f"{INSTANCE}/services/data/v61.0/query",
        json=[{"message": f"bad thing near {TOKEN}", "errorCode": "MALFORMED_QUERY"}],
        status=400,
    )
    org = OrgSession(instance_url=INSTANCE, access_token=TOKEN, api_version="61.0", method="access-token")
    with pytest.raises(OrgRequestError) as info:
        org.query("SELECT nonsense")
    assert "MALFORMED_QUERY" in str(info.value)
    assert info.value.status == 400
    assert_no_secret(info.value)


def test_salesforce_object_gets_its_own_headers() -> None:
    org = OrgSession(instance_url=INSTANCE, access_token=TOKEN, api_version="61.0", method="access-token")
    sf = org.salesforce()
    assert sf.session_id == TOKEN
    assert sf.sf_version == "61.0"
    sf.headers["SOAPAction"] = "deploy"  # what simple-salesforce's metadata calls do in place
    assert "SOAPAction" not in org.session.headers
    assert sf.session is not org.session
    assert "SOAPAction" not in org.salesforce().headers
