"""The command line as a whole: start-up, the command table, help, exit codes, the --json envelope."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import run_cli
from jtel_sf.cli import COMMANDS, load_command, table_short_help

# What `jtel-sf --help` may import beyond click and the standard library: nothing of a command.
_LIGHT = "jtel_sf", "jtel_sf.cli", "jtel_sf.errors", "jtel_sf.output"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_short_help_is_the_commands_own(name: str) -> None:
    own = load_command(name).get_short_help_str(limit=10_000)
    assert table_short_help(name) == own, (
        f"cli.COMMANDS[{name!r}] must carry the command's short help (the first sentence of its docstring)"
    )


def test_help_lists_every_command_without_importing_any() -> None:
    script = (
        "import sys\n"
        "from jtel_sf.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "mods = sorted(m for m in sys.modules if m.startswith('jtel_sf'))\n"
        "heavy = sorted(m for m in ('requests', 'jinja2', 'simple_salesforce', 'json') if m in sys.modules)\n"
        "print('MODULES', ','.join(mods)); print('HEAVY', ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    marked = [line for line in proc.stdout.splitlines() if line.startswith(("MODULES", "HEAVY"))]
    lines = dict(line.split(" ", 1) for line in marked)
    assert set(lines["MODULES"].split(",")) <= set(_LIGHT), lines["MODULES"]
    assert lines["HEAVY"].strip() == "", lines["HEAVY"]
    for name in COMMANDS:
        assert name in proc.stdout
        assert str(table_short_help(name)).split()[0] in proc.stdout


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["no-such-command"], capsys)
    assert code == 2 and "No such command" in err
