"""The project loads as Dagster code and runs on both instance storages.

Contract: `dagster definitions validate` accepts the workspace; a run launched on an instance
with SQLite storage (the default) and one with Postgres storage (DAGSTER_PG_URL) is recorded in
that instance's run storage with its materialization.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lgl_sync.definitions import defs
from lgl_sync.defs.inventory import lgl_inventory_snapshot
from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.devkit.world import LGL_HANDLE, token_for
from lgl_sync.ops.instance import instance_config, prepare_dagster_home

REPO = Path(__file__).resolve().parents[1]


def test_definitions_validate_from_the_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(prepare_dagster_home(tmp_path, pg_url=""))}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_definitions_hold_the_lgl_snapshot_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "lgl_inventory_snapshot" in keys


def test_postgres_storage_only_when_dagster_pg_url_is_set() -> None:
    assert "storage" not in instance_config(None)
    config = instance_config("postgresql://example/db")
    # The URL itself stays in the environment, never in the written file.
    assert config["storage"] == {
        "custom": {
            "module": "lgl_sync.ops.storage",
            "class": "PooledPostgresStorage",
            "config": {"postgres_url": {"env": "DAGSTER_PG_URL"}},
        }
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_run_is_recorded_in_the_instance_run_storage(
    backend, sandbox, tmp_path, request, monkeypatch
) -> None:
    pg_url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
    if pg_url:
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    home = prepare_dagster_home(tmp_path / "home", pg_url=pg_url)
    lgl = ShopifyStoreResource(domain=sandbox.domain(LGL_HANDLE), token=token_for(LGL_HANDLE))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        expected = "PostgresRunStorage" if pg_url else "SqliteRunStorage"
        assert type(instance.run_storage).__name__ == expected
        if pg_url:  # its connections pooled (Dagster's own opens one per statement)
            assert type(instance.run_storage._engine.pool).__name__ == "QueuePool"
        result = dg.materialize(
            [lgl_inventory_snapshot], instance=instance, resources={"lgl_shopify": lgl}
        )
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("lgl_inventory_snapshot"))
        rows = event.asset_materialization.metadata["dagster/row_count"].value
        assert rows == len(sandbox.store(LGL_HANDLE).inventory_items)


def _backend(engine) -> int:
    """The server process behind the pooled connection a statement gets."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_pooled_dagster_storage_keeps_its_connections_and_survives_a_fork(
    postgres_url, tmp_path, monkeypatch
) -> None:
    """Dagster's Postgres storage opens a connection per statement; the project's keeps them
    in a pool. A run forked from a process holding pooled connections (the benchmark's
    workers) opens its own and closes only those: the parent's stay open."""
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    home = prepare_dagster_home(tmp_path / "home", pg_url=postgres_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", ["a"])
        engine = instance.event_log_storage._engine
        parent = _backend(engine)
        assert _backend(engine) == parent  # the same connection, kept
        child = os.fork()
        if child == 0:  # a run's process
            code = 1
            try:
                instance.add_dynamic_partitions("retailers", ["b"])
                own = _backend(instance.event_log_storage._engine)
                code = 0 if own != parent else 2
                instance.dispose()  # as a run's process ends: its connections closed
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # the child used a connection of its own
        assert _backend(engine) == parent  # and left the parent's open
        assert instance.has_dynamic_partition("retailers", "b")


def test_a_bad_cron_leaves_the_code_location_loading_with_that_schedule_stopped(tmp_path):
    """LGL_ORDERS_CRON set to nonsense: the definitions still load (every other schedule,
    sensor and asset with them); the orders schedule keeps its default cadence, stopped, its
    description naming the variable; `lgl-sync health` names it too and fails."""
    env = {
        **os.environ,
        "LGL_ORDERS_CRON": "every ten minutes",
        "LGL_SCHEDULES": "running",
        "LGL_DATABASE_URL": f"sqlite:///{tmp_path / 'control.db'}",
        "DAGSTER_HOME": str(tmp_path),
    }
    probe = (
        "from lgl_sync.definitions import defs\n"
        "s = defs.get_schedule_def('import_orders_schedule')\n"
        "print(s.default_status.value, s.cron_schedule, '|', s.description)\n"
        "print(defs.get_schedule_def('push_fulfillments_schedule').default_status.value)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    first, second = loaded.stdout.strip().splitlines()[-2:]
    assert first.startswith("STOPPED */10 * * * * |") and "LGL_ORDERS_CRON" in first
    assert second == "RUNNING"  # the others are untouched
    upgraded = subprocess.run(
        [sys.executable, "-m", "lgl_sync.cli", "db", "upgrade"], env=env, capture_output=True
    )
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    health = subprocess.run(
        [sys.executable, "-m", "lgl_sync.cli", "health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert health.returncode == 1
    assert "LGL_ORDERS_CRON must be a cron expression" in health.stdout


def test_loading_the_definitions_warns_of_nothing(tmp_path):
    """Every process that loads the code location (webserver, daemon, each run) would repeat a
    warning at start: there are none, deprecations included."""
    loaded = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import lgl_sync.definitions"],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "Warning" not in loaded.stderr, loaded.stderr[-2000:]
