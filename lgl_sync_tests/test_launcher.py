"""The shipped run launcher: runs are forked from a preloaded process, launched as the daemon
launches them (the UI's ``launchRun`` mutation, the queued run coordinator's own iteration).

Contract: a run executes in the process the zygote forked (its pid tag is the pid Dagster's run
body reports); a change to the code on disk restarts the zygote; the UI's terminate cancels a
forked run, from this host or from another one; run monitoring fails a run whose process was
killed.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import dagster as dg
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._daemon.monitoring.run_monitoring import monitor_started_run
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from shopify_sandbox.faults import FaultRule

from lgl_sync.ops import launcher as launcher_module
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.ops.launcher import HOST_TAG, PID_TAG, PreloadedRunLauncher
from lgl_sync_tests.test_defs_backfill import _TARGET, ui_launch

RETAILER = "nationwide-plants"
ORDERS = [["retailer_paid_orders"]]


def _launch(workspace) -> str:
    return ui_launch(workspace, ORDERS, RETAILER)


def _until(instance, workspace, run_id, done, rounds=240) -> dg.DagsterRun:
    """Dequeues as the daemon does until ``done(run)``; bounded (about 2 minutes)."""
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
        for _ in range(rounds):
            list(queue.run_iteration(workspace))
            run = instance.get_run_by_id(run_id)
            if done(run):
                return run
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} ended {run.status}")


def _reported_pid(instance, run_id) -> int:
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if event.message.startswith("Started process for run (pid: "):
            return int(event.message.split("pid: ")[1].split(")")[0])
    raise AssertionError("no run process reported")


def test_runs_fork_from_the_preloaded_process_and_a_code_change_restarts_it(daemon_env, tmp_path):
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", [RETAILER])
        launcher = instance.run_launcher
        assert isinstance(launcher, PreloadedRunLauncher)
        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            first = _until(instance, workspace, _launch(workspace), lambda r: r.is_finished)
            assert first.status == dg.DagsterRunStatus.SUCCESS
            assert int(first.tags[PID_TAG]) == _reported_pid(instance, first.run_id)
            (zygote,) = launcher._zygotes.values()
            assert zygote.alive and zygote.process.pid != int(first.tags[PID_TAG])

            source = Path(launcher_module.__file__).with_name("zygote.py")
            stat = source.stat()
            os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
            try:
                second = _until(instance, workspace, _launch(workspace), lambda r: r.is_finished)
            finally:
                os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert second.status == dg.DagsterRunStatus.SUCCESS
            (restarted,) = launcher._zygotes.values()
            assert restarted.process.pid != zygote.process.pid and not zygote.alive
            assert int(second.tags[PID_TAG]) == _reported_pid(instance, second.run_id)
    assert not restarted.alive  # the instance's disposal stops the zygote


def test_terminate_cancels_a_forked_run_and_monitoring_fails_a_killed_one(
    daemon_env, sandbox, tmp_path
):
    # Every request to the retailer hangs: the runs stay in their first read.
    sandbox.engine.set_faults(RETAILER, [FaultRule("timeout", rate=1, hang_seconds=120)])
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", [RETAILER])

        def running(run):
            return run.status == dg.DagsterRunStatus.STARTED and PID_TAG in run.tags

        with create_test_daemon_workspace_context(_TARGET, instance) as workspace:
            run = _until(instance, workspace, _launch(workspace), running)
            instance.run_coordinator.cancel_run(run.run_id)  # what the UI's Terminate calls
            ended = _until(instance, workspace, run.run_id, lambda r: r.is_finished)
            assert ended.status == dg.DagsterRunStatus.CANCELED

            # Terminated from another host or container (the webserver's): the run's own
            # cancellation thread sees it CANCELING and interrupts it.
            run = _until(instance, workspace, _launch(workspace), running)
            instance.add_run_tags(run.run_id, {HOST_TAG: "the-daemons-container"})
            assert instance.run_launcher.terminate(run.run_id)
            ended = _until(instance, workspace, run.run_id, lambda r: r.is_finished)
            assert ended.status == dg.DagsterRunStatus.CANCELED

            run = _until(instance, workspace, _launch(workspace), running)
            pid = int(run.tags[PID_TAG])
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):  # the zygote reaps it within moments; bounded
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.FAILED
            (record,) = instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id]))
            monitor_started_run(
                instance, workspace.create_request_context(), record, logging.getLogger()
            )
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
