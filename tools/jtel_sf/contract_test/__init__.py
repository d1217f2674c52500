"""``jtel-sf contract-test``: the contract cases run end to end against an org, the local endpoint
or a recording of either (see docs/contract-testing.md)."""

from __future__ import annotations

from .run import RunOptions, RunReport, run_contract_test, select_cases
from .runner import FAILED, PASSED, SKIPPED, CaseResult

__all__ = [
    "FAILED",
    "PASSED",
    "SKIPPED",
    "CaseResult",
    "RunOptions",
    "RunReport",
    "run_contract_test",
    "select_cases",
]
