"""The run-history mirror: every run becomes a sync_jobs row (pending → running → completed,
failed or canceled) and every materialization an activity_logs row, exactly once, including
after the mirror was stopped and catches up from its cursor.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from lgl_sync.control_plane.tables import activity_logs, sync_jobs
from lgl_sync.defs.history import sync_jobs_mirror
from lgl_sync.defs.jobs import import_orders_job
from lgl_sync.defs.orders import (
    imported_lgl_orders,
    retailer_order_changes,
    retailer_paid_orders,
)
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync_tests.conftest import World
from lgl_sync_tests.orders_world import RETAILER, seed


def _mirror(world, cursor: str | None) -> str:
    context = dg.build_sensor_context(
        instance=world.instance,
        cursor=cursor,
        resources={"control_plane": world.resources()["control_plane"]},
    )
    return sync_jobs_mirror(context).cursor


def _rows(world):
    with world.engine.connect() as connection:
        jobs = {r["id"]: dict(r) for r in connection.execute(sa.select(sync_jobs)).mappings()}
        activity = connection.execute(sa.select(activity_logs)).mappings().all()
    return jobs, activity


@pytest.fixture(params=["sqlite", "postgres"])
def history_world(request, sandbox, tmp_path, monkeypatch):
    """A World whose Dagster instance keeps runs in SQLite or in a real Postgres."""
    pg_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    if pg_url:
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    home = prepare_dagster_home(tmp_path / "home", pg_url=pg_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield World(sandbox, f"sqlite:///{tmp_path / 'control.db'}", instance)


def test_runs_and_materializations_are_mirrored_once_and_caught_up(history_world):
    world = history_world
    seed(world.sandbox, normal=3, lgl_skus=20)
    world.add_retailer(RETAILER)
    job = dg.Definitions(
        assets=[retailer_paid_orders, imported_lgl_orders, retailer_order_changes],
        jobs=[import_orders_job],
        resources=world.resources(),
    ).resolve_job_def("import_orders")
    ok = job.execute_in_process(partition_key=RETAILER, instance=world.instance)
    world.instance.add_dynamic_partitions("retailers", ["gone-retailer"])
    failed = job.execute_in_process(
        partition_key="gone-retailer", instance=world.instance, raise_on_error=False
    )
    assert ok.success and not failed.success
    canceled = world.instance.create_run_for_job(job_def=job, tags={"dagster/partition": RETAILER})
    world.instance.report_run_canceled(canceled)

    cursor = _mirror(world, None)
    jobs, activity = _rows(world)
    assert jobs[ok.run_id]["status"] == "completed"
    assert jobs[ok.run_id]["job_type"] == "orders"
    assert jobs[ok.run_id]["retailer_id"] == RETAILER
    assert jobs[ok.run_id]["started_at"] and jobs[ok.run_id]["completed_at"]
    assert jobs[ok.run_id]["results"]["imported_lgl_orders"]["imported"] >= 1
    assert jobs[failed.run_id]["status"] == "failed"
    assert "no retailer gone-retailer" in jobs[failed.run_id]["error_message"]
    assert jobs[canceled.run_id]["status"] == "canceled"
    assert {(a["operation"], a["retailer_id"], a["success"]) for a in activity} == {
        ("retailer_paid_orders", RETAILER, True),
        ("imported_lgl_orders", RETAILER, True),
        ("retailer_order_changes", RETAILER, True),
        ("orders", "gone-retailer", False),  # a failed run is a failed activity, with its cause
    }

    # The mirror is stopped; two more runs happen; it catches up from its cursor.
    later = [
        job.execute_in_process(partition_key=RETAILER, instance=world.instance) for _ in range(2)
    ]
    assert _mirror(world, cursor) != cursor
    again = _mirror(world, _mirror(world, cursor))  # and replays add nothing
    jobs, activity = _rows(world)
    assert all(jobs[r.run_id]["status"] == "completed" for r in later)
    assert len(jobs) == 5 and len(activity) == 10
    assert json.loads(again)


def test_an_asset_run_launched_outside_a_job_is_mirrored_with_its_flow(world):
    """UI launches, backfills and automation run as ``__ASSET_JOB`` (here Dagster's ephemeral
    asset job): ``sync_jobs.job_type`` still names the flow, as the old system's rows do."""
    seed(world.sandbox, normal=2, lgl_skus=20)
    world.add_retailer(RETAILER)
    orders = world.materialize([retailer_paid_orders, imported_lgl_orders])
    assert orders.success
    assert world.instance.get_run_by_id(orders.run_id).job_name != "import_orders"
    _mirror(world, None)
    jobs, _ = _rows(world)
    assert jobs[orders.run_id]["job_type"] == "orders"
