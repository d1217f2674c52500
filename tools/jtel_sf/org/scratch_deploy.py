"""The one place scratch-org code calls jtel-sf's deploy (``org/deploy.py``) and permission set
assignment, so a rework of deploy only has to be followed here.

Two shapes of ``org/deploy.py`` are served while deploy is being reworked on another branch: the
current one (``run_deploy(org, package, options, progress)`` -> outcome, ``assign_permission_set``)
and the reworked one (``deploy(options, org, package, progress=...)`` -> report,
``org/permsets.py``). Once one of them is gone, drop its branch here.
"""

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
    """Deploy ``package`` and follow it to the end; returns deploy's outcome (``.status``,
    ``.timed_out``, ``.coverage_below``)."""
    from . import deploy as deploy_module

    options = deploy_module.DeployOptions(
        test_level=test_level,
        wait_minutes=wait_minutes,
        poll_interval=poll_interval,
        coverage_threshold=coverage_threshold,
    )
    progress = deploy_module.LiveLine(sys.stderr)
    run_deploy = getattr(deploy_module, "run_deploy", None)
    if run_deploy is not None:
        return run_deploy(org, package, options, progress)
    return deploy_module.deploy(options, org, package, progress=progress)


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
    """Assign one permission set to a user (idempotent); one line saying what happened."""
    from . import deploy as deploy_module

    assign = getattr(deploy_module, "assign_permission_set", None)
    if assign is not None:
        return str(assign(org, username, permission_set))
    from . import permsets  # type: ignore[attr-defined]

    user = permsets.require_active_user(org, username, what="org prove")
    return "; ".join(permsets.assign_permission_sets(org, user, (permission_set,)))
