"""The ``jtel-sf`` command line. Commands are thin: they parse options and call plain functions.

This module is the one place where errors become a short message and an exit code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from . import __version__
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, JtelSfError

# name -> "module:attribute"; loaded lazily so ``--help`` stays fast and one broken
# command cannot take the others down.
COMMANDS: dict[str, str] = {
    "verify": "jtel_sf.commands.verify:verify",
    "contract-test": "jtel_sf.commands.contract_test:contract_test",
    "generate": "jtel_sf.commands.generate:generate",
    "serve": "jtel_sf.commands.serve:serve",
    "send": "jtel_sf.commands.send:send",
    "deploy": "jtel_sf.commands.deploy:deploy",
    "doctor": "jtel_sf.commands.doctor:doctor",
    "org": "jtel_sf.commands.org:org",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jtel-sf")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Tooling for the jtel ACD writeCallStatistics endpoint in Salesforce.

    Generate, verify, deploy and contract-test the Apex REST endpoint, run a local stand-in
    of it, and replay jtel call statistics against either.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: the one place errors turn into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="jtel-sf", standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            sys.exit(result)
        return result
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except JtelSfError as exc:
        if debug:
            raise
        click.secho(f"Error: {exc}", fg="red", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the edge: anything else is a bug, shown briefly
        if debug:
            raise
        click.secho(f"Error: unexpected {type(exc).__name__}: {exc}", fg="red", err=True)
        click.echo("Run again with --debug for the traceback.", err=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    main()
