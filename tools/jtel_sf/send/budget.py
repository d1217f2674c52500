"""The org's daily API budget: read before a run starts, watched while it runs.

Every POST to an Apex REST endpoint counts against the org's 24-hour API request allowance. The
formats used here are Salesforce's documented ones (REST API Developer Guide):

- the Limits resource, ``GET /services/data/vXX.X/limits/`` ("List Org Limits"), answers
  ``{"DailyApiRequests": {"Max": 15000, "Remaining": 14998}, ...}`` (older versions send the numbers
  as strings); it needs the "View Setup and Configuration" permission, so a least-privilege
  integration user may get 403 here;
- the ``Sforce-Limit-Info`` response header ("Limit Info Header") carries
  ``api-usage=USED/MAX`` (e.g. ``api-usage=10018/100000; api-bursts=1/750``); USED can exceed MAX
  while an org bursts;
- an org over its limit answers ``403`` with errorCode ``REQUEST_LIMIT_EXCEEDED``.

Whether Apex REST answers (``/services/apexrest/...``) carry the header is not documented there and
could not be checked without an org; the run's own count of requests does not depend on it.

The policy: the run may use ``--max-api-share`` percent of what remains when it starts (the
*allowance*); the rest is the *reserve* for everybody else. A run planned to need more is refused
before anything is sent. While running, the run stops (resumable with --resume) when its own calls
reach the allowance, or when the header shows the org's remaining requests down to the reserve
(other clients used more than expected), or on REQUEST_LIMIT_EXCEEDED. It stops rather than slows
down: the allowance is a rolling 24-hour window, so waiting frees only the calls made a day ago;
resuming later is the honest way to spread a backfill over days.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from jtel_sf.errors import CheckFailed, UsageError

from .target import Target

LIMIT_HEADER = "Sforce-Limit-Info"
_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")  # not per-app-api-usage
HTTP_TIMEOUT = 60


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from a Sforce-Limit-Info header value, or None."""
    match = _USAGE.search(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Limits:
    max: int
    remaining: int


class LimitsUnavailable(Exception):
    """The endpoint's server has no /limits (404): not a Salesforce org (e.g. a stand-in)."""


def read_limits(target: Target, http: requests.Session | None = None) -> Limits:
    """DailyApiRequests from the Limits resource of ``target`` (one API call, renewing a token once)."""
    assert target.limits_url is not None
    session = http or requests.Session()
    renewed = False
    while True:
        token = target.tokens.current()
        try:
            reply = session.get(
                target.limits_url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise CheckFailed(f"cannot read {target.limits_url}: {type(exc).__name__}") from None
        if reply.status_code == 401 and not renewed and target.tokens.can_renew:
            target.tokens.renew(token)
            renewed = True
            continue
        break
    if reply.status_code in (404, 405, 501):
        raise LimitsUnavailable(f"{target.limits_url} answered {reply.status_code}")
    if reply.status_code == 403:
        raise UsageError(
            f"the org refused to show its API limits ({target.limits_url}: 403), so the run's share of "
            "the daily API requests cannot be checked",
            hint="Reading /limits needs the 'View Setup and Configuration' permission. Check the org's API "
            "usage in Setup (System Overview) and run with --max-api-share 100 to skip this check; "
            "the Sforce-Limit-Info header is still watched while sending.",
        )
    if reply.status_code == 401:
        raise UsageError(f"the org rejected the access token reading {target.limits_url} (401)")
    try:
        entry = reply.json()["DailyApiRequests"]
        return Limits(int(entry["Max"]), int(entry["Remaining"]))
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(
            f"{target.limits_url} answered {reply.status_code} without DailyApiRequests Max/Remaining"
        ) from None


class Budget:
    """The run's allowance, its own calls, and what the org's header says (thread-safe)."""

    def __init__(self, limits: Limits | None, share: float) -> None:
        self.limits = limits
        self.share = share
        self.allowance = int(limits.remaining * share / 100) if limits else None
        self.reserve = limits.remaining - self.allowance if limits and self.allowance is not None else None
        self.used = 1 if limits else 0  # the /limits read counts as a call too (to be safe)
        self.org_usage: tuple[int, int] | None = None  # (used, max) from the last header
        self.stopped: str | None = None
        self._lock = threading.Lock()
        self._stop: Callable[[str], None] | None = None

    def refuse_if_over(self, planned: int) -> None:
        """Refuse a run whose planned requests exceed the allowance."""
        if self.limits is None or self.allowance is None:
            return
        if planned + self.used > self.allowance:
            raise UsageError(
                f"the run needs {planned} API requests (+{self.used} for /limits), more than "
                f"{self.share:g}% of the {self.limits.remaining} daily API requests the org has left "
                f"({self.allowance}); nothing was sent",
                hint="Use a larger --batch-size (up to 200 rows a request), split the input over several "
                "days (--resume continues), or allow a larger --max-api-share.",
            )

    def attach(self, stop: Callable[[str], None]) -> None:
        self._stop = stop

    def _halt(self, reason: str) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = reason
        if self._stop is not None:
            self._stop(reason)

    def before_request(self) -> None:
        """Called before every endpoint request: counts it, or stops the run at the allowance."""
        with self._lock:
            over = self.allowance is not None and self.used >= self.allowance
            if not over:
                self.used += 1
        if over:
            self._halt(
                f"the run used its API allowance ({self.allowance} requests, --max-api-share {self.share:g}%)"
            )

    def observe(self, reply: requests.Response) -> None:
        """Called with every endpoint answer: watches Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED."""
        usage = parse_limit_info(reply.headers.get(LIMIT_HEADER))
        if usage is not None:
            with self._lock:
                self.org_usage = usage
            used, limit = usage
            if self.reserve is not None and limit - used <= self.reserve:
                self._halt(
                    f"the org has {max(limit - used, 0)} of {limit} daily API requests left "
                    f"(Sforce-Limit-Info), down to the {self.reserve} kept for others (--max-api-share "
                    f"{self.share:g}%)"
                )
        if reply.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in reply.content[:2000]:
            self._halt("the org's daily API request limit is exceeded (403 REQUEST_LIMIT_EXCEEDED)")

    def as_dict(self) -> dict[str, Any]:
        return {
            "dailyApiRequestsMax": self.limits.max if self.limits else None,
            "remainingAtStart": self.limits.remaining if self.limits else None,
            "maxApiShare": self.share,
            "allowance": self.allowance,
            "apiCallsUsed": self.used,
            "orgUsage": list(self.org_usage) if self.org_usage else None,
            "stopped": self.stopped,
        }
