"""The ``jtel-sf`` command line. Commands are thin: they parse options and call plain functions.

This module is the one place where errors become a short message on stderr (with ``--json`` also
the error document of ``jtel_sf.output`` on stdout) and an exit code (``jtel_sf.errors.EXIT_CODES``).

Start-up: ``jtel-sf --help`` lists the commands from the ``COMMANDS`` table below without
importing any of them (benchmarks/bench_startup.py measures it); a command's module is imported
only when it runs or shows its own help. Keep heavy imports out of this module, errors.py,
output.py and __init__.py.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from . import __version__, output
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, JtelSfError

# name -> ("module:attribute", short help). The short help is what `jtel-sf --help` lists, so it
# needs no import; it must equal the command's own short help (the first sentence of its
# docstring; tests/test_cli.py keeps them equal). A bare "module:attribute" also works (its short
# help is then read by importing the command), but the test asks for the short help.
#
# A new command, to pass tests/test_cli.py: a line here; @click.command(epilog=command_epilog(
# EXAMPLES, EXIT_CODES)); its own options, then options.json_option, options.settings_option if it
# reads settings, options.login_options last if it logs in; output.emit(result, text) for what it
# prints; errors as JtelSfError subclasses (errors.py), never sys.exit.
COMMANDS: dict[str, tuple[str, str] | str] = {
    "verify": (
        "jtel_sf.commands.verify:verify",
        "Check Apex and metadata offline with Salesforce's own tooling.",
    ),
    "contract-test": (
        "jtel_sf.commands.contract_test:contract_test",
        "Run the contract cases end to end against the local endpoint, an org or a recording.",
    ),
    "generate": (
        "jtel_sf.commands.generate:generate",
        "Render the files that derive from the contract and the settings.",
    ),
    "serve": (
        "jtel_sf.commands.serve:serve",
        "Run the local endpoint: the writeCallStatistics contract on this machine, with a real database.",
    ),
    "send": (
        "jtel_sf.commands.send:send",
        "Replay jtel statistics rows (JSON Lines or CSV with jtel's field names; docs/send.md).",
    ),
    "deploy": (
        "jtel_sf.commands.deploy:deploy",
        "Deploy force-app to an org through the Metadata API and report like a compiler.",
    ),
    "doctor": (
        "jtel_sf.commands.doctor:doctor",
        "Check that an org is ready for jtel, one line per check with the fix.",
    ),
    "quarantine": (
        "jtel_sf.commands.quarantine:quarantine",
        "Review and clear the quarantine (jtel Quarantined Requests) from the command line.",
    ),
    "org": (
        "jtel_sf.commands.org:org",
        "Scratch orgs from a Dev Hub (create, list, delete) and the one-command proof (prove).",
    ),
}


def command_target(name: str) -> str:
    entry = COMMANDS[name]
    return entry if isinstance(entry, str) else entry[0]


def table_short_help(name: str) -> str | None:
    entry = COMMANDS[name]
    return None if isinstance(entry, str) else entry[1]


def load_command(name: str) -> click.Command:
    module_name, attr = command_target(name).split(":")
    command: click.Command = getattr(importlib.import_module(module_name), attr)
    return command


class LazyGroup(click.Group):
    """Imports a command only when it is used; lists the commands from the table."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            text = table_short_help(name)
            rows.append((name, text if text is not None else load_command(name).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Run 'jtel-sf COMMAND --help' for a command's options, examples and exit codes.",
)
@click.version_option(__version__, prog_name="jtel-sf")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Tooling for the jtel ACD writeCallStatistics endpoint in Salesforce.

    Generate, verify, deploy and contract-test the Apex REST endpoint, run a local stand-in
    of it, and replay jtel call statistics against either. Every command takes --json.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _wants_json(args: list[str]) -> bool:
    """``--json`` among the arguments (before a ``--``): decided before parsing, so that even a
    usage error click finds while parsing comes as a JSON document."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _fail(name: str, message: str, exit_code: int, hint: str | None = None) -> None:
    if output.json_mode():
        output.print_document(output.error_document(name, message, exit_code, hint))
    sys.exit(exit_code)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: the one place errors turn into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    as_json = _wants_json(args)
    output.begin(as_json)
    try:
        return _run(args, debug, as_json)
    finally:
        output.begin(False)  # no state leaks into a later invocation in the same process (tests)


def _run(args: list[str], debug: bool, as_json: bool) -> Any:
    try:
        result = cli.main(args=args, prog_name="jtel-sf", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        _fail("Interrupted", "aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        name = "UsageError" if isinstance(exc, click.UsageError) else type(exc).__name__
        _fail(name, exc.format_message(), exc.exit_code if exc.exit_code else EXIT_USAGE)
    except JtelSfError as exc:
        if debug:
            raise
        click.secho(f"Error: {exc}", fg="red", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        _fail(type(exc).__name__, str(exc), exc.exit_code, exc.hint)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        _fail("Interrupted", "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # the edge: anything else is a bug, shown briefly
        if debug:
            raise
        message = f"unexpected {type(exc).__name__}: {exc}"
        click.secho(f"Error: {message}", fg="red", err=True)
        click.echo("Run again with --debug for the traceback.", err=True)
        _fail("UnexpectedError", message, EXIT_FAILURE, "Run again with --debug for the traceback.")
    if isinstance(result, int) and not isinstance(result, bool) and result != 0:
        _fail("Exit", f"exit code {result}", result)
    document = output.success_document() if as_json else None
    if document is not None:
        output.print_document(document)
    if isinstance(result, int) and not isinstance(result, bool):
        sys.exit(result)
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
