"""Where rows go and how the bearer token is obtained (and renewed once on a 401)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from jtel_sf.errors import AuthError, UsageError

TOKEN_PATH = "/services/oauth2/token"
HTTP_TIMEOUT = 60


class TokenSource:
    """Thread-safe holder of the current token; ``renew(seen)`` gets a new one unless another
    worker did already since ``seen`` was handed out."""

    def __init__(self, token: str | None, fetch: Callable[[], str] | None) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token = token if token is not None else (fetch() if fetch else None)
        if self._token is None:
            raise UsageError("no access token and no way to get one")

    def current(self) -> str:
        with self._lock:
            assert self._token is not None
            return self._token

    @property
    def can_renew(self) -> bool:
        return self._fetch is not None

    def renew(self, seen: str) -> str:
        with self._lock:
            if self._token != seen:
                assert self._token is not None
                return self._token
            if self._fetch is None:
                raise AuthError(
                    "the endpoint rejected the access token (401) and it cannot be renewed",
                    hint="Give a fresh --access-token, or --client-id/--client-secret to log in again.",
                )
            self._token = self._fetch()
            return self._token


def client_credentials_fetcher(token_url: str, client_id: str, client_secret: str) -> Callable[[], str]:
    """POST grant_type=client_credentials (form-encoded, as jtel does); returns the access token."""

    def fetch() -> str:
        try:
            reply = requests.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise AuthError(f"cannot reach the token endpoint {token_url}: {type(exc).__name__}") from None
        if reply.status_code != 200:
            error = ""
            try:
                body = reply.json()
                if isinstance(body, dict):
                    error = f"{body.get('error', '')}: {body.get('error_description', '')}"
            except ValueError:
                pass
            raise AuthError(
                f"the token endpoint refused the client credentials (HTTP {reply.status_code}) {error}"
            )
        token = reply.json().get("access_token")
        if not token:
            raise AuthError("the token endpoint answered without an access_token")
        return str(token)

    return fetch


def base_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url must be an http(s) URL, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Target:
    url: str
    tokens: TokenSource
    description: str
    limits_url: str | None = None  # the org's Limits resource (REST API), where there is one


def limits_url(base: str, api_version: str) -> str:
    """``<base>/services/data/vXX.X/limits`` (REST API Developer Guide, Limits resource)."""
    return f"{base.rstrip('/')}/services/data/v{api_version}/limits"


def url_target(
    url: str,
    access_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    api_version: str = "61.0",
) -> Target:
    base = base_of(url)
    limits = limits_url(base, api_version)
    if client_id and client_secret:
        fetch = client_credentials_fetcher(base + TOKEN_PATH, client_id, client_secret)
        return Target(url, TokenSource(access_token, fetch), f"{url} (client credentials)", limits)
    if access_token:
        return Target(url, TokenSource(access_token, None), f"{url} (access token)", limits)
    raise UsageError(
        "--url needs --access-token or --client-id and --client-secret",
        hint="Tokens come from <base>/services/oauth2/token with the client credentials flow.",
    )
