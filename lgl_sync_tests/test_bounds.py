"""Secure and bounded: no token leaves for a host that is not the store, and no read or wait runs
forever.

Contract (the secure-and-bounded issue): a token reference names only the retailer's own
variable and a domain only a Shopify store (local URLs only with LGL_ALLOW_LOCAL_STORES); a row
written straight into the table is refused at run time before any request; redirects are never
followed with the token; a cursor that does not move on and a page count over the cap end a read;
no single wait is longer than LGL_MAX_SLEEP_SECONDS (asserted on a recording clock); a run that
failed on such a fault is followed by one that imports everything exactly once.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import psycopg2
import pytest
from shopify_sandbox.faults import FaultRule

from lgl_sync.control_plane.tables import retailers
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.devkit.world import token_for
from lgl_sync.ops.instance import prepare_dagster_home
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import ConfigError, ServerError, ThrottledError
from lgl_sync_tests.conftest import World
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

ASSETS = [retailer_paid_orders, imported_lgl_orders, one_lgl_order_per_source_order]


class RecordingClock:
    """Time that passes only when slept; every requested sleep is kept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """A local HTTP server that keeps every request's headers and answers with ``answer``."""

    def __init__(self, answer=(200, {}, b"{}")) -> None:
        self.requests: list[dict[str, str]] = []
        self.answer = answer
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.requests.append(dict(self.headers))
                status, headers, body = recorder.answer
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    found = Recorder()
    yield found
    found.close()


def _run(world):
    return world.materialize(ASSETS, partition=RETAILER)


def _failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failures[0].step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return " | ".join(messages)


# -- where a token may go ---------------------------------------------------------------------


def test_a_redirect_is_not_followed_with_the_token(recorder, monkeypatch):
    monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "true")
    elsewhere = Recorder()
    try:
        recorder.answer = (307, {"Location": f"{elsewhere.url}/steal"}, b"")
        client = ShopifyClient(domain=recorder.url, token="shpat_secret", clock=RecordingClock())
        with pytest.raises(ConfigError, match="redirects elsewhere"):
            client.query("Shop")
        assert len(recorder.requests) == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.close()


@pytest.mark.parametrize(
    "domain",
    [
        "https://evil.example.com",  # any other host
        "nationwide-plants.myshopify.com.evil.example",  # a suffix trick
        "https://nationwide-plants.myshopify.com@evil.example",  # credentials trick
        "http://10.0.0.5/stores/x",  # not this machine
    ],
)
def test_a_client_refuses_any_host_but_a_shopify_store(domain):
    with pytest.raises(ConfigError, match="shop domain"):
        ShopifyClient(domain=domain, token="shpat_secret")


def test_a_local_url_needs_the_sandbox_setting(recorder, monkeypatch):
    monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "false")
    with pytest.raises(ConfigError, match="LGL_ALLOW_LOCAL_STORES"):
        ShopifyClient(domain=recorder.url, token="shpat_secret")
    assert recorder.requests == []


BAD_ROWS = [
    # the LGL store's token, sent to an outside host: the review's attack
    ({"api_token": "SHOPIFY_LGL_TOKEN", "domain": "https://evil.example.com"}, "api_token"),
    ({"api_token": "SHOPIFY_EPIC_GARDENING_TOKEN"}, "api_token"),  # another retailer's token
    ({"domain": "https://evil.example.com"}, "domain"),  # a non-Shopify host
    ({"inventory_safety_buffer": -1000}, "inventory_safety_buffer"),  # would oversell
    ({"lookback_hours": -50}, "lookback_hours"),  # would silently import nothing
    ({"name": "Plants\r\nBcc: someone@evil.example"}, "name"),  # header injection
    ({"target_location_id": "gid://shopify/Order/1"}, "target_location_id"),  # wrong kind
]


