"""``JtelCallUpdater`` with ``JtelCallRollup`` and ``JtelCallTask``: each call of a write pass is rolled
up once from all its rows, its Task created or updated, and the call saved.

Once per call and pass, not once per row: a 200-row batch of one call reads the call's rows once.
"""

from __future__ import annotations

from jtel_sf.settings import Settings

from .ids import to_18
from .rollup import choose_owner, roll_up, task_values, wants_task
from .row_builder import active_user_id_by_username, can_own_tasks
from .storage import WHO_TYPES, Storage, StoredCall, StoredRow

NUMBER_FIELDS = ("TalkTimeSeconds__c", "AgentsTriedCount__c", "ResultCode__c", "RowCount__c", "LegCount__c")


def _linked_row(rows: list[StoredRow], record_id: str) -> StoredRow:
    full = to_18(record_id)
    return next(r for r in sorted(rows, key=lambda r: r.row_key) if r.record_id and r.record_id == full)


def save(calls: list[StoredCall], storage: Storage, settings: Settings) -> None:
    """Roll up, keep the Task, update: the calls' fields change in place and are saved."""
    tz = settings.time_zone
    rows_by_call = storage.rows_of_calls([c.id for c in calls])
    # Who can own a Task (active Standard users): also decides HandledBy__c, as JtelCallRollup does.
    owners = frozenset(str(u["Id"]) for u in storage.users() if can_own_tasks(u))
    fallback: str | None = None
    fallback_read = False
    for call in calls:
        rows = rows_by_call.get(call.id, [])
        call_rows = [r.call_row for r in rows]
        rolled = roll_up(call_rows, tz, owners.__contains__)
        task_id = call.fields.get("TaskId__c")
        if wants_task(rolled, settings):
            if not fallback_read:  # the fallback owner's query runs only when a Task is written
                fallback = active_user_id_by_username(storage, settings.fallback_owner_username)
                fallback_read = True
            linked = _linked_row(rows, str(rolled["SalesforceRecordId__c"]))
            owner = choose_owner(
                call_rows, rolled, tz, fallback, storage.running_user_id, owners.__contains__
            )
            task = task_values(
                call_rows,
                rolled,
                settings,
                record_id=str(linked.record_id),
                record_is_who=linked.record_type in WHO_TYPES,
                owner_id=owner,
            )
            if task_id and storage.task_exists(str(task_id)):
                storage.update_task(str(task_id), task)
            else:
                task_id = storage.insert_task({**task, "IsClosed": True})
        rolled["TaskId__c"] = task_id
        for name in NUMBER_FIELDS:  # Number(18,0) fields read back as 120.0 from the REST API
            if rolled.get(name) is not None:
                rolled[name] = float(rolled[name])  # type: ignore[arg-type]
        call.fields.update(rolled)
        storage.update_call(call)
