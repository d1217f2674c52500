"""Interactive login without the sf CLI: OAuth 2.0 web server flow with PKCE on localhost, through
the CLI against the fake org (tests/fakes/org.py: /services/oauth2/authorize and token built from
Salesforce Help "OAuth 2.0 Web Server Flow" and RFC 7636, not recorded). The browser is a thread
that follows the org's redirect, as a browser would."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import requests
from keyring.backend import KeyringBackend

from conftest import run_cli
from fakes.org import FakeOrg

CLIENT_ID = "3MVGbrowser-login-app"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOrg]:
    for name in ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_CLIENT_ID", "SF_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("JTEL_SF_LOGIN_PORT", str(port))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with FakeOrg() as fake:
        fake.seed_jtel("jtel.integration@acme.example", "3MVGjtel", "jtel-secret-0a9b")
        fake.add_client(CLIENT_ID, "", redirect_uri=f"http://localhost:{port}/OauthRedirect")
        yield fake


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    return opened


def login_args(org: FakeOrg) -> list[str]:
    return ["--instance-url", org.url, "--client-id", CLIENT_ID, "--browser-login"]


def files_containing(root: Path, secrets: list[str]) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            if any(s in text for s in secrets):
                hits.append(path)
    return hits


def test_browser_login_without_keyring_keeps_the_token_in_memory_only(
    org: FakeOrg,
    browser: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("jtel_sf.auth._keyring", lambda: None)
    code, out, err = run_cli(["quarantine", "list", *login_args(org)], capsys)
    assert code == 0, err
    assert out.strip() == "No quarantined requests."
    (url,) = browser
    assert url.startswith(f"{org.url}/services/oauth2/authorize?response_type=code&client_id={CLIENT_ID}")
    assert "code_challenge_method=S256" in url
    assert "If no browser opens, visit:" in err
    issued = [t for t, user in org.tokens.items() if user == "admin@acme.example" and t != org.admin_token]
    assert issued and not files_containing(tmp_path, [*issued, *org.refresh_tokens])
    assert not any(t in out + err for t in issued)
    # without a keyring, the next command logs in through the browser again
    assert run_cli(["quarantine", "list", *login_args(org)], capsys)[0] == 0
    assert len(browser) == 2


def test_browser_login_keeps_the_refresh_token_in_the_keyring_and_reuses_it(
    org: FakeOrg, browser: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        assert run_cli(["quarantine", "list", *login_args(org)], capsys)[0] == 0
        ((service, name), refresh) = next(iter(ring.items.items()))
        assert service == "jtel-sf" and name == f"{org.url}|{CLIENT_ID}"
        assert refresh in org.refresh_tokens
        code, _out, err = run_cli(["doctor", *login_args(org)], capsys)
        assert len(browser) == 1, "the second command used the refresh token, no browser"
        assert code in (0, 1), err
        assert not files_containing(tmp_path, list(org.refresh_tokens))
        # a refresh token the org no longer accepts: forgotten, and the browser is asked again
        org.refresh_tokens.clear()
        assert run_cli(["quarantine", "list", *login_args(org)], capsys)[0] == 0
        assert len(browser) == 2
    finally:
        keyring.set_keyring(previous)


def test_browser_login_needs_the_client_id_and_instance(
    org: FakeOrg, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(["quarantine", "list", "--browser-login", "--instance-url", org.url], capsys)
    assert code == 2 and "--browser-login needs --client-id" in err


def test_a_refused_authorization_is_an_auth_error(
    org: FakeOrg, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jtel_sf.auth._keyring", lambda: None)

    def deny(url: str) -> Any:
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(url).query)
        back = (
            f"{query['redirect_uri'][0]}?error=access_denied&error_description=end-user+denied+authorization"
        )
        threading.Thread(target=requests.get, args=(back,), kwargs={"timeout": 10}, daemon=True).start()

    monkeypatch.setattr("webbrowser.open", deny)
    code, _out, err = run_cli(["quarantine", "list", *login_args(org)], capsys)
    assert code == 2
    assert "browser login: the org refused: access_denied (end-user denied authorization)" in err
