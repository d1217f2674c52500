"""``jtel-sf generate``: render the files of force-app and docs that derive from the contract and
the settings, write them (or only compare them with ``check``).

Everything is rendered in memory first, so an error (bad settings, a template problem, a missing
formatter) leaves every file as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckFailed, UsageError
from ..settings import Settings
from .render import RenderedFile, render_all

PROJECT_MARKER = "sfdx-project.json"
OBJECTS_GLOB = "force-app/main/default/objects/*/fields/*.field-meta.xml"

Echo = Callable[[str], None]


@dataclass
class GenerateResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)  # --check: differs from what generate writes
    missing: list[str] = field(default_factory=list)  # --check: not there at all

    @property
    def total(self) -> int:
        return len(self.written) + len(self.unchanged) + len(self.drifted) + len(self.missing)


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding sfdx-project.json."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_MARKER).is_file():
            return candidate
    raise UsageError(
        f"no {PROJECT_MARKER} found in {here} or above",
        hint="Run jtel-sf generate inside the project (the folder with force-app/ and sfdx-project.json).",
    )


def read_project_files(project_dir: Path) -> dict[str, str]:
    """The project's custom field metadata, the input of the permission set."""
    return {
        path.relative_to(project_dir).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(project_dir.glob(OBJECTS_GLOB))
    }


def default_formatter() -> Callable[[str, str], str]:
    """prettier + prettier-plugin-apex with the project's options (jtel_sf.verify's pinned toolchain)."""
    from ..verify.toolchain import format_apex_source

    return format_apex_source


def render(
    project_dir: Path, settings: Settings, format_apex: Callable[[str, str], str] | None = None
) -> list[RenderedFile]:
    formatter = format_apex or default_formatter()
    return render_all(settings, project_dir, read_project_files(project_dir), formatter)


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""  # not what we would write: drifted


def run_generate(
    project_dir: Path,
    settings: Settings,
    *,
    out_dir: Path | None = None,
    check: bool = False,
    echo: Echo = print,
    format_apex: Callable[[str, str], str] | None = None,
) -> GenerateResult:
    """Render all generated files and write them under ``out_dir`` (default: the project), or with
    ``check`` only compare; raises CheckFailed naming every drifted or missing file."""
    files = render(project_dir, settings, format_apex)
    target = Path(out_dir) if out_dir is not None else project_dir
    result = GenerateResult()
    for item in files:
        path = target / item.path
        current = _read(path)
        if current == item.content:
            result.unchanged.append(item.path)
            echo(f"  unchanged  {item.path}")
        elif check:
            (result.missing if current is None else result.drifted).append(item.path)
            echo(f"  {'missing' if current is None else 'drifted'}    {item.path}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write(item.content)
            result.written.append(item.path)
            echo(f"  wrote      {item.path}")
    if check:
        bad = result.drifted + result.missing
        if bad:
            raise CheckFailed(
                f"{len(bad)} of {result.total} generated files differ from what jtel-sf generate writes: "
                + ", ".join(bad),
                hint="Run jtel-sf generate and commit the result (edit the templates or the contract JSON,"
                " not the generated files).",
            )
        echo(f"All {result.total} generated files are up to date.")
    else:
        echo(f"{result.total} files: {len(result.written)} written, {len(result.unchanged)} unchanged.")
    return result
