"""Turn each tool's raw output into Findings. Pure functions: no processes, no file system.

The unit tests feed these with outputs captured from the real tools
(tests/fixtures/verify/captured/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .findings import Finding, finding

# apex-ls exit codes (CheckForIssues): 0 no issues, 4 issues reported, anything else a crash.
APEXLS_OK = 0
APEXLS_ISSUES = 4
# Code Analyzer severities: 1 Critical, 2 High, 3 Moderate, 4 Low, 5 Info.
PMD_FAIL_AT_OR_BELOW = 3

_EXPECTING = re.compile(r"\s+expecting\s+(\{.*\}|'.*')\s*$", re.DOTALL)


def _short(message: str) -> str:
    """Drop the (very long) list of tokens a parser expected; keep what it found."""
    first = message.strip()
    return _EXPECTING.sub("", first)


def _tool_error(path: str, check: str, message: str) -> Finding:
    return finding(path, 1, 1, check, "tool-error", message)


# --- syntax: the native apex-ast-serializer (Salesforce's jorje parser) -------------------------


def parse_apex_serializer(output: str, path: str) -> list[Finding]:
    """Parse the JSON that ``apex-ast-serializer -l FILE`` prints (it exits 0 even on errors)."""
    try:
        document = json.loads(output)
        (parser_output,) = document.values()
    except (ValueError, AttributeError) as exc:
        return [_tool_error(path, "syntax", f"the Apex parser printed no readable result ({exc})")]
    findings: list[Finding] = []
    for item in parser_output.get("parseErrors", []) or []:
        error = (item.get("error") or {}).get("error") or {}
        loc = error.get("loc") or {}
        kind = str(error.get("@class", "ParseError")).rsplit("$", 1)[-1].rsplit(".", 1)[-1]
        findings.append(
            finding(path, loc.get("line"), loc.get("column"), "syntax", kind, item.get("message") or kind)
        )
    for item in parser_output.get("internalErrors", []) or []:
        message = item.get("message") if isinstance(item, dict) else str(item)
        findings.append(finding(path, 1, 1, "syntax", "InternalError", str(message or item)))
    return findings


# --- semantics: apex-ls CheckForIssues -f json ---------------------------------------------------


def parse_apexls(
    output: str,
    returncode: int,
    map_path: Callable[[str], str | None],
    project_file: str,
    stderr: str = "",
) -> list[Finding]:
    """Parse ``CheckForIssues -f json`` output.

    ``map_path`` turns a path apex-ls printed into the path to report, or None to skip it (a
    file outside what is being verified). Issues about a missing -meta.xml are left to the
    metadata check, which reports them with a plainer message.
    """
    if returncode not in (APEXLS_OK, APEXLS_ISSUES):
        tail = " | ".join([line for line in (stderr or output).splitlines() if line.strip()][-3:])
        return [
            _tool_error(
                project_file, "semantics", f"apex-ls crashed (exit {returncode}): {tail or 'no output'}"
            )
        ]
    try:
        document = json.loads(output) if output.strip() else {"files": []}
    except ValueError as exc:
        return [_tool_error(project_file, "semantics", f"apex-ls printed no readable JSON ({exc})")]
    findings: list[Finding] = []
    for entry in document.get("files", []):
        path = map_path(entry.get("path", ""))
        if path is None:
            continue
        for message in entry.get("messages", []):
            text = str(message.get("message", ""))
            if "meta file is missing" in text:
                continue
            start = message.get("start") or {}
            offset = start.get("offset")
            findings.append(
                finding(
                    path,
                    start.get("line"),
                    (offset + 1) if isinstance(offset, int) else 1,  # apex-ls offsets are 0-based
                    "semantics",
                    str(message.get("category") or "Error"),
                    _short(text),
                )
            )
    if returncode == APEXLS_ISSUES and not document.get("files"):
        findings.append(_tool_error(project_file, "semantics", "apex-ls exited 4 (issues) but listed none"))
    return findings


# --- pmd: runner.js pmd (Code Analyzer core + PMD engine) ----------------------------------------

_PMD_SYNTAX = re.compile(r"Syntax error at (\d+):(\d+):\s*(.*)")
_PROCESSING_LOG = "processing error for file"


def parse_pmd(output: str, workspace: str) -> tuple[list[Finding], list[Finding]]:
    """Parse runner.js's PMD JSON. Returns (findings, notes): notes are violations of a severity
    above PMD_FAIL_AT_OR_BELOW (Low, Info), shown in --json but not failing the run."""
    try:
        document: dict[str, Any] = json.loads(output)
    except ValueError as exc:
        return [_tool_error(workspace, "pmd", f"the PMD runner printed no readable JSON ({exc})")], []
    findings: list[Finding] = []
    notes: list[Finding] = []
    if not document.get("rules"):
        findings.append(_tool_error(workspace, "pmd", "no PMD rules were selected: nothing was checked"))
    for violation in document.get("violations", []):
        item = finding(
            violation.get("file") or workspace,
            violation.get("line"),
            violation.get("column"),
            "pmd",
            str(violation.get("rule")),
            f"{violation.get('message', '').strip()} (severity {violation.get('severity')})",
        )
        severity = violation.get("severity")
        (findings if isinstance(severity, int) and severity <= PMD_FAIL_AT_OR_BELOW else notes).append(item)
    for error in document.get("processingErrors", []):
        message = str(error.get("message", ""))
        match = _PMD_SYNTAX.search(message)
        if match:
            line, column, text = int(match.group(1)), int(match.group(2)) + 1, _short(match.group(3))
            text = f"PMD could not parse the file: {text}"
        else:
            line, column, text = 1, 1, "PMD could not process the file: " + message.strip().splitlines()[0]
        findings.append(
            finding(error.get("file") or workspace, line, column, "pmd", "processing-error", text)
        )
    for log in document.get("logs", []):
        # Error-level log lines that are not the processing errors already reported above.
        if log.get("level") == 1 and _PROCESSING_LOG not in str(log.get("message", "")):
            findings.append(_tool_error(workspace, "pmd", str(log.get("message", "")).splitlines()[0]))
    return findings, notes


# --- format: runner.js check ----------------------------------------------------------------------


def parse_prettier_check(output: str) -> list[Finding]:
    """Parse runner.js's ``check`` JSON: one entry per file."""
    findings: list[Finding] = []
    for entry in json.loads(output).get("files", []):
        path = entry["file"]
        if entry.get("error"):
            findings.append(
                finding(path, 1, 1, "format", "prettier", f"prettier failed: {_short(entry['error'])}")
            )
        elif not entry.get("formatted") and not entry.get("written"):
            line = entry.get("firstDifference") or 1
            findings.append(
                finding(
                    path,
                    line,
                    1,
                    "format",
                    "prettier",
                    "not formatted as prettier formats it (jtel-sf verify --fix)",
                )
            )
    return findings
