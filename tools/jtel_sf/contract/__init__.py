"""The contract as data: field spec, status mapping, stored values and contract cases.

These JSON files are the single source of the facts; the Apex field table, field metadata,
docs, the local endpoint and the contract tests are all derived from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CONTRACT_DIR = Path(__file__).resolve().parent
CASES_DIR = CONTRACT_DIR / "cases"

FIELD_KINDS = ("salesforceId", "integer", "string", "phone", "datetime")


@dataclass(frozen=True)
class FieldSpec:
    """One of the 17 jtel fields."""

    name: str  # the JSON key jtel sends
    kind: str  # one of FIELD_KINDS
    field: str  # API name on JtelCallRow__c
    label: str
    description: str
    required: bool = False
    min: int | None = None
    max: int | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Outcomes:
    max_batch_size: int
    max_string_length: int
    apex_allowed_http_status: tuple[int, ...]
    retry_default: int
    retry_allowed: tuple[int, ...]
    statuses: dict[str, dict[str, Any]]
    codes: dict[str, dict[str, Any]]
    error_codes: dict[str, str]
    connres: dict[int, str]
    unknown_result_label: str

    def http_for_status(self, status: str) -> int:
        return int(self.statuses[status]["http"])

    def status_for_code(self, code: str) -> str:
        return str(self.codes[code]["status"])

    @property
    def held_codes(self) -> tuple[str, ...]:
        """Codes whose quarantined body is answered again as before while its record is New."""
        return tuple(code for code, spec in self.codes.items() if spec.get("heldOnResend"))

    def error_message(self, code: str) -> str:
        """The generic errors[].message of an org_refused or unexpected_error answer."""
        return str(self.codes[code]["errorMessage"])

    def result_label(self, connres: int | None) -> str:
        if connres is None:
            return self.unknown_result_label
        return self.connres.get(connres, self.unknown_result_label)


@dataclass(frozen=True)
class Limits:
    """Limits beside the 17 fields (fields.json): the accepted local date-time range and the
    Task field sizes the endpoint keeps to."""

    datetime_min: str  # YYYY-MM-DDThh:mm:ss, local wall-clock, included
    datetime_max: str
    subject_max_length: int
    description_max_length: int
    call_duration_max: int


@dataclass(frozen=True)
class Records:
    """The values written into stored records and the text limits kept to (records.json).

    Each mapping goes from a role key (``new``, ``linked``...) to the stored value; the Apex gets one
    JtelContractSpec constant per key.
    """

    quarantine_statuses: dict[str, str]  # JtelQuarantine__c.Status__c
    closed_quarantine_statuses: tuple[str, ...]  # values (not keys) retention may delete
    quarantine_reasons: dict[str, str]  # JtelQuarantine__c.Reason__c: answer codes
    link_statuses: dict[str, str]  # LinkStatus__c of JtelCallRow__c and JtelCall__c
    row_outcomes: dict[str, str]  # JtelCallRow__c.Outcome__c: answer statuses
    directions: dict[str, str]  # JtelCall__c.Direction__c
    raw_text_limit: int
    errors_limit: int
    error_detail_limit: int
    task_status: str
    task_priority: str
    task_subtype: str
    task_call_types: dict[str, str]  # Task.CallType by direction key


@dataclass(frozen=True)
class ContractCase:
    name: str
    description: str
    steps: list[dict[str, Any]]
    effects: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    runs_on: tuple[str, ...] = ("apex", "org", "local")
    skip_reason: str | None = None
    hook: str | None = None
    path: Path | None = None

    def runs_on_target(self, target: str) -> bool:
        return target in self.runs_on


@cache
def load_fields() -> tuple[FieldSpec, ...]:
    data = json.loads((CONTRACT_DIR / "fields.json").read_text(encoding="utf-8"))
    specs = []
    for raw in data["fields"]:
        if raw["kind"] not in FIELD_KINDS:
            raise ValueError(f"fields.json: {raw['name']}: unknown kind {raw['kind']!r}")
        specs.append(
            FieldSpec(
                name=raw["name"],
                kind=raw["kind"],
                field=raw["field"],
                label=raw["label"],
                description=raw["description"],
                required=bool(raw.get("required", False)),
                min=raw.get("min"),
                max=raw.get("max"),
                max_length=raw.get("maxLength"),
            )
        )
    return tuple(specs)


@cache
def load_limits() -> Limits:
    data = json.loads((CONTRACT_DIR / "fields.json").read_text(encoding="utf-8"))
    task = data["taskLimits"]
    return Limits(
        datetime_min=str(data["datetimeRange"]["min"]),
        datetime_max=str(data["datetimeRange"]["max"]),
        subject_max_length=int(task["subjectMaxLength"]),
        description_max_length=int(task["descriptionMaxLength"]),
        call_duration_max=int(task["callDurationMax"]),
    )


@cache
def load_outcomes() -> Outcomes:
    data = json.loads((CONTRACT_DIR / "outcomes.json").read_text(encoding="utf-8"))
    return Outcomes(
        max_batch_size=int(data["maxBatchSize"]),
        max_string_length=int(data["maxStringLength"]),
        apex_allowed_http_status=tuple(data["apexAllowedHttpStatus"]),
        retry_default=int(data["retryHttpStatus"]["default"]),
        retry_allowed=tuple(data["retryHttpStatus"]["allowed"]),
        statuses=data["statuses"],
        codes=data["codes"],
        error_codes=data["errorCodes"],
        connres={int(k): v for k, v in data["connres"].items()},
        unknown_result_label=data["unknownResultLabel"],
    )


@cache
def load_records() -> Records:
    data = json.loads((CONTRACT_DIR / "records.json").read_text(encoding="utf-8"))
    outcomes = load_outcomes()
    statuses = dict(data["quarantineStatuses"])
    reasons = dict(data["quarantineReasons"])
    outcomes_of_rows = dict(data["rowOutcomes"])
    directions = dict(data["directions"])
    call_types = dict(data["task"]["callTypes"])
    if unknown := sorted(set(reasons.values()) - set(outcomes.codes)):
        raise ValueError(f"records.json: quarantineReasons not answer codes in outcomes.json: {unknown}")
    if unknown := sorted(set(outcomes_of_rows.values()) - set(outcomes.statuses)):
        raise ValueError(f"records.json: rowOutcomes not answer statuses in outcomes.json: {unknown}")
    if unknown := sorted(set(data["closedQuarantineStatuses"]) - set(statuses)):
        raise ValueError(f"records.json: closedQuarantineStatuses not keys of quarantineStatuses: {unknown}")
    if set(call_types) != set(directions):
        raise ValueError("records.json: task.callTypes must have one value per key of directions")
    limits = data["textLimits"]
    return Records(
        quarantine_statuses=statuses,
        closed_quarantine_statuses=tuple(statuses[k] for k in data["closedQuarantineStatuses"]),
        quarantine_reasons=reasons,
        link_statuses=dict(data["linkStatuses"]),
        row_outcomes=outcomes_of_rows,
        directions=directions,
        raw_text_limit=int(limits["rawText"]),
        errors_limit=int(limits["errors"]),
        error_detail_limit=int(limits["errorDetail"]),
        task_status=str(data["task"]["status"]),
        task_priority=str(data["task"]["priority"]),
        task_subtype=str(data["task"]["subtype"]),
        task_call_types=call_types,
    )


def load_case(path: Path) -> ContractCase:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return ContractCase(
        name=raw["name"],
        description=raw["description"],
        steps=raw["steps"],
        effects=raw.get("effects", {}),
        records=raw.get("records", []),
        users=raw.get("users", []),
        runs_on=tuple(raw.get("runsOn", ("apex", "org", "local"))),
        skip_reason=raw.get("skipReason"),
        hook=raw.get("hook"),
        path=path,
    )


def load_cases(path: Path | None = None) -> list[ContractCase]:
    """All cases in a directory (sorted by file name) or a single case file."""
    target = CASES_DIR if path is None else Path(path)
    files = [target] if target.is_file() else sorted(target.glob("*.json"))
    return [load_case(p) for p in files]
