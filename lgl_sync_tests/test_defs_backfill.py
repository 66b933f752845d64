"""A partition backfill launched the way the Dagster UI launches it: the webserver's
``launchPartitionBackfill`` GraphQL mutation over every retailer-partitioned asset, carried out
by the backfill daemon's own iteration, its runs launched in subprocesses from the project's
code location, against the sandbox served over HTTP.

Contract: every partitioned asset ends materialized for every selected retailer, and the
backfill ends COMPLETED_SUCCESS.
"""

from __future__ import annotations

import logging
import time

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.asset_daemon import AssetDaemon
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster_graphql.test.utils import execute_dagster_graphql

from lgl_sync.definitions import defs
from lgl_sync.defs.partitions import retailers
from lgl_sync.ops.instance import prepare_dagster_home

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

RETAILERS = ["nationwide-plants", "epic-gardening"]
_TARGET = ModuleTarget(
    module_name="lgl_sync.definitions",
    attribute="defs",
    working_directory=None,
    location_name="lgl_sync",
)


def _partitioned_assets() -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return sorted(
        key
        for key in graph.get_all_asset_keys()
        # Every asset partitioned by retailer (monthly_usage is month x retailer: backfilled
        # on its own, as the UI requires one partitioning per backfill).
        if graph.get(key).partitions_def == retailers and graph.get(key).is_materializable
    )


