"""Deploy a ``DeployPackage`` through the Metadata API and follow it to the end.

``deploy`` (the plain-function API) starts the deploy (or re-attaches to one, or quick-deploys a
validation) through ``mdapi`` (our own small SOAP client on the documented operations), then
polls ``checkDeployStatus`` (with details) on its ``status`` until it is terminal, with a live
one-line display, at an interval that grows while nothing changes and resets when something
does. The final ``DeployResult`` (Metadata API Developer Guide: DeployResult, DeployDetails,
DeployMessage, RunTestsResult, CodeCoverageResult) is parsed here.

Coverage: measured are exactly the classes the org measures (not ``@IsTest``, with executable
code); the org's rule (75% per class with RunSpecifiedTests) decides the deploy, and the project's
own stricter target (``--coverage-threshold``, 90%) is reported apart from it.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..auth import OrgRequestError, OrgSession
from ..errors import EXIT_INTERRUPTED, JtelSfError, UsageError
from . import mdapi
from .package import DeployPackage
from .permsets import assign_permission_sets, require_active_user
from .soql import in_list

TEST_LEVELS = ("NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg")
TERMINAL_STATUSES = ("Succeeded", "SucceededPartial", "Failed", "Canceled")
NS = {"mt": "http://soap.sforce.com/2006/04/metadata"}
MAX_POLL_INTERVAL = 30.0
POLL_GROWTH = 1.5


# --------------------------------------------------------------------------------------------
# the DeployResult
# --------------------------------------------------------------------------------------------


@dataclass
class ComponentFailure:
    component_type: str
    full_name: str
    file_name: str  # path in the zip
    line: int | None
    column: int | None
    problem: str
    problem_type: str
    source: str | None = None  # the source file, once located
    source_line: int | None = None

    def location(self) -> str:
        """``file:line:col`` (compiler style; 1:1 when Salesforce gave no position)."""
        where = self.source or self.file_name or self.full_name
        return f"{where}:{self.source_line or self.line or 1}:{self.column or 1}"


@dataclass
class TestFailure:
    class_name: str
    method: str
    message: str
    stack_trace: str
    frames: list[str] = field(default_factory=list)  # stack frames as source-file:line:col, when known


_FRAME = re.compile(r"^Class\.(\w+)\.[\w.<>]*: line (\d+), column (\d+)")


def locate_frames(package: DeployPackage, failure: TestFailure) -> None:
    """``Class.X.m: line 9, column 1`` -> ``force-app/.../classes/X.cls:9:1`` for the package's classes."""
    for frame in failure.stack_trace.splitlines():
        match = _FRAME.match(frame.strip())
        if match and match.group(1) in package.apex_sources:
            path = _display_path(package.apex_sources[match.group(1)])
            failure.frames.append(f"{path}:{match.group(2)}:{match.group(3)}")
        else:
            failure.frames.append("")


@dataclass
class ClassCoverage:
    name: str
    covered: int | None  # None: no coverage was recorded for the class
    uncovered: int | None
    origin: str  # "deploy" (RunTestsResult.codeCoverage) or "tooling" (ApexCodeCoverageAggregate)

    @property
    def percent(self) -> float:
        if not self.covered and not self.uncovered:
            return 0.0
        total = (self.covered or 0) + (self.uncovered or 0)
        return 100.0 * (self.covered or 0) / total


@dataclass
class DeployStatus:
    id: str
    status: str
    state_detail: str = ""
    check_only: bool = False
    components_total: int = 0
    components_deployed: int = 0
    components_failed: int = 0
    tests_total: int = 0
    tests_completed: int = 0
    tests_failed: int = 0
    error_message: str = ""
    error_status_code: str = ""
    component_failures: list[ComponentFailure] = field(default_factory=list)
    test_failures: list[TestFailure] = field(default_factory=list)
    coverage: list[ClassCoverage] = field(default_factory=list)
    coverage_warnings: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    def signature(self) -> tuple[Any, ...]:
        """What the display shows; a change resets the poll interval."""
        return (
            self.status,
            self.state_detail,
            self.components_deployed,
            self.components_failed,
            self.tests_completed,
            self.tests_failed,
        )


