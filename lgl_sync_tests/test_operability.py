"""Operability: `lgl-sync status` and `lgl-sync health` over the whole system, log files that
rotate, expire and never hold a secret, and Dagster's run logs in the same files.

Contract (issue "Operability"):
- A retailer whose token is revoked mid-way turns `health` non-zero naming that retailer and
  flow, `status` shows the failure and the age; fixing the token turns both green again.
- Every logging path (client errors with headers, store errors with connection URLs, notifier
  errors with API keys, tracebacks) reaches the files with every secret removed.
- Files rotate by size keeping LOG_BACKUP_COUNT, and rotated files older than the retention are
  removed.
- Every context.log line of a run is in the file, with the run's retailer, flow and run id.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from lgl_sync.cli import main
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.retailers import set_enabled
from lgl_sync.definitions import defs
from lgl_sync.defs.history import mirror_once
from lgl_sync.devkit.wiring import sandbox_environment
from lgl_sync.devkit.world import token_for
from lgl_sync.notify.digest import build_digest
from lgl_sync.notify.notices import render
from lgl_sync.notify.notifier import Notifier
from lgl_sync.notify.transports import MailgunTransport
from lgl_sync.ops import logs
from lgl_sync.ops.health import collect
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.ops.runs import run_flow
from lgl_sync_tests.conftest import SECRETS
from lgl_sync_tests.notify_fixtures import MAILGUN_KEY, MailgunEndpoint, mailgun_server

WATCHED = ["nationwide-plants", "epic-gardening"]
PG_PASSWORD = "pg-secret-77b2e0"
SECRETS.add(PG_PASSWORD)


@pytest.fixture
def system(sandbox, tmp_path, monkeypatch):
    """The project's Dagster instance and definitions, pointed at the sandbox by environment
    variables exactly as production is; two retailers enabled."""
    home = prepare_dagster_home(tmp_path / "home", pg_url="")
    database_url = f"sqlite:///{tmp_path / 'control.db'}"
    for name, value in sandbox_environment(
        sandbox.engine, sandbox.server.url, database_url
    ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    engine = create_engine(database_url)
    retailers = [slug for slug in sandbox.engine.stores if slug != "lgl"]
    for slug in retailers:
        set_enabled(engine, slug, slug in WATCHED)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("retailers", retailers)
        yield instance, tmp_path / "logs"
    engine.dispose()


def _run_flows(instance, retailer: str, flows=("orders", "fulfillments", "inventory")) -> dict:
    return {flow: run_flow(defs, instance, flow, retailer) for flow in flows}


class _Result:
    def __init__(self, result) -> None:
        self.exit_code, self.output = result.exit_code, result.stdout  # logs go to stderr


def _cli(*args):
    return _Result(CliRunner().invoke(main, list(args), catch_exceptions=False))


def test_revoked_token_turns_health_red_naming_retailer_and_flow_then_green(system, sandbox):
    instance, log_dir = system
    snapshot = run_flow(defs, instance, "snapshot", None)
    assert snapshot.success
    for retailer in WATCHED:
        assert all(r.success for r in _run_flows(instance, retailer).values())
    healthy = _cli("health")
    assert (healthy.exit_code, healthy.output.strip()) == (0, "ok")

    store = sandbox.engine.stores["nationwide-plants"]
    store.token = "revoked-at-the-store"
    failed = _run_flows(instance, "nationwide-plants", ("orders",))["orders"]
    assert not failed.success
    unhealthy = _cli("health")
    assert unhealthy.exit_code == 1
    lines = unhealthy.output.strip().splitlines()
    assert lines == [
        "nationwide-plants orders: last run failed (auth: " + lines[0].split("(auth: ")[1]
    ]
    status = json.loads(_cli("status", "--json").output)
    by_id = {s["retailer_id"]: s for s in status}
    orders = by_id["nationwide-plants"]["flows"]["orders"]
    assert orders["last_run"] == "failure" and orders["last_error"].startswith("auth")
    assert "Invalid API key or access token" in orders["last_error"]
    assert "Invalid API key or access token" in lines[0]
    assert orders["last_success"] is not None  # the age of the last good run is still shown
    assert orders["success_rate_24h"] == 0.5 and orders["runs_24h"] == 2
    assert by_id["nationwide-plants"]["errors_24h"] == {"auth": 1}
    assert by_id["epic-gardening"]["flows"]["orders"]["last_run"] == "success"
    assert by_id["nationwide-plants"]["api_requests_last_hour"] > 0
    assert [s["retailer_id"] for s in status if not s["enabled"]] == [
        r for r in sorted(sandbox.engine.stores) if r not in (*WATCHED, "lgl")
    ]
    table = _cli("status").output
    assert "failure" in table and "auth" in table and "ago (limit 30m)" in table

    store.token = token_for("nationwide-plants")
    assert _run_flows(instance, "nationwide-plants", ("orders",))["orders"].success
    recovered = _cli("health")
    assert (recovered.exit_code, recovered.output.strip()) == (0, "ok")

    # The daily digest carries the same success metrics, from the mirrored run history.
    engine = create_engine(os.environ["LGL_DATABASE_URL"])
    mirror_once(instance, engine, {})
    names = {"nationwide-plants": "Nationwide Plants", "epic-gardening": "Epic Gardening"}
    notice, _ = build_digest(engine, datetime.now(UTC), names, collect(instance, engine))
    digest = render(notice)[1]
    nationwide = digest.split("Nationwide Plants")[1]
    assert "orders: 67% ok in 24 h (3 runs), 67% in 7 d" in nationwide
    assert "fulfillments: 100% ok in 24 h (1 runs), 100% in 7 d" in nationwide
    assert "errors: 1 auth" in nationwide
    assert "Shopify API p95 latency: " in nationwide

    # Dagster's context.log and the log file agree: every info line of the failed run is in
    # the file with the run's retailer, flow and id.
    text = (log_dir / logs.FILE_NAME).read_text()
    messages = [
        e.user_message
        for e in instance.all_logs(failed.run_id)
        if e.level >= logging.INFO and e.dagster_event is None
    ]
    assert messages
    file_lines = [line for line in text.splitlines() if f"run={failed.run_id}" in line]
    for message in messages:
        assert any(message.splitlines()[0] in line for line in file_lines), message
    assert all("retailer=nationwide-plants flow=orders" in line for line in file_lines)
    assert not any(secret in text for secret in SECRETS)


def test_a_check_planned_but_never_run_reads_as_not_run(system, sandbox):
    """An inventory run that fails before its checks leaves them planned: status, health and
    the digest still answer (they used to raise CheckError)."""
    instance, _ = system
    assert run_flow(defs, instance, "snapshot", None).success
    store = sandbox.engine.stores["nationwide-plants"]
    store.token = "revoked-at-the-store"
    assert not run_flow(defs, instance, "inventory", "nationwide-plants").success
    store.token = token_for("nationwide-plants")
    status = _cli("status", "--json")
    assert status.exit_code == 0, status.output
    found = {s["retailer_id"]: s for s in json.loads(status.output)}["nationwide-plants"]
    assert "inventory_drift" in found["checks_not_run"]
    assert "checks not run: " in _cli("status").output
    health = _cli("health")
    assert "Traceback" not in health.output and "inventory: last run failed" in health.output
    engine = create_engine(os.environ["LGL_DATABASE_URL"])
    notice, _ = build_digest(engine, datetime.now(UTC), {}, collect(instance, engine))
    assert notice.subject.startswith("LGL Sync digest")


def test_stale_flow_and_never_run_flow_are_reported(system):
    result = _cli("health")
    assert result.exit_code == 1
    assert "nationwide-plants orders: never succeeded" in result.output
    assert "epic-gardening inventory: never succeeded" in result.output


def test_every_logging_path_is_redacted_in_the_files(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    logs.configure("DEBUG", tmp_path / "logs")
    token = "shpat_" + "9f" * 16
    SECRETS.add(token)
    try:
        # A client error whose text carries the request headers.
        response = requests.post(
            f"{sandbox.domain('lgl')}/admin/api/2026-10/graphql.json",
            headers={"X-Shopify-Access-Token": token},
            json={"query": "{ shop { name } }"},
            timeout=5,
        )
        logging.getLogger("lgl_sync.shopify.client").error(
            "GraphQL call failed: %s, request headers %s",
            response.status_code,
            dict(response.request.headers),
        )
        # A store error with the connection URL, from SQLAlchemy itself.
        url = f"postgresql://lgl:{PG_PASSWORD}@127.0.0.1:1/control"
        try:
            sa.create_engine(url).connect()
        except sa.exc.OperationalError:
            logging.getLogger("lgl_sync.control_plane").exception(
                "control plane unreachable at %s", url
            )
        # A notifier error with the API key, from the real Mailgun transport and a raw log.
        endpoint = MailgunEndpoint(script=[401])
        server = mailgun_server(endpoint)
        with create_engine(f"sqlite:///{tmp_path / 'n.db'}").connect():
            pass
        from lgl_sync.control_plane.migrate import upgrade
        from lgl_sync.notify.notices import failure_notice

        engine = create_engine(f"sqlite:///{tmp_path / 'n.db'}")
        upgrade(engine)
        Notifier(
            engine=engine,
            transport=MailgunTransport(MAILGUN_KEY, "mg.example", api_base=endpoint.url),
            sender="a@b.c",
            recipients=["ops@b.c"],
        ).notify(
            failure_notice(
                retailer_id="r",
                retailer_name="R",
                flow="orders",
                category="auth",
                message=f"token {token} rejected",
                run_id="x",
                run_url="u",
                step=None,
            )
        )
        server.shutdown()
        logging.getLogger("lgl_sync.notify").warning("retrying with api:%s", MAILGUN_KEY)
        # A traceback whose exception text holds a token, from a third-party logger.
        try:
            raise RuntimeError(f"Authorization: Bearer {token}")
        except RuntimeError:
            logging.getLogger("urllib3.connectionpool").exception("request failed")
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_lgl", False):
                handler.flush()
                logging.getLogger().removeHandler(handler)
    text = (tmp_path / "logs" / logs.FILE_NAME).read_text()
    assert "GraphQL call failed" in text and "control plane unreachable" in text
    assert "retrying with api:" in text and "request failed" in text
    for secret in (token, PG_PASSWORD, MAILGUN_KEY, MAILGUN_KEY[4:]):
        assert secret not in text
    assert text.count("[redacted]") >= 4


def test_log_files_rotate_by_size_and_expire_by_age(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_MAX_BYTES", "2000")
    monkeypatch.setenv("LOG_BACKUP_COUNT", "3")
    directory = tmp_path / "sized"
    handler = logs.file_handler(directory)
    logger = logging.getLogger("lgl_sync.rotation-test")
    logger.addHandler(handler)
    try:
        for n in range(300):
            logger.warning("line %04d of a long enough message to fill the file", n)
    finally:
        logger.removeHandler(handler)
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["lgl-sync.log", "lgl-sync.log.1", "lgl-sync.log.2", "lgl-sync.log.3"]
    assert all(p.stat().st_size <= 2000 for p in directory.iterdir())
    assert "line 0299" in (directory / "lgl-sync.log").read_text()

    # Day-based files: rotated ones older than the retention are removed, recent ones kept.
    daily = tmp_path / "daily"
    daily.mkdir()
    now = time.time()
    ages = {
        "lgl-sync.log.2026-10-01": 54,
        "lgl-sync.log.2026-10-24": 31,
        "lgl-sync.log.2026-11-20": 4,
    }
    for name, days in ages.items():
        path = daily / name
        path.write_text("old\n")
        os.utime(path, (now - days * 86400, now - days * 86400))
    (daily / "lgl-sync.log").write_text("current\n")
    removed = logs.remove_expired(daily, days=30, now=now)
    assert sorted(p.name for p in removed) == ["lgl-sync.log.2026-10-01", "lgl-sync.log.2026-10-24"]
    assert sorted(p.name for p in daily.iterdir()) == ["lgl-sync.log", "lgl-sync.log.2026-11-20"]
