"""`jtel-sf verify`: run every offline check on a folder of SFDX source and collect the findings.

Knows nothing about click: ``run_verify`` takes a path and returns a VerifyResult.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..settings import DEFAULT_SETTINGS
from . import checks, platform
from .findings import CHECKS, Finding
from .toolchain import ensure_toolchain

APEX_SUFFIXES = (".cls", ".trigger")
SKIPPED_DIRS = {".git", "node_modules", ".sfdx", ".sf", "__pycache__", ".jtel-sf"}
# Reported once, by the syntax check: other tools fail on a file that does not parse, too.
_REPEATS_SYNTAX = {"semantics", "format"}


@dataclass
class VerifyResult:
    target: Path
    findings: list[Finding]
    notes: list[Finding]  # PMD violations below the failing severity: shown in --json only
    apex_files: int
    xml_files: int
    seconds: float
    fixed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        counter = Counter(item.check for item in self.findings)
        return {check: counter.get(check, 0) for check in CHECKS}

    def lines(self, base: Path | None = None) -> list[str]:
        return [item.format(base) for item in self.findings]

    def summary(self) -> str:
        counts = ", ".join(f"{check} {count}" for check, count in self.counts().items())
        verdict = "OK" if self.ok else f"{len(self.findings)} finding(s)"
        fixed = f"; formatted {len(self.fixed)} file(s)" if self.fixed else ""
        notes = f"; {len(self.notes)} low-severity PMD note(s) not counted" if self.notes else ""
        return (
            f"verify: {verdict} ({counts}) in {self.apex_files} Apex and {self.xml_files} XML file(s) "
            f"checked, {self.seconds:.1f}s{fixed}{notes}"
        )

    def to_json(self, base: Path | None = None) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "target": str(self.target),
                "counts": self.counts(),
                "files": {"apex": self.apex_files, "xml": self.xml_files},
                "findings": [item.to_dict(base) for item in self.findings],
                "notes": [item.to_dict(base) for item in self.notes],
                "fixed": self.fixed,
                "seconds": round(self.seconds, 2),
            },
            indent=2,
        )


def default_target(start: Path | None = None) -> Path:
    """The default package directory of the SFDX project around ``start`` (default: cwd)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        project_file = folder / "sfdx-project.json"
        if project_file.is_file():
            try:
                packages = json.loads(project_file.read_text(encoding="utf-8")).get("packageDirectories", [])
            except ValueError as exc:
                raise UsageError(f"{project_file} is not valid JSON: {exc}") from exc
            chosen = next((p for p in packages if p.get("default")), packages[0] if packages else None)
            if not chosen or "path" not in chosen:
                raise UsageError(f"{project_file} lists no packageDirectories")
            return (folder / chosen["path"]).resolve()
    raise UsageError(
        "no sfdx-project.json here or above: pass the folder to verify", hint="jtel-sf verify force-app"
    )


def collect_files(target: Path) -> tuple[list[Path], list[Path]]:
    apex: list[Path] = []
    xml: list[Path] = []
    for folder, dirs, names in os.walk(target):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith(APEX_SUFFIXES):
                apex.append(path)
            elif name.endswith(".xml"):
                xml.append(path)
    return apex, xml


def run_verify(path: Path | None = None, *, fix: bool = False) -> VerifyResult:
    """Run all checks on ``path`` (default: the project's default package directory)."""
    started = time.monotonic()
    target = path.resolve() if path is not None else default_target()
    if not target.is_dir():
        raise UsageError(f"{target} is not a folder")
    apex_files, xml_files = collect_files(target)
    toolchain = ensure_toolchain()

    findings: list[Finding] = []
    notes: list[Finding] = []
    fixed: list[str] = []
    if apex_files:
        if fix:  # format in place first, so every other check sees (and reports lines of) the result
            before = {p: p.read_bytes() for p in apex_files}
            checks.run_prettier(toolchain, apex_files, write=True)
            fixed = [str(p) for p in apex_files if p.read_bytes() != before[p]]
        with ThreadPoolExecutor(max_workers=4) as pool:
            semantics = pool.submit(checks.check_semantics, toolchain, target, DEFAULT_SETTINGS.api_version)
            pmd = pool.submit(checks.check_pmd, toolchain, apex_files, target)
            prettier = pool.submit(checks.run_prettier, toolchain, apex_files)
            syntax = checks.check_syntax(toolchain, apex_files)
            pmd_findings, notes = pmd.result()
            findings = [*syntax, *semantics.result(), *pmd_findings, *prettier.result()]
        broken = {item.path for item in syntax}
        findings = [
            item
            for item in findings
            if not (
                item.path in broken and (item.check in _REPEATS_SYNTAX or item.rule == "processing-error")
            )
        ]
        findings += checks.check_suppressions(apex_files)
    findings += checks.check_metadata(apex_files, xml_files)
    project = checks.find_project(target)
    findings += platform.check_platform(target, apex_files, xml_files, project, toolchain.root)
    findings.sort(key=lambda item: (item.path, item.line, item.column, item.check, item.rule))
    return VerifyResult(
        target=target,
        findings=findings,
        notes=sorted(notes),
        apex_files=len(apex_files),
        xml_files=len(xml_files),
        seconds=time.monotonic() - started,
        fixed=fixed,
    )
