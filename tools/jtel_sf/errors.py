"""Domain errors and exit codes. The CLI edge (``cli.main``) is the only place that turns
these into a message (or, with ``--json``, an error document) and an exit code; everything below
it raises.

``EXIT_CODES`` is the one list of exit codes: every command's ``--help`` renders its part of it
(``options.command_epilog``) and the README's table is checked against it (tests/test_cli.py).
The same condition has the same code in every command."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # the work ran and found problems: verify findings, deploy or test failure
EXIT_USAGE = 2  # bad options, bad settings, bad or missing credentials
EXIT_TIMEOUT = 3  # waited for the org (or a server) longer than allowed
EXIT_ENVIRONMENT = 4  # a tool this command needs is missing and could not be installed
EXIT_UNREACHABLE = 5  # the org (or a server) could not be reached: network, DNS, TLS, proxy
EXIT_INTERRUPTED = 130

# code -> (name, what it means), in the README's order.
EXIT_CODES: dict[int, tuple[str, str]] = {
    EXIT_OK: ("ok", "success (warnings allowed)"),
    EXIT_FAILURE: (
        "failed",
        "the work ran and the result is negative: verify findings, a failed deploy, Apex test, coverage,"
        " doctor check or contract case, rows without a final answer, generated files that drifted,"
        " an error answer from the org",
    ),
    EXIT_USAGE: (
        "usage",
        "bad options, settings or input files; credentials missing, rejected or expired",
    ),
    EXIT_TIMEOUT: ("timeout", "waited for the org (or a server) longer than allowed"),
    EXIT_ENVIRONMENT: (
        "environment",
        "a tool the command needs (Node.js, npm, Java, a pinned npm package) is missing and could not be"
        " installed",
    ),
    EXIT_UNREACHABLE: (
        "unreachable",
        "the org (or a server) gave no answer at all: DNS, refused connection, TLS, timeout, proxy; one line"
        " names the host and the cause",
    ),
    EXIT_INTERRUPTED: ("interrupted", "stopped with Ctrl-C"),
}


class JtelSfError(Exception):
    """An error a user can act on. ``str(err)`` is the one-line message shown after ``Error:``."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(JtelSfError):
    """Wrong options, settings or input files."""

    exit_code = EXIT_USAGE


class AuthError(JtelSfError):
    """Credentials missing, rejected or expired. Never carries the secret itself."""

    exit_code = EXIT_USAGE


class TimeoutExceeded(JtelSfError):
    exit_code = EXIT_TIMEOUT


class OrgUnreachable(JtelSfError):
    """No answer at all from a host (DNS, refused, TLS, timeout, proxy): one line with host and cause."""

    exit_code = EXIT_UNREACHABLE


class EnvironmentProblem(JtelSfError):
    """A required external tool (Node, Java, npm package) is unavailable."""

    exit_code = EXIT_ENVIRONMENT


class CheckFailed(JtelSfError):
    """The command ran to the end and the result is negative (findings, failed tests)."""

    exit_code = EXIT_FAILURE
