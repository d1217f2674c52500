"""Admin settings: what may vary between installations, read from one settings file.

Sources, highest first: ``jtel-sf.toml`` (top-level keys) or ``[tool.jtel-sf]`` in the
project's ``pyproject.toml``; otherwise the built-in defaults below. The same values feed
``jtel-sf generate`` (Custom Metadata default record, URL mapping, API version) and the local
endpoint, so the org and the stand-in behave alike.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

SETTINGS_FILE = "jtel-sf.toml"
PYPROJECT_FILE = "pyproject.toml"
PYPROJECT_TABLE = "jtel-sf"  # [tool.jtel-sf]


@dataclass(frozen=True)
class Settings:
    url_path: str = "jtelACD/writeCallStatistics"  # after /services/apexrest/
    api_version: str = "61.0"
    time_zone: str = "Europe/Berlin"
    agent_match_field: str = "CommunityNickname"
    fallback_owner_username: str = ""
    retry_http_status: int = 503
    task_for_unanswered_calls: bool = True
    subject_template: str = "jtel {direction} call {caller} - {result}"
    permission_set: str = "JtelCallStatisticsIntegration"
    # Retention (docs/storage.md): statistics rows are deleted this many days after their call
    # ended (the call, its roll-up and its Task stay, and the call keeps its rows' keys so a resend
    # is still a duplicate); 0 keeps rows forever.
    row_retention_days: int = 90
    # Quarantine records that were reprocessed or discarded are deleted this many days after their
    # last change; 0 keeps them forever. New and Failed records are never deleted.
    quarantine_retention_days: int = 30


DEFAULT_SETTINGS = Settings()

# Apex RestResource urlMapping (Apex Developer Guide, RestResource Annotation): relative to
# /services/apexrest/, begins with '/', at most 255 characters, case-sensitive; a '*' must be a
# whole segment. The segment characters allowed here are RFC 3986 unreserved characters, which
# need no escaping in a URL and none in the Apex string literal the mapping is written into.
URL_MAPPING_MAX_LENGTH = 255
_URL_SEGMENT = re.compile(r"^(?:[A-Za-z0-9._~-]+|\*)$")
# Salesforce API names: a letter first, letters/digits/single underscores, no trailing
# underscore; a custom field ends in __c.
_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)(?:__c)?$")
_API_VERSION = re.compile(r"^[0-9]{2}\.0$")
_USERNAME = re.compile(r"^[^@\s]+@[^@\s]+$")
SUBJECT_TEMPLATE_MAX_LENGTH = 255  # JtelSettings__mdt.SubjectTemplate__c is Text(255)
# Rows must outlive every resend jtel may still make; a week is the shortest retention accepted.
MIN_ROW_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 3650  # JtelSettings__mdt retention fields are Number(4,0)
# Names in the IANA database that are not zones Java (and so Apex TimeZone.getTimeZone, which
# silently falls back to GMT for unknown ids) knows.
_NOT_JAVA_ZONES = frozenset({"Factory", "localtime", "posixrules", "leapseconds", "leap-seconds.list"})


def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_JAVA_ZONES


def validate(settings: Settings, *, source: str = "settings") -> Settings:
    """Check every value the platform would reject; raise UsageError naming the key."""
    from .contract import load_outcomes  # local import: contract data is only needed here

    def fail(key: str, problem: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{source}: {key} = {getattr(settings, key)!r}: {problem}", hint=hint)

    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        expected = type(f.default)
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise fail(f.name, "must be an integer")
        if expected is not int and not isinstance(value, expected):
            raise fail(f.name, f"must be a {'boolean' if expected is bool else 'string'}")

    segments = settings.url_path.split("/")
    if (
        not settings.url_path
        or len("/" + settings.url_path) > URL_MAPPING_MAX_LENGTH
        or not all(_URL_SEGMENT.match(s) for s in segments)
    ):
        raise fail(
            "url_path",
            "not a valid Apex REST URL mapping",
            hint="Path segments after /services/apexrest/, separated by '/', of letters, digits and . _ ~ -"
            f" (a segment may be a lone *), no leading or trailing '/', at most {URL_MAPPING_MAX_LENGTH - 1}"
            " characters, e.g. jtelACD/writeCallStatistics.",
        )
    if not _API_VERSION.match(settings.api_version):
        raise fail("api_version", "must look like NN.0", hint="e.g. 61.0")
    if settings.time_zone not in _known_time_zones():
        raise fail(
            "time_zone",
            "unknown time zone",
            hint="Use an IANA zone id such as Europe/Berlin (Apex TimeZone.getTimeZone falls back to GMT"
            " for unknown ids).",
        )
    if not _API_NAME.match(settings.agent_match_field):
        raise fail(
            "agent_match_field",
            "not a User field API name",
            hint="e.g. CommunityNickname, FederationIdentifier, Alias, EmployeeNumber, Username"
            " or a custom field such as Jtel_UID__c.",
        )
    allowed = load_outcomes().retry_allowed
    if settings.retry_http_status not in allowed:
        raise fail(
            "retry_http_status",
            f"must be one of {', '.join(map(str, allowed))}",
            hint="Apex REST can send only a fixed list of status codes (no 423); see docs/contract.md.",
        )
    if settings.fallback_owner_username and not _USERNAME.match(settings.fallback_owner_username):
        raise fail("fallback_owner_username", "not a Salesforce username (name@domain)")
    if len(settings.subject_template) > SUBJECT_TEMPLATE_MAX_LENGTH or "\n" in settings.subject_template:
        raise fail("subject_template", f"must be one line of at most {SUBJECT_TEMPLATE_MAX_LENGTH} chars")
    days = settings.row_retention_days
    if days != 0 and not MIN_ROW_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise fail(
            "row_retention_days",
            f"must be 0 (keep forever) or {MIN_ROW_RETENTION_DAYS}..{MAX_RETENTION_DAYS}",
            hint="Rows are deleted this many days after their call ended; see docs/storage.md.",
        )
    if not 0 <= settings.quarantine_retention_days <= MAX_RETENTION_DAYS:
        raise fail("quarantine_retention_days", f"must be 0 (keep forever) to {MAX_RETENTION_DAYS}")
    if not _API_NAME.match(settings.permission_set) or settings.permission_set.endswith("__c"):
        raise fail("permission_set", "not a valid permission set API name")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read settings file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc


def _table(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The settings table of a file: [tool.jtel-sf] in a pyproject.toml, else the top level."""
    tool = data.get("tool")
    if isinstance(tool, dict) and PYPROJECT_TABLE in tool:
        table = tool[PYPROJECT_TABLE]
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [tool.{PYPROJECT_TABLE}] must be a table")
        return table
    if path.name == PYPROJECT_FILE:
        return {}
    return data


