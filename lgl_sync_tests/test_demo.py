"""`lgl-sync demo` (what `make demo` runs): exits 0, its summary matches the sandbox (the demo
checks that itself and exits 1 otherwise), and its runs stay in DAGSTER_HOME for `dagster dev`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg


def test_demo_runs_every_flow_twice_and_leaves_its_runs_for_the_ui(tmp_path):
    lgl_sync = str(Path(sys.executable).with_name("lgl-sync"))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "LOG_DIR": str(tmp_path / "logs")}
    env.pop("LGL_DATABASE_URL", None)
    done = subprocess.run([lgl_sync, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = " ".join(done.stdout.split())
    assert "Checked against the sandbox:" in out
    assert "each on its retailer order exactly once with its tracking" in out
    assert "stock levels changed at the retailers' LGL locations, as many as SKUs set" in out
    assert f"DAGSTER_HOME={tmp_path}" in out
    assert "Reports (on 91 days of generated history plus the demo's runs)" in out
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        runs = instance.get_run_records()
        jobs = {r.dagster_run.job_name for r in runs}
        assert {"import_orders", "push_fulfillments", "inventory_snapshot"} <= jobs
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        reports = {"monthly_usage_job", "stock_insight_job", "order_anomalies_job"}
        assert len([r for r in runs if r.dagster_run.job_name not in reports]) == 2 * (3 * 4 + 1)
        assert len([r for r in runs if r.dagster_run.job_name in reports]) == 3 * 4
    assert "run=" in (tmp_path / "logs" / "lgl-sync.log").read_text()
    # Every flow handed its values over through the control plane: none on disk.
    storage = tmp_path / "storage"
    assert [p for p in storage.rglob("*") if p.is_file() and "compute_logs" not in p.parts] == []
    # The newcomer's next commands read the demo's control plane (one per DAGSTER_HOME).
    env.pop("LGL_DATABASE_URL", None)
    for command in (["retailer", "list"], ["status"]):
        answer = subprocess.run(
            [lgl_sync, *command], env=env, capture_output=True, text=True, timeout=120
        )
        assert answer.returncode == 0, answer.stderr[-2000:]
        assert "nationwide-plants" in answer.stdout and "epic-gardening" in answer.stdout
    health = subprocess.run([lgl_sync, "health"], env=env, capture_output=True, text=True)
    assert "no such table" not in health.stdout + health.stderr


def test_the_demo_never_replaces_a_control_plane_it_did_not_make(tmp_path):
    lgl_sync = str(Path(sys.executable).with_name("lgl-sync"))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "LOG_DIR": str(tmp_path / "logs")}
    env.pop("LGL_DATABASE_URL", None)
    (tmp_path / "lgl_sync.db").write_bytes(b"someone's data")
    done = subprocess.run([lgl_sync, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "did not make" in done.stderr
    assert (tmp_path / "lgl_sync.db").read_bytes() == b"someone's data"
