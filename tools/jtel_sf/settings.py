"""Admin settings: what may vary between installations, read from one settings file.

Sources, highest first: ``jtel-sf.toml`` (top-level keys) or ``[tool.jtel-sf]`` in the
project's ``pyproject.toml``; otherwise the built-in defaults below. The same values feed
``jtel-sf generate`` (Custom Metadata default record, URL mapping, API version) and the local
endpoint, so the org and the stand-in behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass


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


DEFAULT_SETTINGS = Settings()
