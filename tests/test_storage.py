"""docs/storage.md's figures come from the data model and the contract cases (storage.py); these
tests pin the model to its sources and the Apex to the same constants."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jtel_sf import storage
from jtel_sf.contract import load_cases
from jtel_sf.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "force-app/main/default/classes/JtelRetentionSchedule.cls"


def test_a_call_is_its_record_its_rows_and_a_task_when_linked() -> None:
    by_name = {c.name: c for c in load_cases()}
    for shape in storage.shapes():
        if shape.source.startswith("contract case"):
            case = by_name[shape.source.split("`")[1]]
            assert shape.rows == case.effects["rows"]
            assert shape.linked == (case.effects["task"] is not None)
        assert shape.records == 1 + shape.rows + (1 if shape.linked else 0)
        assert shape.kb == shape.records * 2


def test_the_seed_call_costs_seven_records_and_fourteen_kb() -> None:
    seed = storage.shapes()[2]
    assert (seed.records, seed.kb) == (7, 14)


def test_without_retention_the_org_fills_at_the_full_daily_rate() -> None:
    volume = storage.Volume(10_000, storage.shapes()[2], 0)
    edition = storage.EDITIONS[0]
    months = storage.months_until_full(volume, edition)
    assert months == pytest.approx(edition.storage_gb(100) / (10_000 * 14 / 1024 / 1024) / 30.4)


def test_retention_only_helps_once_it_starts_deleting() -> None:
    shape = storage.shapes()[2]
    edition = storage.EDITIONS[1]
    assert storage.months_until_full(storage.Volume(1_000, shape, 90), edition) is None  # > 10 years
    fast = storage.Volume(100_000, shape, 90)  # full within days, before day 90
    assert storage.months_until_full(fast, edition) == storage.months_until_full(
        storage.Volume(100_000, shape, 0), edition
    )


def test_the_doc_names_the_configured_retention() -> None:
    text = (ROOT / "docs/storage.md").read_text(encoding="utf-8")
    assert f"row retention {Settings().row_retention_days} days" in text
    assert "JtelRetentionSchedule.JOB_NAME, JtelRetentionSchedule.DAILY_AT_3" in text


def test_the_apex_job_uses_the_batch_size_the_doc_states() -> None:
    source = JOB.read_text(encoding="utf-8")
    match = re.search(r"static final Integer CALLS_PER_BATCH = (\d+);", source)
    assert match and int(match.group(1)) == storage.CALLS_PER_BATCH


def test_doctor_looks_for_the_name_the_apex_schedules_under() -> None:
    from jtel_sf.org.doctor import RETENTION_JOB_NAME

    source = JOB.read_text(encoding="utf-8")
    assert f"static final String JOB_NAME = '{RETENTION_JOB_NAME}';" in source
