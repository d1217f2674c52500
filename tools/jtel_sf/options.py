"""Options shared by several commands, each defined once as a named option object (the pip-tools
way: ``options.py`` holds them, a command stacks the ones it takes).

Order on a command: its own options first, then ``json_option``/``settings_option``, then
``login_options`` last, so ``--help`` lists what is special to the command before the shared
login options. ``command_epilog`` renders the examples and the exit codes (from
``errors.EXIT_CODES``) every command's help ends with.

    @click.command(epilog=command_epilog(EXAMPLES, {0: None, 1: "a check failed", 2: None}))
    @click.option("--own-option", ...)
    @options.json_option
    @options.settings_option
    @options.login_options
    def doctor(own_option: str, as_json: bool, settings: Settings, **login: Any) -> None:
        ...
        emit(result, text_lines)

Nothing heavy is imported at module level (settings are loaded in the option's callback).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import EXIT_CODES
from .login import LOGIN_INPUTS

if TYPE_CHECKING:
    from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_MARKER = "sfdx-project.json"

json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON document on stdout: {"status": 0, "result": ..., "warnings": [...]}; on an '
    'error {"status": <exit code>, "name": ..., "message": ..., ...}. Keys are camelCase.',
)


def project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) with sfdx-project.json, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_MARKER).is_file():
            return candidate
    return here


def _load_settings(ctx: click.Context, param: click.Parameter, value: Path | None) -> Settings:
    from .settings import load_settings

    return load_settings(project_dir(), value)


settings_option = click.option(
    "--config",
    "settings",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_load_settings,
    help="Settings file (jtel-sf.toml, or a pyproject.toml with [tool.jtel-sf]). Default: the project's "
    "jtel-sf.toml, else [tool.jtel-sf] in its pyproject.toml, else the built-in defaults.",
)

def _source_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    return value if value is not None else project_dir() / "force-app"


source_dir_option = click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    callback=_source_dir,
    help="SFDX source folder (default: force-app of the project at or above the current folder).",
)


def login_options(func: F) -> F:
    """Every way to reach an org (``jtel_sf.login.LOGIN_INPUTS``, the list ``jtel_sf.auth`` reads).

    Each can also come from its environment variable, so secrets never need to be typed on a
    command line. Stack it last: the login options come after the command's own.
    """
    for item in reversed(LOGIN_INPUTS):
        flags = [f"--{item.name.replace('_', '-')}", *([item.short] if item.short else [])]
        if item.is_flag:
            func = click.option(*flags, item.name, is_flag=True, envvar=item.envvar, help=item.help)(func)
            continue
        func = click.option(
            *flags,
            item.name,
            show_envvar=True,
            envvar=item.envvar,
            default=item.default,
            show_default=item.default is not None,
            type=click.Path(dir_okay=False) if item.is_file else None,
            help=item.help,
        )(func)
    return func


org_auth_options = login_options  # the former name


def command_epilog(examples: Iterable[tuple[str, str]], exit_codes: Mapping[int, str | None]) -> str:
    """The end of a command's ``--help``: examples (command, what it does) and the exit codes it
    uses, each named as in ``errors.EXIT_CODES`` with the command's own wording or the general one."""
    rows = list(examples)
    width = max(len(command) for command, _ in rows)
    lines = ["\b", "Examples:"]
    lines += [f"  {command.ljust(width)}  {what}".rstrip() for command, what in rows]
    lines += ["", "\b", "Exit codes (the same in every jtel-sf command):"]
    for code, detail in sorted(exit_codes.items()):
        name, general = EXIT_CODES[code]
        lines.append(f"  {code:<3} {name}: {detail or general}")
    return "\n".join(lines)
