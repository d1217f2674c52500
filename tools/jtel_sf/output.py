"""What a command prints as its result, and the one ``--json`` envelope (the Salesforce CLI's shape).

A command adopts ``--json`` with two calls: stack ``options.json_option`` and hand its result to
``emit(result, text)``. Without ``--json`` the ``text`` (lines, or a function that prints) goes to
stdout; with ``--json`` the result is kept and the error edge (``cli.main``) prints exactly one
document on stdout when the command ends:

    success:  {"status": 0, "result": <result>, "warnings": [...]}
    error:    {"status": <exit code>, "name": "CheckFailed", "message": "...", "hint": "..." | null,
               "exitCode": <exit code>, "result": <what was emitted before the error, or null>,
               "warnings": [...]}

``status`` is the process exit code (errors.EXIT_CODES). Keys are camelCase, as in the sf CLI:
``emit`` rewrites lower_snake_case keys (``test_failures`` -> ``testFailures``); keys that are
data, not names of ours (jtel field names such as ``jtelStatisticsPartAID``, Salesforce API names
such as ``JtelCall__c``), are never lower_snake_case and pass unchanged. ``warn(message)`` puts a
warning on stderr, or with ``--json`` into ``warnings``. Progress stays on stderr in both modes.

No heavy imports here: the edge imports this module for every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import click

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


class _Run:
    """The state of one ``jtel-sf`` invocation (reset by ``begin``)."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.emitted = False
        self.flushed = False
        self.result: Any = None
        self.warnings: list[str] = []


_run = _Run()


def begin(json_mode: bool) -> None:
    """Start a new invocation (called by ``cli.main`` only)."""
    global _run
    _run = _Run(json_mode)


def json_mode() -> bool:
    """True when this invocation prints the JSON envelope instead of text."""
    return _run.json_mode


def camel(key: str) -> str:
    """``test_failures`` -> ``testFailures``; anything not lower_snake_case is returned unchanged."""
    if not _SNAKE.match(key):
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(value: Any) -> Any:
    """``value`` with every dict key passed through ``camel``, recursively."""
    if isinstance(value, dict):
        return {camel(k) if isinstance(k, str) else k: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [camel_keys(v) for v in value]
    return value


def emit(result: Any, text: Iterable[str] | Callable[[], None] | str | None = None) -> None:
    """The command's result. With ``--json`` it is kept for the envelope (the last call wins);
    otherwise ``text`` is printed: a string or lines to stdout, or a function that prints."""
    if _run.json_mode:
        _run.result = camel_keys(result)
        _run.emitted = True
        return
    if text is None:
        return
    if callable(text):
        text()
    elif isinstance(text, str):
        click.echo(text)
    else:
        for line in text:
            click.echo(line)


def warn(message: str) -> None:
    """A warning: on stderr, and with ``--json`` also in the envelope's ``warnings``."""
    _run.warnings.append(message)
    click.echo(message, err=True)


def flush() -> None:
    """Print the success envelope now (a long-running command, e.g. serve when it listens); the
    edge then prints nothing more for a run that ends well."""
    document = success_document()
    if document is not None:
        print_document(document)
        _run.flushed = True


def success_document() -> dict[str, Any] | None:
    """The envelope for a run that ended well, or None when the command emitted nothing (``--help``)
    or it was already printed (``flush``)."""
    if not _run.emitted or _run.flushed:
        return None
    return {"status": 0, "result": _run.result, "warnings": list(_run.warnings)}


def error_document(name: str, message: str, exit_code: int, hint: str | None = None) -> dict[str, Any]:
    return {
        "status": exit_code,
        "name": name,
        "message": message,
        "hint": hint,
        "exitCode": exit_code,
        "result": _run.result if _run.emitted else None,
        "warnings": list(_run.warnings),
    }


def print_document(document: dict[str, Any]) -> None:
    import json  # here, not at the top: `jtel-sf --help` does not need it

    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