def _text(element: ET.Element, name: str) -> str:
    return (element.findtext(f"mt:{name}", default="", namespaces=NS) or "").strip()


def _int(element: ET.Element, name: str) -> int:
    value = _text(element, name)
    try:
        return int(float(value)) if value else 0
    except ValueError:
        return 0


def _opt_int(element: ET.Element, name: str) -> int | None:
    value = _text(element, name)
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def parse_deploy_result(result: ET.Element) -> DeployStatus:
    """A ``checkDeployStatus`` ``result`` element (namespace ``http://soap.sforce.com/2006/04/metadata``)."""
    status = DeployStatus(
        id=_text(result, "id"),
        status=_text(result, "status") or "Pending",
        state_detail=_text(result, "stateDetail"),
        check_only=_text(result, "checkOnly") == "true",
        components_total=_int(result, "numberComponentsTotal"),
        components_deployed=_int(result, "numberComponentsDeployed"),
        components_failed=_int(result, "numberComponentErrors"),
        tests_total=_int(result, "numberTestsTotal"),
        tests_completed=_int(result, "numberTestsCompleted"),
        tests_failed=_int(result, "numberTestErrors"),
        error_message=_text(result, "errorMessage"),
        error_status_code=_text(result, "errorStatusCode"),
    )
    for failure in result.findall("mt:details/mt:componentFailures", NS):
        status.component_failures.append(
            ComponentFailure(
                component_type=_text(failure, "componentType"),
                full_name=_text(failure, "fullName"),
                file_name=_text(failure, "fileName"),
                line=_opt_int(failure, "lineNumber"),
                column=_opt_int(failure, "columnNumber"),
                problem=_text(failure, "problem"),
                problem_type=_text(failure, "problemType") or "Error",
            )
        )
    run = result.find("mt:details/mt:runTestResult", NS)
    if run is not None:
        for failure in run.findall("mt:failures", NS):
            namespace = _text(failure, "namespace")
            name = _text(failure, "name")
            status.test_failures.append(
                TestFailure(
                    class_name=f"{namespace}.{name}" if namespace else name,
                    method=_text(failure, "methodName"),
                    message=_text(failure, "message"),
                    stack_trace=_text(failure, "stackTrace"),
                )
            )
        for coverage in run.findall("mt:codeCoverage", NS):
            if _text(coverage, "type") not in ("", "Class"):
                continue
            total = _int(coverage, "numLocations")
            not_covered = _int(coverage, "numLocationsNotCovered")
            status.coverage.append(
                ClassCoverage(_text(coverage, "name"), total - not_covered, not_covered, "deploy")
            )
        for warning in run.findall("mt:codeCoverageWarnings", NS):
            name = _text(warning, "name")
            message = _text(warning, "message")
            status.coverage_warnings.append(f"{name}: {message}" if name else message)
    return status


# --------------------------------------------------------------------------------------------
# progress display
# --------------------------------------------------------------------------------------------


class Progress(Protocol):
    def update(self, status: DeployStatus, elapsed: float) -> None: ...

    def finish(self) -> None: ...


def progress_line(status: DeployStatus, elapsed: float) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    detail = f" ({status.state_detail})" if status.state_detail else ""
    components = (
        f"components {status.components_deployed + status.components_failed}/{status.components_total}"
    )
    if status.components_failed:
        components += f" ({status.components_failed} failed)"
    tests = f"tests {status.tests_completed + status.tests_failed}/{status.tests_total}"
    if status.tests_failed:
        tests += f" ({status.tests_failed} failed)"
    return f"[{minutes:02d}:{seconds:02d}] {status.status}{detail} | {components} | {tests}"


