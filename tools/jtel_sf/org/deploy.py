"""Deploy a ``DeployPackage`` through simple-salesforce and follow it to the end.

``sf.deploy`` starts the Metadata API deploy; ``checkDeployStatus`` (with details) is polled on
its ``status`` until it is terminal (simple-salesforce never reports ``done``), with a live
one-line display, at an interval that grows while nothing changes and resets when something
does. The final ``DeployResult`` (Metadata API Developer Guide: DeployResult, DeployDetails,
DeployMessage, RunTestsResult, CodeCoverageResult) is parsed here, because simple-salesforce's
own ``checkDeployStatus`` drops line/column numbers, passing tests and code coverage.
"""

from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..auth import OrgRequestError, OrgSession
from ..errors import AuthError, UsageError
from .package import DeployPackage, has_executable_code, is_test_annotated
from .soql import in_list, quote

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


@dataclass(frozen=True)
class DeployOptions:
    check_only: bool = False
    test_level: str = "RunSpecifiedTests"
    tests: tuple[str, ...] = ()  # empty with RunSpecifiedTests: the package's @IsTest classes
    wait_minutes: float = 30.0
    poll_interval: float = 2.0
    coverage_threshold: float = 90.0
    assign_permset: str | None = None  # username
    permission_set: str = "JtelCallStatisticsIntegration"


@dataclass
class DeployOutcome:
    status: DeployStatus
    tests: list[str]
    test_level: str
    elapsed: float
    timed_out: bool = False
    coverage: list[ClassCoverage] = field(default_factory=list)
    coverage_below: list[ClassCoverage] = field(default_factory=list)
    coverage_threshold: float = 90.0
    permset: str | None = None  # what --assign-permset did

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.status.succeeded and not self.coverage_below

    def to_json(self) -> dict[str, Any]:
        document = asdict(self.status)
        document.pop("coverage")
        return {
            "id": self.status.id,
            "result": "timeout" if self.timed_out else ("ok" if self.ok else "failed"),
            "checkOnly": self.status.check_only,
            "testLevel": self.test_level,
            "tests": self.tests,
            "elapsedSeconds": round(self.elapsed, 1),
            "deployResult": document,
            "coverageThreshold": self.coverage_threshold,
            "coverage": [
                {**asdict(c), "percent": round(c.percent, 2), "belowThreshold": c in self.coverage_below}
                for c in self.coverage
            ],
            "assignPermset": self.permset,
        }


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
            "RunSpecifiedTests needs test classes, and no @IsTest class was found in the source",
            hint="Pass --tests CLASS,... or choose another --test-level (production deploys require tests).",
        )
    for name in tests:
        if not re.fullmatch(r"[A-Za-z]\w*(\.\w+)?", name):
            raise UsageError(f"--tests: {name!r} is not an Apex class name")
    return tests


