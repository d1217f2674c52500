"""Shared test helpers."""

from __future__ import annotations

import pytest

from jtel_sf.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``jtel-sf`` through its real entry point (the error edge included); return exit code,
    stdout and stderr."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
