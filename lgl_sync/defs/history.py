"""The run-history mirror: Dagster's event log copied into ``sync_jobs`` and ``activity_logs``,
the tables LGL's other tools read.

A sensor with a cursor (one storage id per event type), so a mirror that was down catches up
from where it stopped, rows are keyed so a replay adds nothing, and a mirror failure never
fails a sync run.
"""

import json
from datetime import UTC, datetime

import dagster as dg
from dagster import DagsterEventType

from lgl_sync.control_plane.history import append_activity, upsert_sync_job
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.flows import retailer_of, run_kind
from lgl_sync.ops.runs import root_cause

RUN_EVENTS = {
    DagsterEventType.RUN_ENQUEUED: "pending",
    DagsterEventType.RUN_START: "running",
    DagsterEventType.RUN_SUCCESS: "completed",
    DagsterEventType.RUN_FAILURE: "failed",
    DagsterEventType.RUN_CANCELED: "canceled",
}
BATCH = 500


def _when(record) -> datetime:
    return datetime.fromtimestamp(record.event_log_entry.timestamp, tz=UTC)


def _numbers(metadata) -> dict:
    return {
        k: v.value
        for k, v in metadata.items()
        if isinstance(v.value, int | float | bool | str) and len(str(v.value)) < 200
    }


def _run_results(instance: dg.DagsterInstance, run_id: str) -> dict:
    results = {}
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = record.event_log_entry.asset_materialization
        results[materialization.asset_key.to_user_string()] = _numbers(materialization.metadata)
    return results


def _error(instance: dg.DagsterInstance, run_id: str) -> str | None:
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.STEP_FAILURE
    ).records:
        return root_cause(record.event_log_entry.dagster_event.step_failure_data)
    return None


def mirror_once(instance: dg.DagsterInstance, engine, cursor: dict[str, str]) -> dict:
    """Copies run status changes and materializations after ``cursor``; returns the new one.

    Uses the storage's own cursors (fetch_run_status_changes / fetch_materializations), which
    work on the default run-sharded SQLite storage as well as on Postgres.
    """
    cursor = dict(cursor)
    for event_type, status in RUN_EVENTS.items():
        while True:
            page = instance.fetch_run_status_changes(
                event_type, limit=BATCH, cursor=cursor.get(event_type.value), ascending=True
            )
            for record in page.records:
                _mirror_run(instance, engine, record, status)
            if page.records:
                cursor[event_type.value] = page.cursor
            if not page.has_more:
                break
    for key in instance.get_asset_keys():
        name = f"asset:{key.to_user_string()}"
        while True:
            page = instance.fetch_materializations(
                key, limit=BATCH, cursor=cursor.get(name), ascending=True
            )
            for record in page.records:
                _mirror_materialization(instance, engine, record)
            if page.records:
                cursor[name] = page.cursor
            if not page.has_more:
                break
    return cursor


def _planned_assets(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetKey]:
    """The assets a run set out to materialize (what an ``__ASSET_JOB`` run is about)."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=200
    ).records
    return [r.event_log_entry.dagster_event.asset_key for r in records]


def _mirror_run(instance: dg.DagsterInstance, engine, record, status: str) -> None:
    run = instance.get_run_by_id(record.run_id)
    if run is None:
        return
    when = _when(record)
    finished = status in ("completed", "failed", "canceled")
    job_type = run_kind(run.job_name, run.asset_selection or _planned_assets(instance, run.run_id))
    error = _error(instance, run.run_id) if status == "failed" else None
    upsert_sync_job(
        engine,
        run_id=run.run_id,
        status=status,
        job_type=job_type,
        retailer_id=retailer_of(run.tags),
        started_at=when if status == "running" else None,
        completed_at=when if finished else None,
        results=_run_results(instance, run.run_id) if status == "completed" else None,
        error_message=error,
    )
    if status == "failed":  # the old tools read failures from activity_logs too
        append_activity(
            engine,
            operation=job_type,
            success=False,
            retailer_id=retailer_of(run.tags),
            details={"run_id": run.run_id, "error": error},
            duration_ms=None,
            event_id=record.storage_id,
        )


def _mirror_materialization(instance: dg.DagsterInstance, engine, record) -> None:
    materialization = record.event_log_entry.asset_materialization
    run = instance.get_run_record_by_id(record.run_id)
    started = run.start_time if run and run.start_time else None
    append_activity(
        engine,
        operation=materialization.asset_key.to_user_string(),
        success=True,
        retailer_id=materialization.partition,
        details=_numbers(materialization.metadata),
        duration_ms=int((record.event_log_entry.timestamp - started) * 1000) if started else None,
        event_id=record.storage_id,
    )


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def sync_jobs_mirror(
    context: dg.SensorEvaluationContext, control_plane: ControlPlaneResource
) -> dg.SensorResult:
    """Mirrors Dagster's run history into sync_jobs and activity_logs."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    new_cursor = mirror_once(context.instance, control_plane.engine(), cursor)
    return dg.SensorResult(cursor=json.dumps(new_cursor, sort_keys=True))
