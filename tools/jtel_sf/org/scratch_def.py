"""A scratch org definition file turned into what sfdx-core sends: the ``ScratchOrgInfo`` record
for the Dev Hub and the Settings metadata deployed into the new org.

Followed from forcedotcom/sfdx-core (commit cd4bdcb9, 2026-08-07; line numbers at that commit:
``scratchOrgInfoGenerator.ts`` generateScratchOrgInfo 213, getScratchOrgInfoPayload 269;
``scratchOrgSettingsGenerator.ts`` createObjectFileContent 60, writeSettingsIfNeeded 404):

- ``src/org/scratchOrgInfoGenerator.ts`` ``getScratchOrgInfoPayload``: keys must be camelCase
  ("InvalidJsonCasing"), ``$schema`` is dropped, ``durationDays`` may not be in the file (it comes
  from the command), ``features`` (a list, or a string split on ``;`` / ``,``) are trimmed and
  joined with ``;``.
- same file, ``generateScratchOrgInfo``: ``orgName`` defaults to ``Company``;
  ``connectedAppCallbackUrl`` is ``http://localhost:1717/OauthRedirect``;
  ``connectedAppConsumerKey`` is the Dev Hub's client id when it was reached with one, else
  ``PlatformCLI`` (``authInfo.ts`` ``DEFAULT_CONNECTED_APP_INFO``).
- ``src/org/scratchOrgInfoApi.ts`` ``requestScratchOrgCreation``: ``settings`` and
  ``objectSettings`` are not sent; every other key is sent with its first letter upper-cased
  (``mapKeys(..., upperFirst)``); ``orgPreferences`` is refused (deprecated); ``username`` is
  lower-cased.
- ``src/org/scratchOrgSettingsGenerator.ts``: each ``settings`` entry ``fooSettings`` becomes
  ``settings/Foo.settings`` whose root element is ``FooSettings`` (``upperFirst``, then
  ``Settings`` removed for the file and member name), listed in ``package.xml`` as type
  ``Settings``; nested objects become nested elements, lists repeat the element.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..errors import UsageError
from .package import MD_NAMESPACE, Component, DeployPackage

DEFAULT_CONNECTED_APP = "PlatformCLI"  # sfdx-core src/org/authInfo.ts DEFAULT_CONNECTED_APP_INFO
DEFAULT_CALLBACK_URL = "http://localhost:1717/OauthRedirect"  # authInfo.ts getRedirectUri, port 1717
DEFAULT_ORG_NAME = "Company"  # scratchOrgInfoGenerator.ts generateScratchOrgInfo
MIN_DAYS, MAX_DAYS = 1, 30  # scratchOrgCreate.ts validateDuration
DEFAULT_WAIT_MINUTES = 6.0  # scratchOrgCreate.ts DEFAULT_STREAM_TIMEOUT_MINUTES
NOT_SENT = ("settings", "objectSettings")


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class ScratchDefinition:
    path: Path
    fields: dict[str, Any]  # the definition without settings/objectSettings, camelCase
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def edition(self) -> str:
        return str(self.fields.get("edition") or "")


def load_definition(path: Path) -> ScratchDefinition:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--definition: cannot read {path} ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"--definition: {path} is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"--definition: {path} must hold a JSON object")
    raw.pop("$schema", None)
    for key in raw:
        if key[:1] != key[:1].lower():
            # scratchOrgInfoGenerator.ts: "scratchOrgInfoPayload must be heads down camelcase"
            raise UsageError(
                f"--definition: {path}: key {key!r} must be camelCase ({key[:1].lower()}{key[1:]})"
            )
        if key.lower() == "durationdays":
            raise UsageError(f"--definition: {path}: durationDays is not allowed in the file; use --days")
    if "orgPreferences" in raw:
        raise UsageError(
            f"--definition: {path}: orgPreferences is deprecated; use the settings key "
            "(Salesforce DX Developer Guide, 'Scratch Org Settings')"
        )
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise UsageError(f"--definition: {path}: settings must map each settings name to an object")
    if raw.get("objectSettings"):
        raise UsageError(
            f"--definition: {path}: objectSettings is not supported by jtel-sf (record types and sharing "
            "per object); use the sf CLI for such a definition"
        )
    fields_ = {k: v for k, v in raw.items() if k not in NOT_SENT}
    if not fields_.get("edition") and not fields_.get("sourceOrg") and not fields_.get("snapshot"):
        raise UsageError(
            f"--definition: {path}: edition is required (Developer, Enterprise, Group, Professional)"
        )
    return ScratchDefinition(path=Path(path), fields=fields_, settings=settings)


def scratch_org_info(
    definition: ScratchDefinition,
    *,
    days: int,
    consumer_key: str | None,
    callback_url: str = DEFAULT_CALLBACK_URL,
) -> dict[str, Any]:
    """The ``ScratchOrgInfo`` record body for the Dev Hub (field names as sfdx-core sends them)."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between {MIN_DAYS} and {MAX_DAYS}, got {days}")
    payload: dict[str, Any] = dict(definition.fields)
    features = payload.get("features")
    if features:
        if isinstance(features, str):
            features = features.replace(",", ";").split(";")
        payload["features"] = ";".join(str(f).strip() for f in features if str(f).strip())
    payload["durationDays"] = days
    payload.setdefault("orgName", DEFAULT_ORG_NAME)
    payload["connectedAppCallbackUrl"] = callback_url
    payload["connectedAppConsumerKey"] = (
        payload.get("connectedAppConsumerKey") or consumer_key or DEFAULT_CONNECTED_APP
    )
    if isinstance(payload.get("username"), str):
        payload["username"] = payload["username"].lower()
    return {upper_first(key): value for key, value in payload.items()}


def _xml(name: str, value: Any, indent: str) -> list[str]:
    if isinstance(value, list):
        return [line for item in value for line in _xml(name, item, indent)]
    if isinstance(value, dict):
        lines = [f"{indent}<{name}>"]
        for key, item in value.items():
            lines.extend(_xml(key, item, indent + "    "))
        return [*lines, f"{indent}</{name}>"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return [f"{indent}<{name}>{escape(text)}</{name}>"]


def settings_package(definition: ScratchDefinition, api_version: str) -> DeployPackage | None:
    """The definition's ``settings`` as a Metadata API package (None when there are none)."""
    if not definition.settings:
        return None
    package = DeployPackage(api_version=api_version, source_dir=definition.path.parent)
    for key, values in sorted(definition.settings.items()):
        type_name = upper_first(key)
        member = type_name.replace("Settings", "")
        body = [f"    {line}" for item_key, item in values.items() for line in _xml(item_key, item, "")]
        text = "\n".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                f'<{type_name} xmlns="{MD_NAMESPACE}">',
                *body,
                f"</{type_name}>",
                "",
            ]
        )
        package.files[f"settings/{member}.settings"] = text.encode("utf-8")
        package.components.append(Component(type="Settings", name=member, source=definition.path))
    return package