@pytest.mark.parametrize(("change", "field"), BAD_ROWS)
def test_a_bad_row_written_straight_into_the_table_fails_its_run_before_any_request(
    world, recorder, monkeypatch, change, field
):
    seed(world.sandbox, normal=3, big=0)
    world.add_retailer(RETAILER)
    if change.get("domain", "").startswith("https://evil"):
        change = {**change, "domain": recorder.url}  # evil, but reachable: it records
        monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "false")
    with world.engine.begin() as connection:
        connection.execute(retailers.update().where(retailers.c.id == RETAILER).values(**change))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    before = world.sandbox.store(RETAILER).usage.requests
    result = _run(world)
    assert not result.success
    message = _failure_message(result)
    print(f"{field}: {message[:160]}")
    assert f"{field}" in message and "invalid row" in message
    assert "Traceback" not in message
    assert recorder.requests == []  # the outside host never saw a request, so no token
    assert world.sandbox.store(RETAILER).usage.requests == before
    assert lgl_orders_by_source(world.sandbox) == {}


# -- reads and waits end -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_cursor_that_does_not_move_on_stops_the_read(sandbox):
    sandbox.engine.set_faults(
        "lgl", [FaultRule("stuck_cursor", operation="inventoryItems", rate=1)]
    )
    client = sandbox.client("lgl", clock=RecordingClock())
    with pytest.raises(ServerError, match="cursor of an earlier page"):
        list(client.paginate("InventoryItemSkus", path="inventoryItems", page_size=5))
    assert sandbox.store("lgl").usage.requests == 2  # the first page, then its repeat


@pytest.mark.timeout(60)
def test_a_read_stops_at_the_page_cap(sandbox):
    client = sandbox.client("lgl", clock=RecordingClock(), max_pages=3)
    with pytest.raises(ServerError, match="more than 3 pages"):
        # an explicit ``first`` keeps pages this small (they would grow with the cost)
        list(client.paginate("InventoryItemSkus", {"first": 2}, path="inventoryItems"))
    assert sandbox.store("lgl").usage.requests <= 3 + 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("retry_after", [86400, 3600])
def test_a_retry_after_beyond_the_cap_is_not_slept(sandbox, monkeypatch, retry_after):
    monkeypatch.setenv("LGL_MAX_SLEEP_SECONDS", "60")
    sandbox.engine.set_faults(
        "lgl", [FaultRule("too_many_requests", count=1, retry_after=retry_after)]
    )
    clock = RecordingClock()
    client = sandbox.client("lgl", clock=clock)
    with pytest.raises(ThrottledError, match="LGL_MAX_SLEEP_SECONDS=60") as raised:
        client.query("Shop")
    print(f"Retry-After {retry_after}: slept {sum(clock.sleeps):.1f}s; {raised.value}")
    assert sum(clock.sleeps) <= 60
    assert all(s <= 60 for s in clock.sleeps)
    assert str(retry_after) in str(raised.value)


def test_a_bad_sleep_setting_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("LGL_MAX_SLEEP_SECONDS", "forever")
    with pytest.raises(ValueError, match="LGL_MAX_SLEEP_SECONDS must be a positive number"):
        ShopifyClient(domain="x.myshopify.com", token="t")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "fault",
    [
        FaultRule("stuck_cursor", operation="orders", rate=1),  # never-ending candidates read
        FaultRule("too_many_requests", operation="orderCreate", count=1, retry_after=86400),
    ],
    ids=["stuck_cursor", "retry_after_86400"],
)
def test_a_run_ended_by_a_fault_is_followed_by_a_complete_one(world, fault):
    seeded = seed(world.sandbox, normal=6, big=0)
    world.add_retailer(RETAILER)
    world.sandbox.engine.set_faults(RETAILER if fault.kind == "stuck_cursor" else "lgl", [fault])
    started = datetime.now(UTC)
    failed = _run(world)
    took = (datetime.now(UTC) - started).total_seconds()
    assert not failed.success
    message = _failure_message(failed)
    print(f"{fault.kind}: ended after {took:.1f}s wall: {message[:200]}")
    assert "cursor of an earlier page" in message or "LGL_MAX_SLEEP_SECONDS" in message
    world.sandbox.engine.clear_faults()
    assert _run(world).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


