"""Scrubbing of recorded HTTP exchanges: nothing that identifies an org or grants access may reach
the disk, and every replaced value gets a stable placeholder so a replay sends the same requests.

Replaced (in this order): known secrets and values registered by the run (the access token, the
instance URL, values of the matched agent user), OAuth token fields, Salesforce session ids,
Salesforce hosts (My Domain, login, instance, Visualforce, Lightning), e-mail addresses, the API
version in REST paths, org ids (``00D``) and record ids (15/18 characters), each mapped to a
placeholder that keeps the key prefix: ``REC-003-0001`` (not a valid Id on purpose, so it can
never be mistaken for, or re-scrubbed as, a real one).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

PLACEHOLDER_HOST = "org.example.invalid"
PLACEHOLDER_URL = f"https://{PLACEHOLDER_HOST}"
PLACEHOLDER_API_VERSION = "XX.X"
REDACTED = "[REDACTED]"

# Keys whose values are secrets or personal data wherever they appear in a JSON body.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "signature",
        "client_secret",
        "password",
        "sessionId",
        "session_id",
        "assertion",
        "code_verifier",
    }
)
PERSONAL_KEYS = frozenset(
    {
        "email",
        "preferred_username",
        "nickname",
        "given_name",
        "family_name",
        "name",
        "picture",
        "profile",
        "photos",
        "phone_number",
        "address",
        "username",
        "Username",
        "Email",
    }
)

_SESSION_ID = re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-!]+")
_SF_HOST = re.compile(
    r"(?i)\b(?:[a-z0-9-]+\.)*(?:salesforce|force|visualforce|salesforce-setup|salesforce-sites|"
    r"sfdcopens|cloudforce|database|documentforce|site|lightning\.force|my\.site)\.com\b"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_API_PATH = re.compile(r"/services/data/v\d+\.\d+")
_ID_TOKEN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]{18}|[A-Za-z0-9]{15})(?![A-Za-z0-9])")


def looks_like_record_id(token: str) -> bool:
    """A 15/18-character word that is a Salesforce Id rather than a word or a number.

    Real Ids carry a key prefix, digits and letters; words of that length have no digits, call ids
    and counters have no letters.
    """
    digits = sum(c.isdigit() for c in token)
    letters = sum(c.isalpha() for c in token)
    return len(token) in (15, 18) and digits >= 4 and letters >= 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Scrubber:
    """One per run: the same real value always gets the same placeholder."""

    def __init__(self, *, secrets: list[str] | None = None, instance_url: str | None = None) -> None:
        self._literals: dict[str, str] = {}  # replaced wherever they occur (secrets, URLs, keys)
        self._exact: dict[str, str] = {}  # JSON string values replaced when equal (agent values)
        self._people: dict[str, str] = {}
        self._ids: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._emails: dict[str, str] = {}
        for secret in secrets or []:
            self.add_literal(secret, REDACTED)
        if instance_url:
            self.add_literal(instance_url.rstrip("/"), PLACEHOLDER_URL)

    # -- registration -------------------------------------------------------------------------
    def add_literal(self, real: str, placeholder: str) -> None:
        if real and len(real) >= 4 and real != placeholder:
            self._literals[real] = placeholder

    def add_value(self, real: str, kind: str) -> str:
        """Register a JSON string value (e.g. the matched agent's nickname) that is replaced
        wherever a whole JSON string equals it, in requests and answers alike."""
        if real not in self._exact:
            self._exact[real] = f"{kind}-{self._next(kind):04d}"
        return self._exact[real]

    def alias_body_key(self, real_body: bytes) -> None:
        """Make the SHA-256 key of a body sent to the org map to the key of the scrubbed body, which
        is what a replay (sending the scrubbed values) computes."""
        text = real_body.decode("utf-8", errors="surrogateescape")
        scrubbed = self.text(text).encode("utf-8", errors="surrogateescape")
        self.add_literal(sha256_hex(real_body), sha256_hex(scrubbed))

    def _personal(self, real: str) -> str:
        """A stable placeholder for personal data under a personal key (replaced only there)."""
        if real not in self._people:
            self._people[real] = f"personal-{len(self._people) + 1:04d}"
        return self._people[real]

    def _next(self, kind: str) -> int:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    # -- scrubbing ----------------------------------------------------------------------------
    def _id(self, real: str) -> str:
        key = real[:15]  # the 15- and 18-character forms of one Id get one placeholder
        if key not in self._ids:
            prefix = real[:3]
            kind = "ORG" if prefix == "00D" else "REC"
            self._ids[key] = f"{kind}-{prefix}-{self._next(kind + prefix):04d}"
        return self._ids[key]

    def _email(self, match: re.Match[str]) -> str:
        real = match.group(0)
        if real not in self._emails:
            self._emails[real] = f"user-{len(self._emails) + 1:04d}@example.invalid"
        return self._emails[real]

    def text(self, text: str) -> str:
        for real, placeholder in self._exact.items():  # as whole JSON strings inside JSON text
            text = text.replace(json.dumps(real, ensure_ascii=False), json.dumps(placeholder))
        for real in sorted(self._literals, key=len, reverse=True):
            if real in text:
                text = text.replace(real, self._literals[real])
        text = _SESSION_ID.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SF_HOST.sub(PLACEHOLDER_HOST, text)
        text = _EMAIL.sub(self._email, text)
        text = _API_PATH.sub(f"/services/data/v{PLACEHOLDER_API_VERSION}", text)
        return _ID_TOKEN.sub(
            lambda m: self._id(m.group(1)) if looks_like_record_id(m.group(1)) else m.group(1), text
        )

    def json_value(self, value: Any, *, answer: bool = True) -> Any:
        """A JSON value scrubbed; in an ``answer`` personal fields (``email``, ``name``...) too."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key in SECRET_KEYS and item not in (None, ""):
                    out[key] = REDACTED
                elif answer and key in PERSONAL_KEYS and isinstance(item, str) and item:
                    out[key] = self._personal(item)
                else:
                    out[key] = self.json_value(item, answer=answer)
            return out
        if isinstance(value, list):
            return [self.json_value(v, answer=answer) for v in value]
        if isinstance(value, str):
            return self._exact[value] if value in self._exact else self.text(value)
        return value

    def body(self, raw: bytes | str | None, *, answer: bool = True) -> tuple[Any, str | None]:
        """A body for the recording: ``(json, None)`` when it parses as JSON, else ``(None, text)``."""
        if raw is None:
            return None, ""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
        if text.strip():
            try:
                return self.json_value(json.loads(text), answer=answer), None
            except ValueError:
                pass
        return None, self.text(text)
