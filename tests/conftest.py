"""Shared test helpers."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from jtel_sf.cli import main
from jtel_sf.contract import load_cases
from jtel_sf.local.server import LocalServer

FIVE_ROW_CALL = next(c for c in load_cases() if c.name == "seed_five_row_call_in_order")


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


def token_for(server: LocalServer) -> str:
    """An access token from the local endpoint's OAuth client-credentials flow."""
    reply = requests.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": server.client_id,
            "client_secret": server.client_secret,
        },
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def five_rows(call: int, salesforce_id: str | None = None) -> list[dict[str, Any]]:
    """The seed's five-row call (its contract case) for one call id, with or without SalesForceID."""
    rows = []
    for step in FIVE_ROW_CALL.steps:
        body = dict(step["body"])
        body["jtelStatisticsPartAID"] = call
        if salesforce_id is None:
            body.pop("SalesForceID")
        else:
            body["SalesForceID"] = salesforce_id
        rows.append(body)
    return rows


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o NAME`` looks in jtel-sf's scratch org list first: never the developer's real one."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
