"""`jtel-sf verify`: offline Apex verification (parse options, call jtel_sf.verify.core)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import CheckFailed
from ..options import command_epilog, json_option
from ..output import emit
from ..verify.core import run_verify

EXAMPLES = [
    ("jtel-sf verify", "check the project's force-app"),
    ("jtel-sf verify --fix", "format the Apex with prettier first, then check"),
    ("jtel-sf verify force-app/main --json", "check one folder, findings as JSON"),
]
EXIT_CODES = {0: "no findings", 1: "findings", 2: None, 4: None}


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--fix", is_flag=True, help="Format .cls/.trigger files in place with prettier, then check.")
@json_option
def verify(path: Path | None, fix: bool, as_json: bool) -> None:
    """Check Apex and metadata offline with Salesforce's own tooling.

    PATH defaults to the default package directory of the SFDX project (force-app). Checks:
    syntax (Salesforce's Apex parser), semantics (apex-ls: unknown types, methods, fields,
    custom fields), PMD (Code Analyzer's recommended rules, severity 1-3 fail; a suppression
    needs a written reason), formatting (prettier-plugin-apex) and metadata (-meta.xml present,
    XML parses). The pinned tools (and Java, when no Java 21+ is found) are installed into a
    cache on first use.

    Prints one finding a line (path:line:col: [check/rule] message) and a summary.
    """
    result = run_verify(path, fix=fix)
    emit(json.loads(result.to_json()), [*result.lines(), result.summary()])
    if not result.ok:
        raise CheckFailed(f"verify found {len(result.findings)} problem(s) in {result.target}")
