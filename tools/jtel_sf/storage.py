"""What the package costs a customer's org: records and data storage per call, per day and per year,
and API requests per day, with and without retention. docs/storage.md is rendered from this
(``jtel-sf generate``), so the table follows the data model, the contract cases and the settings.

Sources (checked 2026-12; Salesforce changes allocations now and then, so the doc names them):
- Salesforce Help, "Data and File Storage Allocations": most records count 2 KB of data storage,
  whatever their fields hold; Enterprise and Professional Edition get 10 GB per org plus 20 MB
  per user licence, Unlimited and Performance 10 GB plus 120 MB per licence; Developer Edition 5 MB.
- Salesforce Developer Limits and Allocations Quick Reference, "API Request Limits and
  Allocations": Enterprise 100,000 requests per 24 hours plus 1,000 per Salesforce licence,
  Unlimited and Performance plus 5,000 per licence. Every POST of jtel counts as one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .contract import load_cases
from .settings import Settings

RECORD_KB = 2  # most records, custom objects and Tasks included
GB_KB = 1024 * 1024
CALLS_PER_DAY = (1_000, 10_000, 100_000)
USERS = 100  # licences of the example org in the allowance columns
CALLS_PER_BATCH = 200  # JtelRetentionSchedule.CALLS_PER_BATCH (a test checks the Apex says the same)


@dataclass(frozen=True)
class Edition:
    name: str
    base_gb: float
    mb_per_licence: int
    api_base: int
    api_per_licence: int

    def storage_gb(self, licences: int) -> float:
        return self.base_gb + self.mb_per_licence * licences / 1024

    def api_per_day(self, licences: int) -> int:
        return self.api_base + self.api_per_licence * licences


EDITIONS = (
    Edition("Enterprise", 10, 20, 100_000, 1_000),
    Edition("Unlimited", 10, 120, 100_000, 5_000),
)


@dataclass(frozen=True)
class CallShape:
    label: str
    rows: int  # JtelCallRow__c records (one per POST)
    linked: bool  # a SalesForceID was sent, so the call has a Task
    source: str  # where the shape comes from

    @property
    def records(self) -> int:
        return 1 + self.rows + (1 if self.linked else 0)  # the call, its rows, its Task

    @property
    def kb(self) -> int:
        return self.records * RECORD_KB


def _from_case(label: str, case_name: str) -> CallShape:
    case = next(c for c in load_cases() if c.name == case_name)
    effects = case.effects
    return CallShape(
        label, int(effects["rows"]), effects.get("task") is not None, f"contract case `{case_name}`"
    )


def shapes() -> tuple[CallShape, ...]:
    """The call shapes of the table: two from the contract cases, one from the seed's row rule."""
    return (
        _from_case("one row, linked to a record", "written_linked_to_contact"),
        _from_case("one row, no SalesForceID", "written_without_salesforce_id"),
        _from_case("the seed's five-row call", "seed_five_row_call_in_order"),
        # The seed's rule: one POST per agent attempt and per transaction code of that attempt.
        CallShape("transfer chain: 3 agents, 2 codes each", 6, True, "seed rule: 3 attempts x 2 codes"),
    )


@dataclass(frozen=True)
class Volume:
    calls_per_day: int
    shape: CallShape
    row_retention_days: int

    @property
    def kept_kb_per_day(self) -> int:
        """What stays for good each day: the calls and Tasks (rows too when kept forever)."""
        kept = 1 + (1 if self.shape.linked else 0) + (self.shape.rows if self.row_retention_days == 0 else 0)
        return self.calls_per_day * kept * RECORD_KB

    @property
    def gb_per_year(self) -> float:
        return self.kept_kb_per_day * 365 / GB_KB + self.rows_steady_gb

    @property
    def rows_steady_gb(self) -> float:
        """Rows held at any time under retention (0 when rows are kept forever: they are counted above)."""
        if self.row_retention_days == 0:
            return 0.0
        return self.calls_per_day * self.shape.rows * self.row_retention_days * RECORD_KB / GB_KB

    @property
    def gb_per_day_without_retention(self) -> float:
        return self.calls_per_day * self.shape.kb / GB_KB

    @property
    def api_requests_per_day(self) -> int:
        return self.calls_per_day * self.shape.rows


def volumes(settings: Settings) -> list[Volume]:
    shape = shapes()[2]  # the seed's five-row call: the spec's own example
    return [Volume(n, shape, settings.row_retention_days) for n in CALLS_PER_DAY]


def months_until_full(volume: Volume, edition: Edition, licences: int = USERS) -> float | None:
    """Months until the package alone fills the edition's data storage; None for more than ten years.

    Stored after t days: kept * t + rows * min(t, N) (rows are deleted after N days; N = 0 keeps them,
    and then they are part of ``kept``)."""
    capacity = edition.storage_gb(licences)
    kept = volume.kept_kb_per_day / GB_KB
    rows = (
        0.0
        if volume.row_retention_days == 0
        else volume.calls_per_day * volume.shape.rows * RECORD_KB / GB_KB
    )
    retention = volume.row_retention_days
    days = capacity / (kept + rows)
    if retention and days > retention:  # not full before retention starts deleting
        days = (capacity - rows * retention) / kept
    months = days / 30.4
    return None if months > 120 else months
