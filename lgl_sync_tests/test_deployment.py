"""A real multi-process deployment: the built wheel installed (not editable), the Dagster
webserver and daemon as separate processes on Postgres storage, every run launched by the
daemon from the schedules, and nothing handed over through files.

Contract (operators' day two): with the production install and `dagster.yaml` from
`lgl-sync instance`, schedules on `* * * * *` drive a full cycle for a retailer (orders
imported, LGL's shipments pushed, inventory set by the automation after LGL's snapshot), and no
asset value is written under `$DAGSTER_HOME/storage`. The compose file's services run exactly
these commands.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import dagster as dg
import requests
import sqlalchemy as sa
import yaml

from lgl_sync import settings
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import Retailer, add_retailer
from lgl_sync.control_plane.tables import sync_jobs
from lgl_sync.definitions import defs
from lgl_sync.defs.history import mirror_once
from lgl_sync.defs.reports import monthly_usage_job, order_anomalies_job, stock_insight_job
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.world import LGL_HANDLE, RETAILER_LGL_LOCATION, token_for

ROOT = Path(__file__).resolve().parents[1]
RETAILER = "nationwide-plants"
# The processes of a deployment, as the compose file runs them.
WEBSERVER = ["dagster-webserver", "-m", "lgl_sync.definitions", "-h", "127.0.0.1", "-p"]
DAEMON = ["dagster-daemon", "run", "-m", "lgl_sync.definitions"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SCRIPTS = {  # the console scripts of a production install, as pip would write them
    "dagster-webserver": "dagster_webserver.cli",
    "dagster-daemon": "dagster._daemon.cli",
    "lgl-sync": "lgl_sync.cli",
}


def _production_install(tmp_path: Path) -> Path:
    """A virtual environment with the wheel built from this checkout installed (not editable);
    its dependencies come from the development environment's site-packages, whose own .pth
    files (the editable checkout's finder among them) are not processed. Returns its bin."""
    venv, wheels = tmp_path / "venv", tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([python, "-c", purelib], capture_output=True, text=True, check=True)
    site_dir = Path(site.stdout.strip())
    (site_dir / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    (wheel,) = wheels.glob("lgl_sync-*.whl")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target"]
    subprocess.run([*install, str(site_dir), str(wheel)], check=True, timeout=300)
    for name, module in SCRIPTS.items():
        script = venv / "bin" / name
        script.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        script.chmod(0o755)
    return venv / "bin"


def _environment(tmp_path, sandbox, postgres_url) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DAGSTER_PG_URL": postgres_url,
        "LGL_DATABASE_URL": f"sqlite:///{tmp_path / 'control.db'}",
        "LOG_DIR": str(tmp_path / "logs"),
        "SHOPIFY_LGL_DOMAIN": sandbox.domain(LGL_HANDLE),
        "SHOPIFY_LGL_TOKEN": token_for(LGL_HANDLE),
        "SHOPIFY_NATIONWIDE_PLANTS_TOKEN": token_for(RETAILER),
        "LGL_ALLOW_LOCAL_STORES": "true",
        "LGL_SCHEDULES": "running",
        "LGL_ORDERS_CRON": "* * * * *",
        "LGL_FULFILLMENTS_CRON": "* * * * *",
        "LGL_INVENTORY_CRON": "* * * * *",
    }
    (tmp_path / "home").mkdir()
    return env


def _add_retailer(env: dict[str, str], sandbox) -> None:
    store = sandbox.store(RETAILER)
    location = next(x for x in store.locations.values() if x.name == RETAILER_LGL_LOCATION)
    engine = create_engine(env["LGL_DATABASE_URL"])
    upgrade(engine)
    add_retailer(
        engine,
        Retailer.parse(
            {
                "id": RETAILER,
                "name": store.name,
                "domain": sandbox.domain(RETAILER),
                "api_token": "SHOPIFY_NATIONWIDE_PLANTS_TOKEN",
                "target_location_id": str(location.id),
                "billing_address1": "1 Commerce St",
                "billing_city": "Austin",
                "billing_zip": "78701",
                "billing_country": "US",
            }
        ),
    )
    engine.dispose()


def _succeeded(instance, job: str, after: float = 0.0) -> bool:
    records = instance.get_run_records(
        dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=20
    )
    return any(r.create_timestamp.timestamp() >= after for r in records)


def _wait_for(condition, what: str, seconds: float = 480) -> None:
    deadline = time.monotonic() + seconds  # a bound on the real clock: processes tick on it
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(3)
    raise AssertionError(f"timed out waiting for {what}")


def test_webserver_and_daemon_run_a_full_cycle_from_the_schedules(
    tmp_path, sandbox, postgres_url, monkeypatch
):
    bin_dir = _production_install(tmp_path)
    env = _environment(tmp_path, sandbox, postgres_url)
    where = subprocess.run(
        [bin_dir / "python", "-c", "import lgl_sync; print(lgl_sync.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(tmp_path / "venv"))  # the wheel, not the checkout
    subprocess.run([bin_dir / "lgl-sync", "instance"], env=env, check=True, timeout=60)
    assert "postgres" in (tmp_path / "home" / "dagster.yaml").read_text()
    _add_retailer(env, sandbox)
    port = _free_port()
    processes = [
        subprocess.Popen(
            [bin_dir / WEBSERVER[0], *WEBSERVER[1:], str(port)],
            env=env,
            cwd=tmp_path,
            start_new_session=True,  # its own group: stopped with every run it started
        ),
        subprocess.Popen(
            [bin_dir / DAEMON[0], *DAEMON[1:]], env=env, cwd=tmp_path, start_new_session=True
        ),
    ]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/server_info"), "the webserver")
        with dg.DagsterInstance.get() as instance:
            _wait_for(lambda: _succeeded(instance, "import_orders"), "an order import run")
            shipped_at = time.time()
            assert ship_some(sandbox.engine.stores[LGL_HANDLE], random.Random(5), 1.0, 0.0)
            _wait_for(
                lambda: _succeeded(instance, "push_fulfillments", shipped_at), "a pushback run"
            )
            _wait_for(lambda: _inventory_synced(instance), "the retailer's inventory sync")
            launched = instance.get_run_records(limit=200)
            assert launched and all(
                r.dagster_run.tags.get("dagster/schedule_name")
                or r.dagster_run.tags.get("dagster/sensor_name")
                for r in launched
            )  # every run came from the daemon: a schedule, or the automation after it
            _every_run_kind_names_its_flow(instance, env["LGL_DATABASE_URL"])
    finally:
        _stop(processes)
    retailer = sandbox.store(RETAILER)
    assert any(o.fulfillment_ids for o in retailer.orders.values())  # tracking pushed back
    # Under storage: only logs (runs' compute logs, schedule and sensor ticks), no asset value.
    storage = tmp_path / "home" / "storage"
    files = [p for p in storage.rglob("*") if p.is_file()]
    assets = {key.path[-1] for key in defs.resolve_all_asset_keys()}
    assert not [p for p in files if assets & set(p.parts)]
    assert {p.suffix for p in files} <= {".err", ".out", ".complete", ".log"}, files[:5]


def _every_run_kind_names_its_flow(instance, database_url: str) -> None:
    """sync_jobs, mirrored as the sensor does: schedule runs and the automation's asset runs
    (``__ASSET_JOB``) alike carry a readable job_type."""
    # The runs as they stand before the mirror: the automation may start another meanwhile.
    runs = instance.get_run_records(limit=200)
    engine = create_engine(database_url)
    mirror_once(instance, engine, {})
    with engine.connect() as connection:
        kinds = connection.execute(sa.select(sync_jobs.c.job_type, sync_jobs.c.id)).all()
    engine.dispose()
    # The reports' schedules may fire in the minute the test runs: their jobs name themselves.
    reports = {job.name for job in (monthly_usage_job, stock_insight_job, order_anomalies_job)}
    flows = {"orders", "fulfillments", "inventory"}
    assert kinds and {kind for kind, _ in kinds} <= flows | reports
    assert {kind for kind, _ in kinds} & flows
    automation = [r.dagster_run.run_id for r in runs if r.dagster_run.job_name == "__ASSET_JOB"]
    assert automation  # retailer_inventory, materialized by the automation sensor
    assert set(automation) <= {run_id for _, run_id in kinds}


def _stop(processes: list[subprocess.Popen]) -> None:
    """Each process group ends: the webserver, the daemon and the runs the daemon launched."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _inventory_synced(instance) -> bool:
    records = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]), limit=100
    )
    return any("retailer_inventory" in str(r.dagster_run.asset_selection or "") for r in records)


# -- The compose file runs these processes --------------------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"
KNOWN = {
    "DAGSTER_HOME",
    "DAGSTER_PG_URL",
    "LGL_DATABASE_URL",
    "SHOPIFY_LGL_DOMAIN",
    "SHOPIFY_LGL_TOKEN",
    "SHOPIFY_LGL_CLIENT_ID",
    "SHOPIFY_LGL_CLIENT_SECRET",
    "LGL_SECRET_KEY",
    "EMAIL_FROM",
    "EMAIL_TO",
    "DAGSTER_UI_URL",
    "MAILGUN_API_KEY",
    "MAILGUN_DOMAIN",
    "LOG_DIR",
    "LOG_LEVEL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    *settings.SETTINGS,
}


def test_the_compose_file_runs_the_tested_commands_with_known_settings():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"postgres", "webserver", "daemon", "web"} <= set(services)
    commands = {name: service.get("command") for name, service in services.items()}
    assert commands["webserver"][:3] == WEBSERVER[:3] and "-p" in commands["webserver"]
    assert commands["daemon"] == DAEMON
    assert commands["web"][:3] == ["lgl-sync", "web", "serve"]
    for name, service in services.items():
        for variable in service.get("environment") or {}:
            assert variable in KNOWN, f"{name}: {variable} is not a known setting"
    docker = shutil.which("docker")
    has_compose = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if has_compose and has_compose.returncode == 0:  # where Docker Compose is installed (not on CI)
        checked = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"])
        assert checked.returncode == 0
