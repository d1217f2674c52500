"""The one place scratch-org code calls jtel-sf's deploy (``org/deploy.py``), so a rework of deploy
only has to be followed here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..auth import OrgSession
from .package import DeployPackage


def deploy_package(
    org: OrgSession,
    package: DeployPackage,
    *,
    test_level: str = "NoTestRun",
    coverage_threshold: float = 75.0,
    wait_minutes: float = 30.0,
    poll_interval: float = 2.0,
) -> Any:
    """Deploy ``package`` and follow it to the end; returns deploy's ``DeployOutcome``."""
    from .deploy import DeployOptions, LiveLine, run_deploy

    options = DeployOptions(
        test_level=test_level,
        wait_minutes=wait_minutes,
        poll_interval=poll_interval,
        coverage_threshold=coverage_threshold,
    )
    return run_deploy(org, package, options, LiveLine(sys.stderr))


def deploy_source(org: OrgSession, source_dir: Path, **kwargs: Any) -> Any:
    """Deploy an SFDX source folder (force-app) with its Apex tests (RunSpecifiedTests)."""
    from .package import build_package

    package = build_package(source_dir, org.api_version)
    kwargs.setdefault("test_level", "RunSpecifiedTests")
    return deploy_package(org, package, **kwargs), package


def report_lines(outcome: Any) -> list[str]:
    from .deploy import render_report

    return list(render_report(outcome))


def assign_permission_set(org: OrgSession, username: str, permission_set: str) -> str:
    from .deploy import assign_permission_set as assign

    return str(assign(org, username, permission_set))
