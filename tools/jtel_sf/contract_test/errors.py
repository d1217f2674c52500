"""Exceptions inside a contract-test run. None of them reaches the user as a traceback: the runner
turns them into a failed or skipped case."""

from __future__ import annotations


class CaseSetupError(Exception):
    """The case itself is malformed (an unknown placeholder, a bad $repeat)."""


class CaseSkipped(Exception):
    """The case cannot run in this org (no user to match, ...). ``str()`` is the reason."""


class PreparationFailed(Exception):
    """Creating or finding what the case needs failed."""


class ReplayMismatch(Exception):
    """A request during --replay differs from the recorded one. ``str()`` names the difference."""