def _soap_fault(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    text = content if isinstance(content, str) else str(content or exc)
    match = re.search(r"<faultstring>(.*?)</faultstring>", text, re.S)
    return match.group(1).strip() if match else text[:300]


class _Deployer:
    """Wraps the simple-salesforce calls; on an expired session renews it once (when the flow can)."""

    def __init__(self, org: OrgSession) -> None:
        self.org = org
        self.sf = org.salesforce()

    def call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        from simple_salesforce.exceptions import SalesforceError

        for attempt in (1, 2):
            try:
                return fn(self.sf)
            except SalesforceError as exc:
                fault = self.org.redact(_soap_fault(exc))
                if "INVALID_SESSION_ID" in fault and attempt == 1 and self.org.can_refresh:
                    self.org.refresh()
                    self.sf = self.org.salesforce()
                    continue
                if "INVALID_SESSION_ID" in fault:
                    raise AuthError(f"{what}: the org rejected the session: {fault}") from None
                raise OrgRequestError(f"{what} failed: {fault}") from None
        raise AssertionError("unreachable")  # pragma: no cover


def run_deploy(
    org: OrgSession,
    package: DeployPackage,
    options: DeployOptions,
    progress: Progress,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployOutcome:
    """Deploy, follow, collect failures and coverage, assign the permission set on success."""
    tests = resolve_tests(package, options)
    if options.poll_interval <= 0 or options.wait_minutes <= 0:
        raise UsageError("--wait and --poll-interval must be positive")
    deployer = _Deployer(org)
    archive = io.BytesIO(package.to_zip())
    kwargs: dict[str, Any] = {
        "checkOnly": options.check_only,
        "testLevel": options.test_level,
        "rollbackOnError": True,
    }
    if tests:
        kwargs["tests"] = tests
    started = clock()
    # sandbox=False: simple-salesforce then forces allowMissingFiles=false and rollbackOnError=true,
    # which is right for every org.
    answer = deployer.call("deploy", lambda sf: sf.deploy(archive, False, **kwargs))
    async_id = answer.get("asyncId")
    if not async_id:
        raise OrgRequestError("deploy: the org returned no deploy id")
    interval = options.poll_interval
    deadline = started + options.wait_minutes * 60
    previous: tuple[Any, ...] | None = None
    status = DeployStatus(id=async_id, status=answer.get("state") or "Queued")
    timed_out = False
    try:
        while True:
            element = deployer.call(
                "checkDeployStatus", lambda sf: sf.mdapi._retrieve_deploy_result(async_id)
            )
            status = parse_deploy_result(element)
            status.id = status.id or async_id
            now = clock()
            progress.update(status, now - started)
            if status.terminal:
                break
            if now >= deadline:
                timed_out = True
                break
            signature = status.signature()
            interval = (
                options.poll_interval
                if signature != previous
                else min(interval * POLL_GROWTH, MAX_POLL_INTERVAL)
            )
            previous = signature
            sleep(max(0.0, min(interval, deadline - now)))
    finally:
        progress.finish()
    outcome = DeployOutcome(
        status=status,
        tests=tests,
        test_level=options.test_level,
        elapsed=clock() - started,
        timed_out=timed_out,
        coverage_threshold=options.coverage_threshold,
    )
    if timed_out:
        return outcome
    for failure in status.component_failures:
        locate_failure(package, failure)
    for test in status.test_failures:
        locate_frames(package, test)
    if options.test_level != "NoTestRun" and status.tests_completed + status.tests_failed > 0:
        outcome.coverage = class_coverage(org, package, status)
        outcome.coverage_below = [c for c in outcome.coverage if c.percent < options.coverage_threshold]
    if options.assign_permset:
        if options.check_only:
            outcome.permset = "skipped: --check-only changes nothing in the org"
        elif outcome.ok:
            outcome.permset = assign_permission_set(org, options.assign_permset, options.permission_set)
        else:
            outcome.permset = "skipped: the deploy did not succeed"
    return outcome


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
    """Coverage of every non-test class of the package that has executable code.

    Taken from the deploy's own RunTestsResult.codeCoverage when the org sent it; otherwise from
    the Tooling API's ApexCodeCoverageAggregate. A class neither source knows is reported with no
    coverage (0%).
    """
    measured = sorted(
        name
        for name, path in package.apex_sources.items()
        # @IsTest helpers (no test methods) get no coverage from Salesforce either
        if not is_test_annotated(path.read_text("utf-8")) and has_executable_code(path.read_text("utf-8"))
    )
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


def assign_permission_set(org: OrgSession, username: str, permission_set: str) -> str:
    """Assign ``permission_set`` to ``username`` unless it already is (idempotent)."""
    users = org.query(f"SELECT Id, IsActive FROM User WHERE Username = {quote(username)}")
    if not users:
        raise UsageError(f"--assign-permset: no user with username {username}")
    sets = org.query(f"SELECT Id FROM PermissionSet WHERE Name = {quote(permission_set)}")
    if not sets:
        raise OrgRequestError(f"--assign-permset: permission set {permission_set} is not in the org")
    user_id, set_id = users[0]["Id"], sets[0]["Id"]
    existing = org.query(
        f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {quote(user_id)} "
        f"AND PermissionSetId = {quote(set_id)}"
    )
    if existing:
        return f"{permission_set} was already assigned to {username}"
    org.rest_json(
        "POST", "sobjects/PermissionSetAssignment", json={"AssigneeId": user_id, "PermissionSetId": set_id}
    )
    return f"{permission_set} assigned to {username}"


# --------------------------------------------------------------------------------------------
# the report a user reads
# --------------------------------------------------------------------------------------------


def render_report(outcome: DeployOutcome) -> list[str]:
    status = outcome.status
    lines: list[str] = []
    if outcome.timed_out:
        lines.append(f"Deploy {status.id} still {status.status} after {outcome.elapsed / 60:.1f} min.")
        return lines
    what = "Validation (check-only)" if status.check_only else "Deploy"
    lines.append(
        f"{what} {status.id}: {status.status} - components "
        f"{status.components_deployed}/{status.components_total} deployed, {status.components_failed} failed;"
        f" tests {status.tests_completed}/{status.tests_total} passed, {status.tests_failed} failed"
        f" ({outcome.test_level}; {outcome.elapsed:.0f}s)"
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
    if outcome.coverage:
        lines.append("")
        lines.append(f"Code coverage (threshold {outcome.coverage_threshold:g}%):")
        width = max(len(c.name) for c in outcome.coverage)
        for coverage in outcome.coverage:
            mark = "FAIL" if coverage in outcome.coverage_below else "ok"
            if coverage.covered is None:
                numbers = "no coverage recorded"
            else:
                total = (coverage.covered or 0) + (coverage.uncovered or 0)
                numbers = f"{coverage.percent:5.1f}% ({coverage.covered}/{total} lines)"
            lines.append(f"  {coverage.name.ljust(width)}  {numbers}  {mark}")
    for warning in status.coverage_warnings:
        lines.append(f"Coverage warning: {warning}")
    if outcome.permset:
        lines.append("")
        lines.append(f"Permission set: {outcome.permset}")
    return lines