class LiveLine:
    """One line on a terminal, rewritten in place; one line per change elsewhere (logs, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last = ""
        self.width = 0

    def update(self, status: DeployStatus, elapsed: float) -> None:
        line = progress_line(status, elapsed)
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
            self.stream.flush()
        elif line.split("] ", 1)[1] != self.last.split("] ", 1)[-1]:
            self.stream.write(line + "\n")
        self.last = line

    def finish(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------------------------
# running a deploy
# --------------------------------------------------------------------------------------------

# What the org enforces per class with RunSpecifiedTests (Metadata API Developer Guide, "Running a
# Subset of Tests in a Deployment": each class and trigger in the deploy needs 75% on its own).
# With RunLocalTests / RunAllTestsInOrg the org enforces 75% over the whole org instead.
ORG_CLASS_COVERAGE = 75.0


class DeployInterrupted(JtelSfError):
    """Ctrl-C while following a deploy: the deploy goes on in the org."""

    exit_code = EXIT_INTERRUPTED


@dataclass(frozen=True)
class DeployOptions:
    check_only: bool = False
    test_level: str = "RunSpecifiedTests"
    tests: tuple[str, ...] = ()  # empty with RunSpecifiedTests: the package's test classes
    wait_minutes: float = 30.0
    poll_interval: float = 2.0
    coverage_threshold: float = 90.0  # the project's own target, reported apart from the org's rule
    assign_permset: str | None = None  # username
    permission_sets: tuple[str, ...] = ("JtelCallStatisticsIntegration", "JtelCallStatisticsRecordAccess")
    job_id: str | None = None  # re-attach to this deploy (no new deploy)
    quick: bool = False  # with job_id: quick-deploy that validation (deployRecentValidation)


@dataclass
class DeployReport:
    status: DeployStatus
    tests: list[str]
    test_level: str
    elapsed: float
    timed_out: bool = False
    coverage: list[ClassCoverage] = field(default_factory=list)
    below_org_rule: list[ClassCoverage] = field(default_factory=list)  # < 75% with RunSpecifiedTests
    below_threshold: list[ClassCoverage] = field(default_factory=list)  # < the project's threshold
    coverage_threshold: float = 90.0
    permsets: list[str] = field(default_factory=list)  # what --assign-permset did
    attached: bool = False  # re-attached to an existing deploy (--job-id)
    quick_of: str | None = None  # the validation a quick deploy came from

    @property
    def ok(self) -> bool:
        """The org's verdict: the deploy succeeded (coverage below the project's threshold does not
        change what the org did)."""
        return not self.timed_out and self.status.succeeded

    # kept for callers of the earlier name
    @property
    def coverage_below(self) -> list[ClassCoverage]:
        return self.below_threshold

    def to_json(self) -> dict[str, Any]:
        document = asdict(self.status)
        document.pop("coverage")
        return {
            "id": self.status.id,
            "result": "timeout" if self.timed_out else ("ok" if self.ok else "failed"),
            "checkOnly": self.status.check_only,
            "testLevel": self.test_level,
            "tests": self.tests,
            "attached": self.attached,
            "quickDeployOf": self.quick_of,
            "elapsedSeconds": round(self.elapsed, 1),
            "deployResult": document,
            "orgCoverageRule": ORG_CLASS_COVERAGE if self.test_level == "RunSpecifiedTests" else None,
            "coverageThreshold": self.coverage_threshold,
            "coverage": [
                {
                    **asdict(c),
                    "percent": round(c.percent, 2),
                    "belowOrgRule": c in self.below_org_rule,
                    "belowThreshold": c in self.below_threshold,
                }
                for c in self.coverage
            ],
            "assignPermset": self.permsets,
        }


DeployOutcome = DeployReport  # the earlier name


def resolve_tests(package: DeployPackage, options: DeployOptions) -> list[str]:
    if options.test_level not in TEST_LEVELS:
        raise UsageError(f"--test-level must be one of {', '.join(TEST_LEVELS)}")
    if options.tests and options.test_level != "RunSpecifiedTests":
        raise UsageError("--tests only goes with --test-level RunSpecifiedTests")
    if options.test_level != "RunSpecifiedTests":
        return []
    tests = list(options.tests) or package.test_classes()
    if not tests:
        raise UsageError(
            "RunSpecifiedTests needs test classes, and no @IsTest class with test methods was found",
            hint="Pass --tests CLASS,... or choose another --test-level (production deploys require tests).",
        )
    for name in tests:
        if not re.fullmatch(r"[A-Za-z]\w*(\.\w+)?", name):
            raise UsageError(f"--tests: {name!r} is not an Apex class name")
    return tests


def reattach_hint(deploy_id: str) -> str:
    return (
        f"It goes on in the org. Re-attach: jtel-sf deploy --job-id {deploy_id}; "
        f"cancel: jtel-sf deploy --cancel --job-id {deploy_id}."
    )


def deploy(
    options: DeployOptions,
    org: OrgSession,
    package: DeployPackage | None = None,
    *,
    progress: Progress | None = None,
    on_started: Callable[[str, str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployReport:
    """Start (or re-attach to, or quick-deploy) a deploy, follow it to its end, report it.

    The plain-function API (``jtel-sf deploy`` and ``jtel-sf org prove`` call it). ``package``
    defaults to force-app of the project at or above the current folder, built at the settings'
    API version. ``on_started`` gets ``(deploy_id, what)`` as soon as the org returned the id,
    before any polling.
    Raises ``DeployInterrupted`` on Ctrl-C (the deploy goes on in the org); a timeout is reported
    in ``DeployReport.timed_out``.
    """
    if options.poll_interval <= 0 or options.wait_minutes <= 0:
        raise UsageError("--wait and --poll-interval must be positive")
    if options.quick and not options.job_id:
        raise UsageError("--quick needs --job-id VALIDATION_ID (the id a --check-only deploy printed)")
    if options.job_id and not mdapi.is_record_id(options.job_id):
        raise UsageError(f"--job-id: {options.job_id!r} is not a deploy id (15 or 18 characters, 0Af...)")
    if package is None:
        from ..generate import find_project_dir
        from ..settings import load_settings
        from .package import build_package

        project_dir = find_project_dir()
        package = build_package(project_dir / "force-app", load_settings(project_dir).api_version)
    progress = progress or _NoProgress()
    started_cb = on_started or (lambda deploy_id, what: None)
    user = None
    if options.assign_permset:
        user = require_active_user(org, options.assign_permset)  # before anything changes in the org
    tests: list[str] = []
    attached = False
    quick_of = None
    if options.job_id and options.quick:
        deploy_id = mdapi.deploy_recent_validation(org, options.job_id)
        if not deploy_id:
            raise OrgRequestError("deployRecentValidation: the org returned no deploy id")
        quick_of = options.job_id
        started_cb(deploy_id, f"quick deploy of validation {options.job_id}")
    elif options.job_id:
        deploy_id = options.job_id
        attached = True
        started_cb(deploy_id, "re-attached")
    else:
        tests = resolve_tests(package, options)
        deploy_id = mdapi.deploy(
            org,
            package.to_zip(),
            check_only=options.check_only,
            test_level=options.test_level,
            run_tests=tests,
        )
        if not deploy_id:
            raise OrgRequestError("deploy: the org returned no deploy id")
        started_cb(deploy_id, "validation (check only)" if options.check_only else "deploy")
    status, elapsed, timed_out = follow(deploy_id, org, options, progress, clock=clock, sleep=sleep)
    report = DeployReport(
        status=status,
        tests=tests,
        test_level=options.test_level,
        elapsed=elapsed,
        timed_out=timed_out,
        coverage_threshold=options.coverage_threshold,
        attached=attached,
        quick_of=quick_of,
    )
    if timed_out:
        return report
    for failure in status.component_failures:
        locate_failure(package, failure)
    for test in status.test_failures:
        locate_frames(package, test)
    if status.coverage or status.tests_completed + status.tests_failed > 0:
        report.coverage = class_coverage(org, package, status)
        if options.test_level == "RunSpecifiedTests":
            report.below_org_rule = [
                c for c in report.coverage if c.covered is not None and c.percent < ORG_CLASS_COVERAGE
            ]
        report.below_threshold = [c for c in report.coverage if c.percent < options.coverage_threshold]
    if user is not None:
        if status.check_only:
            report.permsets = ["skipped: a validation (--check-only) changes nothing in the org"]
        elif report.ok:
            report.permsets = assign_permission_sets(org, user, options.permission_sets)
        else:
            report.permsets = ["skipped: the deploy did not succeed"]
    return report


class _NoProgress:
    def update(self, status: DeployStatus, elapsed: float) -> None:
        pass

    def finish(self) -> None:
        pass


def follow(
    deploy_id: str,
    org: OrgSession,
    options: DeployOptions,
    progress: Progress,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[DeployStatus, float, bool]:
    """Poll ``checkDeployStatus`` until the deploy is terminal or ``--wait`` is over.

    The interval grows while nothing changes and resets when something does. Ctrl-C raises
    ``DeployInterrupted`` naming the deploy id.
    """
    started = clock()
    interval = options.poll_interval
    deadline = started + options.wait_minutes * 60
    previous: tuple[Any, ...] | None = None
    status = DeployStatus(id=deploy_id, status="Queued")
    try:
        while True:
            status = parse_deploy_result(mdapi.check_deploy_status(org, deploy_id))
            status.id = status.id or deploy_id
            now = clock()
            progress.update(status, now - started)
            if status.terminal:
                return status, clock() - started, False
            if now >= deadline:
                return status, clock() - started, True
            signature = status.signature()
            interval = (
                options.poll_interval
                if signature != previous
                else min(interval * POLL_GROWTH, MAX_POLL_INTERVAL)
            )
            previous = signature
            sleep(max(0.0, min(interval, deadline - now)))
    except KeyboardInterrupt:
        raise DeployInterrupted(
            f"interrupted; deploy {deploy_id} was {status.status}", hint=reattach_hint(deploy_id)
        ) from None
    finally:
        progress.finish()


def cancel(org: OrgSession, deploy_id: str) -> str:
    """Ask the org to cancel a deploy (cancelDeploy)."""
    if not mdapi.is_record_id(deploy_id):
        raise UsageError(f"--job-id: {deploy_id!r} is not a deploy id")
    done = mdapi.cancel_deploy(org, deploy_id)
    return f"deploy {deploy_id}: " + (
        "canceled" if done else "cancellation requested (the org is stopping it)"
    )


def locate_failure(package: DeployPackage, failure: ComponentFailure) -> None:
    """Point a component failure at its source file (and line, through recomposed objects)."""
    source, line = package.locate(failure.file_name, failure.line) if failure.line else (None, None)
    if source is None:
        component = package.component(failure.component_type, failure.full_name)
        if component is not None:
            source, line = component.source, failure.line
        else:
            source, line = package.locate(failure.file_name, None)[0], failure.line
    if source is not None:
        failure.source = _display_path(source)
        failure.source_line = line


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def class_coverage(org: OrgSession, package: DeployPackage, status: DeployStatus) -> list[ClassCoverage]:
    """Coverage of exactly the classes the org measures: the package's classes not annotated
    ``@IsTest`` that have executable code (``DeployPackage.coverage_classes``).

    Taken from the deploy's own RunTestsResult.codeCoverage when the org sent it; otherwise from
    the Tooling API's ApexCodeCoverageAggregate. A class neither source knows is reported with no
    coverage. Coverage the org reports for other classes (none, for @IsTest ones) is ignored.
    """
    measured = package.coverage_classes()
    if not measured:
        return []
    found: dict[str, ClassCoverage] = {c.name: c for c in status.coverage if c.name in measured}
    if not found:
        soql = (
            "SELECT ApexClassOrTrigger.Name, NumLinesCovered, NumLinesUncovered "
            "FROM ApexCodeCoverageAggregate "
            f"WHERE ApexClassOrTrigger.Name IN {in_list(measured)}"
        )
        for record in org.query(soql, tooling=True):
            name = (record.get("ApexClassOrTrigger") or {}).get("Name")
            if name in measured:
                found[name] = ClassCoverage(
                    name,
                    int(record.get("NumLinesCovered") or 0),
                    int(record.get("NumLinesUncovered") or 0),
                    "tooling",
                )
    return [found.get(name) or ClassCoverage(name, None, None, "none") for name in measured]


# --------------------------------------------------------------------------------------------
# the report a user reads
# --------------------------------------------------------------------------------------------


def render_report(report: DeployReport) -> list[str]:
    status = report.status
    lines: list[str] = []
    if report.timed_out:
        lines.append(f"Deploy {status.id} still {status.status} after {report.elapsed / 60:.1f} min.")
        return lines
    what = "Validation (check-only)" if status.check_only else "Deploy"
    if report.quick_of:
        what = f"Quick deploy (of validation {report.quick_of})"
    lines.append(
        f"{what} {status.id}: {status.status} - components "
        f"{status.components_deployed}/{status.components_total} deployed, {status.components_failed} failed;"
        f" tests {status.tests_completed}/{status.tests_total} passed, {status.tests_failed} failed"
        + (
            f" ({report.test_level}; {report.elapsed:.0f}s)"
            if not report.attached
            else f" ({report.elapsed:.0f}s)"
        )
    )
    if status.error_message:
        lines.append(
            "Org error: "
            + (f"{status.error_status_code}: " if status.error_status_code else "")
            + status.error_message
        )
    if status.component_failures:
        lines.append("")
        lines.append("Component failures:")
        for failure in status.component_failures:
            kind = f"{failure.component_type} {failure.full_name}".strip()
            lines.append(f"{failure.location()}: {failure.problem_type.lower()}: {failure.problem} [{kind}]")
    if status.test_failures:
        lines.append("")
        lines.append("Test failures:")
        for test in status.test_failures:
            lines.append(f"{test.class_name}.{test.method}: {test.message}")
            frames = test.stack_trace.splitlines()
            located = test.frames + [""] * (len(frames) - len(test.frames))
            for frame, where in zip(frames, located, strict=False):
                if frame.strip():
                    lines.append(f"    {frame.strip()}" + (f"  ({where})" if where else ""))
    if report.coverage:
        lines.append("")
        rule = (
            f"the org requires {ORG_CLASS_COVERAGE:g}% per class"
            if report.test_level == "RunSpecifiedTests"
            else "the org requires 75% over the whole org"
        )
        lines.append(
            f"Code coverage of the non-test classes ({rule}; project target {report.coverage_threshold:g}%):"
        )
        width = max(len(c.name) for c in report.coverage)
        for coverage in report.coverage:
            if coverage in report.below_org_rule:
                mark = f"FAIL (org: below {ORG_CLASS_COVERAGE:g}%)"
            elif coverage in report.below_threshold:
                mark = f"below target {report.coverage_threshold:g}%"
            else:
                mark = "ok"
            if coverage.covered is None:
                numbers = "no coverage recorded"
            else:
                total = (coverage.covered or 0) + (coverage.uncovered or 0)
                numbers = f"{coverage.percent:5.1f}% ({coverage.covered}/{total} lines)"
            lines.append(f"  {coverage.name.ljust(width)}  {numbers}  {mark}")
    for warning in status.coverage_warnings:
        lines.append(f"Coverage warning from the org: {warning}")
    if report.below_threshold and report.ok:
        names = ", ".join(c.name for c in report.below_threshold)
        lines.append(
            f"Note: {names} below the project target of {report.coverage_threshold:g}% "
            "(the org accepted the deploy; this does not change the exit code)."
        )
    if report.permsets:
        lines.append("")
        lines.extend(f"Permission set: {line}" for line in report.permsets)
    return lines
