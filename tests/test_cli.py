"""The command line as a whole: start-up, the command table, help, exit codes, the --json envelope."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import five_rows, run_cli
from jtel_sf.cli import COMMANDS, load_command, table_short_help
from jtel_sf.errors import EXIT_CODES
from jtel_sf.login import LOGIN_INPUTS

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


# -- help: examples, exit codes, option order ----------------------------------------------------

LOGIN_FLAGS = [f"--{item.name.replace('_', '-')}" for item in LOGIN_INPUTS]


def _help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli([name, "--help"], capsys)
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_has_examples_exit_codes_and_json(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(name, capsys)
    assert "--json" in text
    examples = text.split("Examples:", 1)[1].split("Exit codes", 1)[0]
    assert f"jtel-sf {name}" in examples
    codes = re.findall(r"^\s+(\d+)\s+(\w+): ", text.split("Exit codes", 1)[1], flags=re.M)
    assert codes, text
    for code, label in codes:
        assert EXIT_CODES[int(code)][0] == label
    assert ("0", "ok") in codes and ("2", "usage") in codes


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_own_options_come_before_the_login_options(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    options = _help(name, capsys).split("Options:", 1)[1].split("Examples:", 1)[0]
    flags = re.findall(r"^\s{2}(?:-\w, )?(--[\w-]+)", options, flags=re.M)
    if LOGIN_FLAGS[0] not in flags:  # no login options (verify, generate, serve)
        assert "--access-token" not in flags
        return
    first = flags.index(LOGIN_FLAGS[0])
    assert flags[first:] == [*LOGIN_FLAGS, "--help"], flags


def test_login_options_are_the_fields_auth_reads() -> None:
    import dataclasses

    from jtel_sf import auth

    assert tuple(item.name for item in LOGIN_INPUTS) == auth._AUTH_OPTION_NAMES
    assert [f.name for f in dataclasses.fields(auth.AuthOptions)] == list(auth._AUTH_OPTION_NAMES)
    deploy = load_command("deploy")
    assert [p.name for p in deploy.params][-len(LOGIN_INPUTS) :] == list(auth._AUTH_OPTION_NAMES)


def test_the_readme_lists_the_exit_codes_of_errors_py() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d+)` \| (\w+) \| (.+) \|$", readme, flags=re.M)
    assert [(int(code), name, text) for code, name, text in rows] == [
        (code, name, text) for code, (name, text) in EXIT_CODES.items()
    ]


# -- --json: one envelope ------------------------------------------------------------------------


def _document(out: str) -> dict[str, Any]:
    document = json.loads(out)  # exactly one JSON document on stdout, nothing else
    assert isinstance(document, dict)
    return document


def _snake_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [k for k in value if isinstance(k, str) and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", k)]
        return found + [k for v in value.values() for k in _snake_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _snake_keys(v)]
    return []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_usage_error_comes_as_a_json_document(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([name, "--json", "--no-such-option"], capsys)
    assert code == 2
    document = _document(out)
    assert document["status"] == 2 and document["exitCode"] == 2
    assert document["name"] == "UsageError" and "--no-such-option" in document["message"]
    assert document["result"] is None and document["warnings"] == []
    assert "No such option" in err  # people still see it


def test_a_domain_error_comes_as_a_json_document_with_its_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run_cli(["generate", "--json", "--config", str(tmp_path / "nope.toml")], capsys)
    assert code == 2
    document = _document(out)
    assert document["status"] == 2 and document["name"] == "UsageError"
    assert "settings file not found" in document["message"]


def test_contract_test_json_success_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["contract-test", "--local", "-k", "written_without_salesforce_id", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    document = _document(out)
    assert document["status"] == 0 and document["warnings"] == []
    assert document["result"]["summary"]["passed"] == 1
    assert _snake_keys(document) == []
    assert "PASS  written_without_salesforce_id" in err  # progress stays on stderr


def test_send_dry_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in five_rows(9_100_001)), encoding="utf-8")
    code, out, err = run_cli(["send", str(rows), "--local", "--dry-run", "--json"], capsys)
    assert code == 0, err
    document = _document(out)  # the shape of send's result is send's own (docs/send.md)
    assert document["status"] == 0 and isinstance(document["result"], dict)
    assert _snake_keys(document) == [] and "5" in json.dumps(document["result"])


def test_serve_json_announces_urls_and_credentials_when_it_listens(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    command = [sys.executable, "-m", "jtel_sf.cli", "serve", "--port", "0", "--quiet", "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.rstrip() == "}":
                break
        document = _document("".join(lines))
        result = document["result"]
        assert document["status"] == 0
        assert result["endpointUrl"].startswith(result["baseUrl"] + "/services/apexrest/")
        reply = requests.post(
            result["tokenUrl"],
            data={
                "grant_type": "client_credentials",
                "client_id": result["clientId"],
                "client_secret": result["clientSecret"],
            },
            timeout=10,
        )
        assert reply.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert proc.stdout.read().strip() == ""  # nothing more after the one document


def test_an_unexpected_error_is_reported_briefly_also_in_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jtel_sf.commands.verify as verify_command

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(verify_command, "run_verify", broken)
    code, out, err = run_cli(["verify", "--json"], capsys)
    assert code == 1
    document = _document(out)
    assert document["name"] == "UnexpectedError" and document["message"] == "unexpected RuntimeError: boom"
    assert "--debug" in err


def test_keys_become_camel_case_and_data_keys_stay() -> None:
    from jtel_sf.output import camel_keys

    assert camel_keys(
        {"test_failures": [{"class_name": "X", "JtelCall__c": 1, "jtelStatisticsPartAID": 2, "ok": True}]}
    ) == {"testFailures": [{"className": "X", "JtelCall__c": 1, "jtelStatisticsPartAID": 2, "ok": True}]}


def test_warnings_go_to_stderr_and_into_the_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    from jtel_sf import output

    output.begin(True)
    try:
        output.warn("Warning: the username-password flow is being retired")
        output.emit({"ok_count": 1})
        document = output.success_document()
    finally:
        output.begin(False)
    assert document == {
        "status": 0,
        "result": {"okCount": 1},
        "warnings": ["Warning: the username-password flow is being retired"],
    }
    assert "retired" in capsys.readouterr().err


def test_a_login_input_can_be_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from jtel_sf import options
    from jtel_sf.login import LoginInput

    extra = LoginInput("probe_flag", "SF_PROBE_FLAG", "A switch.", is_flag=True)  # --browser-login is one
    monkeypatch.setattr(options, "LOGIN_INPUTS", (*LOGIN_INPUTS, extra))

    @click.command()
    @options.login_options
    def probe(**login: Any) -> None:
        click.echo(repr(login["probe_flag"]))

    flag = next(p for p in probe.params if p.name == "probe_flag")
    assert isinstance(flag, click.Option) and flag.is_flag and "--probe-flag" in flag.opts
    from click.testing import CliRunner

    assert CliRunner().invoke(probe, ["--probe-flag"]).output.strip() == "True"
    assert CliRunner().invoke(probe, []).output.strip() == "False"
