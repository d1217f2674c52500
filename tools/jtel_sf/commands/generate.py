"""``jtel-sf generate``: thin click wrapper around jtel_sf.generate.run_generate."""

from __future__ import annotations

from pathlib import Path

import click

from ..generate import find_project_dir, run_generate
from ..settings import load_settings


@click.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (jtel-sf.toml, or a pyproject.toml with [tool.jtel-sf]). "
    "Default: the project's jtel-sf.toml, else [tool.jtel-sf] in its pyproject.toml, else built-in defaults.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write into this directory (same layout as the project) instead of the project.",
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 naming every file that is missing or differs."
)
def generate(config: Path | None, out_dir: Path | None, check: bool) -> None:
    """Render the files that derive from the contract and the settings.

    Writes the JtelCallRow__c field metadata, JtelFieldDef, JtelContractSpec, the REST resource
    (URL mapping), the contract test class, the JtelSettings.Default record, the integration
    permission set and docs/fields.md, Apex formatted with prettier. Settings are checked before
    anything is written.
    """
    project_dir = find_project_dir()
    settings = load_settings(project_dir, config)
    run_generate(project_dir, settings, out_dir=out_dir, check=check, echo=click.echo)
