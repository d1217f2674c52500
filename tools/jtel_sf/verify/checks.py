"""Each check of `jtel-sf verify`: run one tool (or read the files) and return Findings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .findings import Finding, finding
from .parsers import parse_apex_serializer, parse_apexls, parse_pmd, parse_prettier_check
from .toolchain import Toolchain

PMD_SELECTOR = "pmd:Recommended"  # Code Analyzer's recommended PMD rules (65 Apex rules with 0.46.0)
APEXLS_MAIN = "io.github.apexdevtools.apexls.CheckForIssues"
# Short-lived JVMs: C1 only and the serial GC roughly halve the CPU time of apex-ls and PMD here;
# no perf-data file (hsperfdata) left in the temp folder.
JAVA_FAST_START = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")


TOOL_TIMEOUT_SECONDS = 600  # a hung tool becomes a tool-error finding, never a silent pass


def _run(command: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # type: ignore[call-overload]
            list(command), capture_output=True, text=True, check=False, timeout=TOOL_TIMEOUT_SECONDS, **kwargs
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(command), -1, "", f"timed out after {TOOL_TIMEOUT_SECONDS} s")


# --- a. syntax ------------------------------------------------------------------------------------


def check_syntax(toolchain: Toolchain, files: Sequence[Path]) -> list[Finding]:
    """Salesforce's own Apex parser (native build), one short process per file."""

    def one(path: Path) -> list[Finding]:
        proc = _run([str(toolchain.apex_serializer), "-l", str(path)])
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[0]
            return [
                finding(
                    path,
                    1,
                    1,
                    "syntax",
                    "tool-error",
                    f"the Apex parser failed (exit {proc.returncode}): {tail}",
                )
            ]
        return parse_apex_serializer(proc.stdout, str(path))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [item for result in pool.map(one, files) for item in result]


# --- b. semantics ---------------------------------------------------------------------------------