def test_ui_backfill_materializes_every_partitioned_asset_for_every_retailer(daemon_env, tmp_path):
    # The project's dagster.yaml: its queued run coordinator and per-retailer limits.
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    assets = _partitioned_assets()
    assert {a.to_user_string() for a in assets} >= {
        "retailer_paid_orders",
        "imported_lgl_orders",
        "lgl_shipments",
        "retailer_fulfillments",
        "retailer_inventory",
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", RETAILERS)
        # retailer_inventory reads the unpartitioned snapshot assets: materialize them first.
        graph = defs.resolve_asset_graph()
        upstream = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None]
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=upstream, raise_on_error=False
        )
        assert result.success
        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            launched = execute_dagster_graphql(
                workspace.create_request_context(),
                LAUNCH,
                variables={
                    "params": {
                        "partitionNames": RETAILERS,
                        "assetSelection": [{"path": a.path} for a in assets],
                    }
                },
            ).data["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            backfill_id = launched["backfillId"]
            logger = logging.getLogger("backfill-test")
            with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
                for _ in range(180):
                    list(execute_backfill_iteration(workspace, logger))
                    list(queue.run_iteration(workspace))
                    backfill = instance.get_backfill(backfill_id)
                    if backfill.status != BulkActionStatus.REQUESTED:
                        break
                    time.sleep(1)
            runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, [
                (r.dagster_run.status, r.dagster_run.run_id) for r in runs
            ]
        for key in assets:
            materialized = instance.get_materialized_partitions(key)
            assert materialized >= set(RETAILERS), (key, materialized)
        runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        failures = [
            (event.step_key, event.dagster_event.step_failure_data.error.message)
            for r in runs
            for event in instance.all_logs(
                r.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
            )
        ]
        assert failures == []
        assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * len(runs)


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def ui_launch(workspace, assets: list[list[str]], partition: str) -> str:
    """Launches ``assets`` of one partition as the UI's Materialize does; the run's id."""
    launched = execute_dagster_graphql(
        workspace.create_request_context(),
        LAUNCH_RUN,
        variables={
            "params": {
                "selector": {
                    "repositoryLocationName": "lgl_sync",
                    "repositoryName": "__repository__",
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": p} for p in assets],
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
            }
        },
    ).data["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_ui_launch_and_a_backfill_of_one_retailer_queue_behind_each_other(daemon_env, tmp_path):
    """Both run as __ASSET_JOB, untouched by any job tag: the shipped dagster.yaml's limit on
    dagster/partition keeps the second QUEUED until the first has ended."""
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    retailer = RETAILERS[0]
    orders = [["retailer_paid_orders"], ["imported_lgl_orders"]]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", RETAILERS)
        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            context = workspace.create_request_context()
            first = ui_launch(workspace, orders, retailer)
            backfill = execute_dagster_graphql(
                context,
                LAUNCH,
                variables={
                    "params": {
                        "partitionNames": [retailer],
                        "assetSelection": [{"path": p} for p in orders],
                    }
                },
            ).data["launchPartitionBackfill"]
            assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
            logger = logging.getLogger("queue-test")
            list(execute_backfill_iteration(workspace, logger))
            (second,) = [
                r.dagster_run.run_id
                for r in instance.get_run_records(
                    dg.RunsFilter(tags={"dagster/backfill": backfill["backfillId"]})
                )
            ]
            assert instance.get_run_by_id(second).job_name == "__ASSET_JOB"
            seen_queued_while_first_ran = False
            with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
                for _ in range(240):
                    list(queue.run_iteration(workspace))
                    a, b = instance.get_run_by_id(first), instance.get_run_by_id(second)
                    if not a.is_finished:
                        # While the UI launch is going, the backfill run waits in the queue.
                        assert b.status == dg.DagsterRunStatus.QUEUED, b.status
                        seen_queued_while_first_ran = True
                    if a.is_finished and b.is_finished:
                        break
                    time.sleep(0.5)
        a_record = instance.get_run_record_by_id(first)
        b_record = instance.get_run_record_by_id(second)
    assert seen_queued_while_first_ran
    assert a_record.dagster_run.status == b_record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert b_record.start_time >= a_record.end_time


def test_a_backfill_re_runs_past_months_of_usage_for_every_retailer(daemon_env, tmp_path):
    """monthly_usage (month x retailer) backfilled the way the UI does it, for two past
    months: one run per partition, each materialized."""
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    partitions = [f"{month}|{r}" for month in ("2026-09-01", "2026-10-01") for r in RETAILERS]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", RETAILERS)
        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            launched = execute_dagster_graphql(
                workspace.create_request_context(),
                LAUNCH,
                variables={
                    "params": {
                        "partitionNames": partitions,
                        "assetSelection": [{"path": ["monthly_usage"]}],
                    }
                },
            ).data["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            logger = logging.getLogger("usage-backfill-test")
            with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
                for _ in range(180):
                    list(execute_backfill_iteration(workspace, logger))
                    list(queue.run_iteration(workspace))
                    backfill = instance.get_backfill(launched["backfillId"])
                    if backfill.status != BulkActionStatus.REQUESTED:
                        break
                    time.sleep(1)
        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
        materialized = instance.get_materialized_partitions(dg.AssetKey("monthly_usage"))
        assert set(materialized) == set(partitions)


def test_the_inventory_automation_submits_one_run_per_retailer_not_a_backfill(daemon_env, tmp_path):
    """A snapshot's retailers follow from the automation tick itself: as a backfill (Dagster's
    default for several partitions) the runs waited up to a minute for the backfill daemon."""
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", RETAILERS)
        graph = defs.resolve_asset_graph()
        upstream = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None]
        job = defs.resolve_implicit_global_asset_job_def()
        settings = instance.get_auto_materialize_settings()
        daemon = AssetDaemon(settings=settings, pre_sensor_interval_seconds=1)
        sensor = dg.RunsFilter(tags={"dagster/sensor_name": "inventory_automation"})
        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            for tick in range(30):  # bounded: the sensor ticks at most every 3 s
                daemon._run_iteration_impl(
                    workspace, threadpool_executor=None, amp_tick_futures={}, debug_crash_flags={}
                )
                if tick == 0:  # the first tick sets the cursor; then a snapshot lands
                    assert job.execute_in_process(instance=instance, asset_selection=upstream)
                if instance.get_run_records(sensor) or instance.get_backfills():
                    break
                time.sleep(0.5)
        runs = instance.get_run_records(sensor)
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(RETAILERS)
        assert instance.get_backfills() == []
