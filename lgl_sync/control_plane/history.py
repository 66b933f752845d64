"""Run history for LGL's other tools: ``sync_jobs`` (one row per Dagster run) and
``activity_logs`` (one row per materialization)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.tables import activity_logs, sync_jobs

JOB_STATUSES = ("pending", "running", "completed", "failed", "canceled")


def upsert_sync_job(
    engine: Engine,
    *,
    run_id: str,
    job_type: str,
    status: str,
    retailer_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    results: dict | None = None,
    error_message: str | None = None,
) -> None:
    """Creates or updates the ``sync_jobs`` row of a Dagster run (keyed by its run id)."""
    if status not in JOB_STATUSES:
        raise ValueError(f"status must be one of {JOB_STATUSES}, not {status!r}")
    values: dict[str, Any] = {
        "id": run_id,
        "job_type": job_type,
        "status": status,
        "retailer_id": retailer_id,
        "started_at": started_at,
        "completed_at": completed_at,
        "results": results,
        "error_message": error_message,
    }
    changes: dict[str, Any] = {k: v for k, v in values.items() if v is not None and k != "id"}
    # Events may be mirrored out of order: a finished run never goes back to pending/running.
    changes.update(
        status=sa.case(
            (sync_jobs.c.status.in_(("completed", "failed", "canceled")), sync_jobs.c.status),
            else_=status,
        )
    )
    with engine.begin() as connection:
        dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(sync_jobs).values(**values)
        connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changes))


def append_activity(
    engine: Engine,
    *,
    operation: str,
    success: bool,
    retailer_id: str | None = None,
    details: dict | None = None,
    duration_ms: int | None = None,
    event_id: int | None = None,
) -> bool:
    """Appends an ``activity_logs`` row; with ``event_id`` a replay adds nothing (False)."""
    values = {
        "operation": operation,
        "success": success,
        "retailer_id": retailer_id,
        "details": details,
        "duration_ms": duration_ms,
        "dagster_event_id": event_id,
    }
    with engine.begin() as connection:
        dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(activity_logs).values(**values).on_conflict_do_nothing()
        return connection.execute(statement).rowcount == 1


def recent_runs(engine: Engine, retailer_id: str, since: datetime):
    """The retailer's completed runs since ``since`` as a frame: flow, run_id, completed_at,
    duration_s and cost (the API cost points its materializations reported)."""
    import pandas as pd

    query = sa.select(
        sync_jobs.c.id,
        sync_jobs.c.job_type,
        sync_jobs.c.started_at,
        sync_jobs.c.completed_at,
        sync_jobs.c.results,
    ).where(
        sync_jobs.c.retailer_id == retailer_id,
        sync_jobs.c.status == "completed",
        sync_jobs.c.completed_at >= since,
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame(
        [
            {
                "flow": row.job_type,
                "run_id": row.id,
                "completed_at": row.completed_at,
                "duration_s": (row.completed_at - row.started_at).total_seconds()
                if row.started_at and row.completed_at
                else float("nan"),
                "cost": _cost(row.results),
            }
            for row in rows
        ],
        columns=["flow", "run_id", "completed_at", "duration_s", "cost"],
    )
    return frame


def _cost(results: dict | None) -> float:
    """Cost points a run's materializations reported (``*_cost_actual`` metadata)."""
    return float(
        sum(
            value
            for figures in (results or {}).values()
            if isinstance(figures, dict)
            for key, value in figures.items()
            if key.endswith("_cost_actual") and isinstance(value, int | float)
        )
    )