def settings_from_mapping(table: dict[str, Any], *, source: str = "settings") -> Settings:
    """Settings from a mapping of keys (snake_case or kebab-case) to values, validated."""
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in names:
            raise UsageError(
                f"{source}: unknown key {key!r}", hint=f"Known keys: {', '.join(sorted(names))}."
            )
        values[name] = value
    return validate(Settings(**values), source=source)


def find_settings_file(project_dir: Path) -> Path | None:
    """``jtel-sf.toml`` in the project, else a ``pyproject.toml`` with [tool.jtel-sf], else None."""
    own = project_dir / SETTINGS_FILE
    if own.is_file():
        return own
    pyproject = project_dir / PYPROJECT_FILE
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool")
        if isinstance(tool, dict) and PYPROJECT_TABLE in tool:
            return pyproject
    return None


def load_settings(project_dir: Path | None = None, config: Path | None = None) -> Settings:
    """The validated settings: from ``config`` if given, else the project's settings file, else defaults."""
    path = Path(config) if config is not None else find_settings_file(Path(project_dir or Path.cwd()))
    if path is None:
        return DEFAULT_SETTINGS
    if not path.is_file():
        raise UsageError(f"settings file not found: {path}")
    return settings_from_mapping(_table(path, _read_toml(path)), source=str(path))
