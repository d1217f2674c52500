"""``jtel-sf generate``: thin click wrapper around jtel_sf.generate.run_generate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..generate import find_project_dir, run_generate
from ..options import command_epilog, json_option, settings_option
from ..output import emit
from ..settings import Settings

EXAMPLES = [
    ("jtel-sf generate", "write the generated files into the project"),
    ("jtel-sf generate --check", "write nothing, name every file that drifted (CI)"),
    ("jtel-sf generate --config site.toml --out /tmp/g", "other settings, into another folder"),
]
EXIT_CODES = {0: None, 1: "--check found generated files that differ or are missing", 2: None, 4: None}


@click.command(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write into this directory (same layout as the project) instead of the project.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 naming every file that is missing or differs."
)
@json_option
@settings_option
def generate(out_dir: Path | None, check: bool, as_json: bool, settings: Settings) -> None:
    """Render the files that derive from the contract and the settings.

    Writes the JtelCallRow__c field metadata, JtelFieldDef, JtelContractSpec, the REST resource
    (URL mapping), the contract test class, the JtelSettings.Default record, the integration
    permission set and docs/fields.md, Apex formatted with prettier. Settings are checked before
    anything is written.
    """
    project_dir = find_project_dir()
    result = run_generate(
        project_dir, settings, out_dir=out_dir, check=check, echo=lambda text: click.echo(text, err=as_json)
    )
    emit({**asdict(result), "total": result.total})
