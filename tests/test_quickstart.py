"""The README's quick start is what CI runs, and it works where the system Python refuses global installs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_ci_runs_the_second_quickstart_command_exactly() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert script[-1] == commands[1]


def test_both_quickstart_commands_create_a_virtual_environment_first() -> None:
    # PEP 668: a Debian/Ubuntu system Python refuses `pip install` outside a virtual environment.
    for command in quickstart_commands():
        first, second, *_ = command.split(" && ")
        assert first == "python3 -m venv .venv" and second == ". .venv/bin/activate", command
        assert "python3 -m pip" not in command and "--break-system-packages" not in command
    assert quickstart_commands()[0].endswith("jtel-sf contract-test --local")
