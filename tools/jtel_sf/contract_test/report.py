"""Text, JUnit XML and JSON views of a contract-test run (plain functions; the command prints)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from .run import RunReport
from .runner import FAILED, PASSED, SKIPPED, CaseResult

Style = Callable[[str, str], str]  # (text, colour name) -> text


def _plain(text: str, _colour: str) -> str:
    return text


_MARK = {PASSED: ("PASS", "green"), FAILED: ("FAIL", "red"), SKIPPED: ("SKIP", "yellow")}


def header_line(report: RunReport, case_count: int) -> str:
    return (
        f"jtel-sf contract-test: {case_count} contract case{'s' if case_count != 1 else ''} "
        f"against {report.target_description} (seed {report.seed})"
    )


def case_lines(result: CaseResult, width: int = 44, style: Style = _plain) -> list[str]:
    """The live line for one case and, under it, why it failed or was skipped, what was kept."""
    mark, colour = _MARK.get(result.result, (result.result.upper(), "red"))
    name = result.name.ljust(width)
    timing = f"{result.duration:6.2f}s" if result.result != SKIPPED else " " * 7
    line = f"  {style(mark, colour)}  {name} {timing}"
    if result.result == SKIPPED and result.reason:
        line += f"  {result.reason}"
    lines = [line]
    lines.extend(f"          - {failure}" for failure in result.failures)
    lines.extend(f"          ! cleanup: {problem}" for problem in result.cleanup_problems)
    if result.kept:
        lines.append("          kept for inspection:")
        lines.extend(f"            {k.sobject} {k.record_id}  ({k.note})" for k in result.kept)
    return lines


def summary_table(report: RunReport, style: Style = _plain) -> str:
    """The summary: one row per case (result, time, note) and the totals."""
    width = max([len("case"), *(len(r.name) for r in report.results)])
    lines = [f"{'case'.ljust(width)}  result   time     note", f"{'-' * width}  -------  -------  {'-' * 30}"]
    for r in report.results:
        _mark, colour = _MARK.get(r.result, (r.result, "red"))
        note = ""
        if r.result == SKIPPED:
            note = r.reason or ""
        elif r.result == FAILED:
            note = r.failures[0] if r.failures else ""
            if len(r.failures) > 1:
                note += f" (+{len(r.failures) - 1} more)"
        timing = f"{r.duration:6.2f}s" if r.result != SKIPPED else "      -"
        lines.append(f"{r.name.ljust(width)}  {style(r.result.ljust(7), colour)}  {timing}  {note}".rstrip())
    lines.append("")
    lines.append(totals_line(report, style))
    return "\n".join(lines)


def totals_line(report: RunReport, style: Style = _plain) -> str:
    passed, failed, skipped = report.count(PASSED), report.count(FAILED), report.count(SKIPPED)
    parts = [style(f"{passed} passed", "green" if passed else "reset")]
    parts.append(style(f"{failed} failed", "red" if failed else "reset"))
    parts.append(style(f"{skipped} skipped", "yellow" if skipped else "reset"))
    verdict = "INTERRUPTED" if report.interrupted else ("OK" if report.ok else "FAILED")
    colour = "green" if report.ok else "red"
    where = f"{report.target_kind}, replayed" if report.replayed else report.target_kind
    return (
        f"{style(verdict, colour)}: {len(report.results)} cases against {where}: "
        + ", ".join(parts)
        + f" in {report.duration:.1f}s"
    )


def junit_xml(report: RunReport) -> str:
    suite = ET.Element(
        "testsuite",
        {
            "name": f"jtel-sf contract-test ({report.target_kind})",
            "tests": str(len(report.results)),
            "failures": str(report.count(FAILED)),
            "errors": "0",
            "skipped": str(report.count(SKIPPED)),
            "time": f"{report.duration:.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "target", "value": report.target_description})
    ET.SubElement(properties, "property", {"name": "seed", "value": str(report.seed)})
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"contract.{report.target_kind}", "name": r.name, "time": f"{r.duration:.3f}"},
        )
        if r.result == FAILED:
            failure = ET.SubElement(case, "failure", {"message": r.failures[0] if r.failures else "failed"})
            failure.text = "\n".join(r.failures)
        elif r.result == SKIPPED:
            ET.SubElement(case, "skipped", {"message": r.reason or "skipped"})
        if r.kept or r.cleanup_problems:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                [f"kept: {k.sobject} {k.record_id} ({k.note})" for k in r.kept]
                + [f"cleanup: {p}" for p in r.cleanup_problems]
            )
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: RunReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")


def json_document(report: RunReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