def test_after_the_first_refused_call_nothing_more_is_created_for_the_retailer(world):
    seeded = seed(world.sandbox, normal=6, big=0)
    world.add_retailer(RETAILER)
    # The retailer revokes the token while the run goes on: its first tag is refused.
    revoked = FaultRule("server_error", operation="tagsAdd", status=401, rate=1)
    world.sandbox.engine.set_faults(RETAILER, [revoked])
    failed = _run(world)
    assert not failed.success
    assert len(lgl_orders_by_source(world.sandbox)) == 1  # the one created before the refusal
    assert "Invalid API key or access token" in _failure_message(failed)
    assert world.sandbox.store("lgl").usage.by_operation.get("OrderCreate") == 1
    world.sandbox.engine.clear_faults()
    assert _run(world).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


# -- the control-plane database ----------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections and never says a word (a stalled database or pooler)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.socket.accept()[0])

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.mark.timeout(120)
def test_a_database_that_never_answers_ends_the_run_by_its_connect_timeout(world, monkeypatch):
    seeded = seed(world.sandbox, normal=4, big=0)
    world.add_retailer(RETAILER)
    monkeypatch.setenv("LGL_DB_CONNECT_TIMEOUT_SECONDS", "2")
    silent = SilentServer()
    try:
        stalled = {
            **world.resources(),
            "control_plane": ControlPlaneResource(
                database_url=f"postgresql://lgl:pw@127.0.0.1:{silent.port}/control"
            ),
        }
        started = time.monotonic()
        failed = world.materialize(ASSETS, partition=RETAILER, resources=stalled)
        print(f"stalled database: the run ended after {time.monotonic() - started:.1f}s")
    finally:
        silent.close()
    assert not failed.success
    message = _failure_message(failed)
    assert "timeout expired" in message and "pw@" not in message
    assert lgl_orders_by_source(world.sandbox) == {}
    assert _run(world).success  # the database is back: everything, once
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_lock_held_elsewhere_ends_the_run_by_its_statement_timeout(
    backend, sandbox, tmp_path, request, monkeypatch
):
    monkeypatch.setenv("LGL_DB_STATEMENT_TIMEOUT_SECONDS", "2")
    path = tmp_path / "control.db"
    url = f"sqlite:///{path}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        world = World(sandbox, url, instance)
        seeded = seed(sandbox, normal=4, big=0)
        world.add_retailer(RETAILER)
        # Another session holds the import ledger locked and does not let go.
        if backend == "sqlite":
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
        else:
            holder = psycopg2.connect(url)
            holder.cursor().execute("LOCK TABLE order_links IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        failed = _run(world)
        print(f"{backend} lock: the run ended after {time.monotonic() - started:.1f}s")
        holder.rollback() if backend == "postgres" else holder.execute("ROLLBACK")
        holder.close()
        assert not failed.success
        message = _failure_message(failed)
        assert any(
            words in message
            for words in ("database is locked", "lock timeout", "statement timeout")
        ), message
        assert _run(world).success
        by_source = lgl_orders_by_source(sandbox)
        assert set(by_source) == set(seeded.expected)
        assert all(len(orders) == 1 for orders in by_source.values())


def test_every_run_has_a_maximum_runtime_in_the_shipped_instance(tmp_path):
    """Run monitoring is instance-wide, so it covers UI, backfill and automation runs too (a job
    tag would reach only the jobs that set it)."""
    home = prepare_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert 0 < instance.run_monitoring_max_runtime_seconds <= 3 * 3600
        assert instance.run_monitoring_start_timeout_seconds > 0
