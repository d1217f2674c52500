"""jtel-sf's own list of its scratch orgs, and logging in to them again.

The list is ``scratch-orgs.json`` in the user's config folder (``$XDG_CONFIG_HOME/jtel-sf``, else
``~/.config/jtel-sf``): alias, username, org id, instance and login URL, Dev Hub, expiry and how to
log in again. It never holds a secret. Logging in again:

- ``jwt``: the Dev Hub was reached with JWT, so the same client id and key file log in to the
  scratch org (the key file's *path* is kept, not the key);
- ``refresh-token``: the AuthCode exchange gave a refresh token; it lives in this process's memory
  and, when the ``keyring`` package with a working backend is installed, in the operating system's
  keyring (service ``jtel-sf``). Without either, another process cannot reach the org.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..auth import OrgSession
from ..errors import AuthError, UsageError
from .scratch import ScratchOrg, jwt_login, refresh_token_login

REGISTRY_FILE = "scratch-orgs.json"
KEYRING_SERVICE = "jtel-sf"

# username -> live session / refresh token of this process (never written anywhere)
_SESSIONS: dict[str, OrgSession] = {}
_REFRESH_TOKENS: dict[str, str] = {}


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jtel-sf"


def registry_path() -> Path:
    return config_dir() / REGISTRY_FILE


def load() -> list[ScratchOrg]:
    path = registry_path()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not readable ({exc}); fix or remove it") from None
    return [ScratchOrg.from_json(item) for item in data.get("orgs", [])]


def save(orgs: list[ScratchOrg]) -> Path:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "_about": "jtel-sf's scratch orgs. No secrets: tokens stay in memory or the OS keyring.",
        "orgs": [o.to_json() for o in orgs],
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scratch-orgs-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
    return path


def find(name: str) -> ScratchOrg | None:
    for org in load():
        if name in (org.alias, org.username):
            return org
    return None


def add(org: ScratchOrg) -> Path:
    orgs = [o for o in load() if o.alias != org.alias and o.username != org.username]
    return save([*orgs, org])


def remove(org: ScratchOrg) -> None:
    save([o for o in load() if o.username != org.username])
    _SESSIONS.pop(org.username, None)
    _REFRESH_TOKENS.pop(org.username, None)
    keyring = _keyring()
    if keyring is not None:
        with contextlib.suppress(Exception):
            keyring.delete_password(KEYRING_SERVICE, org.username)


def _keyring() -> Any:
    """The ``keyring`` module when it is installed with a usable backend, else None."""
    try:
        import keyring  # type: ignore[import-not-found]
        from keyring.backends import fail  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
    except Exception:
        return None
    return keyring


def remember(org: ScratchOrg, session: OrgSession, refresh_token: str = "") -> str:
    """Keep the live session (and refresh token) for this process; the refresh token also in the
    keyring when there is one. Returns where the refresh token went ("" for JWT orgs)."""
    _SESSIONS[org.username] = session
    if not refresh_token:
        return ""
    _REFRESH_TOKENS[org.username] = refresh_token
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, org.username, refresh_token)
            return "keyring"
        except Exception:
            pass
    return "memory"


def forget_sessions() -> None:
    """Drop every in-memory session (what a new process starts with)."""
    _SESSIONS.clear()
    _REFRESH_TOKENS.clear()


def session_for(org: ScratchOrg, api_version: str) -> OrgSession:
    """A session on one of jtel-sf's scratch orgs: this process's, else a new login."""
    live = _SESSIONS.get(org.username)
    if live is not None:
        return live
    if org.login.get("method") == "jwt":
        key_file = org.login.get("keyFile", "")
        if not Path(key_file).is_file():
            raise AuthError(
                f"scratch org {org.alias}: the JWT key file {key_file} it logs in with is gone",
                hint="Restore the key file, or delete the org and create a new one.",
            )
        session = jwt_login(
            login_url=org.login_url,
            client_id=org.login["clientId"],
            key_file=key_file,
            username=org.username,
            api_version=api_version,
        )
    else:
        token = _REFRESH_TOKENS.get(org.username)
        keyring = _keyring()
        if not token and keyring is not None:
            with contextlib.suppress(Exception):
                token = keyring.get_password(KEYRING_SERVICE, org.username)
        if not token:
            raise AuthError(
                f"scratch org {org.alias} was logged in to with its one-time AuthCode, and its refresh token "
                "was only kept in the memory of the process that created it",
                hint="Install the keyring package (pip install keyring) to keep it in the OS keyring, or "
                "reach the Dev Hub with JWT (--dev-hub-client-id + --dev-hub-jwt-key-file + "
                "--dev-hub-username) so jtel-sf can log in again; `jtel-sf org prove` needs neither.",
            )
        session = refresh_token_login(
            login_url=org.login_url,
            client_id=org.login.get("clientId", "PlatformCLI"),
            refresh_token=token,
            api_version=api_version,
        )
    _SESSIONS[org.username] = session
    return session


def session_for_alias(name: str, api_version: str) -> OrgSession | None:
    """For ``--target-org``: a session when ``name`` is one of jtel-sf's scratch orgs, else None
    (the caller then asks the sf CLI)."""
    org = find(name)
    if org is None:
        return None
    return session_for(org, api_version)