def _package_dirs(project: Path) -> list[Path]:
    try:
        data = json.loads((project / "sfdx-project.json").read_text(encoding="utf-8"))
        return [(project / entry["path"]).resolve() for entry in data.get("packageDirectories", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def find_project(target: Path) -> Path | None:
    """The SFDX project whose package directories hold (or are inside) ``target``, if any."""
    for folder in (target, *target.parents):
        if (folder / "sfdx-project.json").is_file():
            for package in _package_dirs(folder):
                if package == target or target in package.parents or package in target.parents:
                    return folder
            return None
    return None


def check_semantics(toolchain: Toolchain, target: Path, api_version: str) -> list[Finding]:
    """apex-ls CheckForIssues on the project around ``target`` (or a temp project around it)."""
    project = find_project(target)
    temp: Path | None = None
    try:
        if project is not None:
            project_file = str(project / "sfdx-project.json")

            def map_path(printed: str) -> str | None:
                path = Path(printed).resolve()
                if path == target or target in path.parents or str(path) == project_file:
                    return str(path)
                return None

            workspace = project
        else:
            temp = Path(tempfile.mkdtemp(prefix="jtel-sf-apexls-"))
            (temp / "sfdx-project.json").write_text(
                '{"packageDirectories": [{"path": "src", "default": true}], '
                f'"namespace": "", "sourceApiVersion": "{api_version}"}}\n',
                encoding="utf-8",
            )
            shutil.copytree(target, temp / "src", ignore=shutil.ignore_patterns(".git", "node_modules"))
            project_file = str(target)
            src = (temp / "src").resolve()

            def map_path(printed: str) -> str | None:
                path = Path(printed).resolve()
                try:
                    return str(target / path.relative_to(src))
                except ValueError:
                    return None

            workspace = temp
        proc = _run(
            [
                str(toolchain.java),
                *JAVA_FAST_START,
                "-cp",
                f"{toolchain.apexlink_jars}/*",
                APEXLS_MAIN,
                "-n",
                "-f",
                "json",
                "-w",
                str(workspace),
            ]
        )
        return parse_apexls(proc.stdout, proc.returncode, map_path, project_file, proc.stderr)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


# --- c. PMD ---------------------------------------------------------------------------------------


def check_pmd(
    toolchain: Toolchain, files: Sequence[Path], workspace: Path
) -> tuple[list[Finding], list[Finding]]:
    """PMD 7 Apex rules through Salesforce Code Analyzer; its temp folders are removed afterwards."""
    temp = Path(tempfile.mkdtemp(prefix="jtel-sf-pmd-"))
    try:
        env = toolchain.node_env()
        env["TMPDIR"] = str(temp)  # os.tmpdir() for the analyzer: its code-analyzer-* folders land here
        # The engine spawns java itself (describe rules, then run): pass the start-up flags this way.
        env["JAVA_TOOL_OPTIONS"] = " ".join(JAVA_FAST_START)
        proc = _run(
            toolchain.node_command("pmd", str(toolchain.java), PMD_SELECTOR, *map(str, files)), env=env
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if proc.returncode != 0:
        tail = " | ".join([line for line in proc.stderr.splitlines() if line.strip()][:3])
        return [
            finding(
                workspace,
                1,
                1,
                "pmd",
                "tool-error",
                f"the PMD runner failed (exit {proc.returncode}): {tail}",
            )
        ], []
    return parse_pmd(proc.stdout, str(workspace))


_SUPPRESSION = re.compile(r"@SuppressWarnings\s*\(\s*'([^']*)'", re.IGNORECASE)
_NOPMD = re.compile(r"//\s*NOPMD\b(.*)$", re.IGNORECASE)
_TRAILING_COMMENT = re.compile(r"(//|/\*)\s*(.*?)\s*(\*/)?\s*$")
_MIN_REASON_WORDS = 2


def _is_reason(text: str) -> bool:
    words = re.findall(r"[A-Za-z]{2,}", text.replace("NOPMD", " "))
    return len(words) >= _MIN_REASON_WORDS


def _reason_above(lines: Sequence[str], index: int, suppressed: str) -> bool:
    """Is there a written reason just above line ``index`` (other annotations skipped)?

    Either a ``//`` comment line, or a block comment (e.g. the ApexDoc) ending right above that
    speaks about the suppression: it names PMD or one of the suppressed rules.
    """
    above = index - 1
    while above >= 0 and lines[above].strip().startswith("@"):
        above -= 1
    if above < 0:
        return False
    previous = lines[above].strip()
    if previous.startswith("//"):
        return _is_reason(previous.lstrip("/"))
    if previous.endswith("*/"):
        start = above
        while start > 0 and "/*" not in lines[start]:
            start -= 1
        block = " ".join(lines[start : above + 1])
        names = [
            name.split(".")[-1] for name in re.split(r"[,\s]+", suppressed) if name.upper().startswith("PMD.")
        ]
        mentions = re.search(r"\bPMD\b", block, re.IGNORECASE) or any(
            name and name in block for name in names
        )
        return bool(mentions) and _is_reason(block)
    return False


def check_suppressions(files: Sequence[Path], read: Callable[[Path], str] | None = None) -> list[Finding]:
    """A PMD suppression counts only with a written reason next to it: a comment on the same line,
    a ``//`` comment on the line above, or a comment block right above that names PMD or the
    suppressed rule. ``@SuppressWarnings('PMD...')`` and ``// NOPMD`` without one are findings."""
    read = read or (lambda path: path.read_text(encoding="utf-8", errors="replace"))
    findings: list[Finding] = []
    for path in files:
        lines = read(path).splitlines()
        for index, line in enumerate(lines):
            for match in _SUPPRESSION.finditer(line):
                if not match.group(1).upper().startswith("PMD"):
                    continue
                after = _TRAILING_COMMENT.search(line[match.end() :])
                if not (
                    (after and _is_reason(after.group(2))) or _reason_above(lines, index, match.group(1))
                ):
                    findings.append(
                        finding(
                            path,
                            index + 1,
                            match.start() + 1,
                            "pmd",
                            "unexplained-suppression",
                            f"@SuppressWarnings('{match.group(1)}') needs a written reason: a comment on "
                            "the same line, or right above it (a comment block there names PMD or the rule)",
                        )
                    )
            nopmd = _NOPMD.search(line)
            if nopmd and not (_is_reason(nopmd.group(1)) or _reason_above(lines, index, "")):
                findings.append(
                    finding(
                        path,
                        index + 1,
                        nopmd.start() + 1,
                        "pmd",
                        "unexplained-suppression",
                        "// NOPMD needs a written reason after it or in a comment on the line above",
                    )
                )
    return findings


# --- d. formatting --------------------------------------------------------------------------------


def run_prettier(toolchain: Toolchain, files: Sequence[Path], write: bool = False) -> list[Finding]:
    """prettier + prettier-plugin-apex with the project's .prettierrc; ``write`` formats in place."""
    if not files:
        return []
    args = ["--write", *map(str, files)] if write else list(map(str, files))
    proc = _run(toolchain.node_command("check", *args), env=toolchain.node_env())
    if proc.returncode != 0:
        tail = " | ".join([line for line in proc.stderr.splitlines() if line.strip()][:3])
        return [
            finding(
                files[0], 1, 1, "format", "tool-error", f"prettier failed (exit {proc.returncode}): {tail}"
            )
        ]
    return parse_prettier_check(proc.stdout)


# --- e. metadata ----------------------------------------------------------------------------------


def check_metadata(apex_files: Sequence[Path], xml_files: Sequence[Path]) -> list[Finding]:
    """Every .cls/.trigger has its -meta.xml; every XML file parses."""
    findings: list[Finding] = []
    for path in apex_files:
        meta = path.with_name(path.name + "-meta.xml")
        if not meta.is_file():
            findings.append(finding(path, 1, 1, "metadata", "missing-meta-xml", f"{meta.name} is missing"))
    for path in xml_files:
        try:
            ET.parse(path)
        except ET.ParseError as exc:
            line, column = exc.position
            findings.append(
                finding(
                    path,
                    line,
                    column + 1,
                    "metadata",
                    "xml-parse",
                    f"XML does not parse: {str(exc).split(': line ')[0]}",
                )
            )
    return findings
