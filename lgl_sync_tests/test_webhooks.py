"""Webhooks end to end: the sandbox signs and sends them over real HTTP to the web app's
``POST /webhooks``, the inbox keeps each event once, and the webhook sensor (evaluated for real
against a Dagster instance) turns them into runs that read the objects named by id.

Contract:
- A delivery is stored only when its HMAC matches one of the store's secrets (the previous app
  secret too, during a rotation); forged, re-signed and unknown-shop deliveries are refused and
  stored nowhere; oversized and malformed ones are 4xx.
- One event is stored once however often it arrives (``X-Shopify-Event-Id``).
- A burst of deliveries becomes one run per retailer and flow; the run reads the named orders
  by id, so it imports an order Shopify's search does not list yet.
- With 20 % dropped, 20 % duplicated and reordered deliveries, webhooks plus one polling cycle
  end exactly where perfect delivery does: every order once, every shipment once.
- ``app/uninstalled`` disables the retailer and emails once.
- The sandbox retries a failed delivery and deletes the subscription after 8 consecutive
  failures; ``ensure`` creates the subscriptions once and repairs drift.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
from dagster._core.storage.dagster_run import DagsterRun
from shopify_sandbox.models import TrackingInfo, gid

from lgl_sync.control_plane import inbox, offboarding
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.control_plane.tables import email_notifications, webhook_inbox
from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments
from lgl_sync.defs.inventory import (
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.defs.stock_changes import sync_stock_changes_job
from lgl_sync.defs.webhooks import webhook_sensor
from lgl_sync.devkit.world import RETAILER_LGL_LOCATION
from lgl_sync.ops import metrics
from lgl_sync.ops.health import collect
from lgl_sync.sync import subscriptions
from lgl_sync.web.app import create_app
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed
from lgl_sync_tests.served import served

ADDRESS = {
    "firstName": "Buyer", "lastName": "One", "address1": "2 Elm St",
    "city": "Austin", "provinceCode": "TX", "zip": "73301", "countryCode": "US",
}  # fmt: skip
ORDERS = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]
PUSH = [lgl_shipments, retailer_fulfillments]
ASSETS = {
    "import_orders": ORDERS,
    "push_fulfillments": PUSH,
    "inventory_snapshot": [lgl_inventory_snapshot, unimported_order_units],
}


def _wait(predicate, seconds: float = 30.0) -> None:
    """Waits for the sandbox's delivery thread (bounded; a failure names what never came)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("the deliveries never arrived")


@pytest.fixture
def hooked(world, monkeypatch):
    """LGL and one retailer, both subscribed to the web app; the seeded orders imported by a
    polling run; then Shopify's search set to lag an hour, so only reads by id see anything new."""
    seed(world.sandbox, normal=3, lgl_skus=40)
    sandbox = world.sandbox.engine
    retailer = world.add_retailer(RETAILER)
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_CLIENT_SECRET", sandbox.stores["lgl"].api_secret)
    monkeypatch.setenv(
        "SHOPIFY_NATIONWIDE_PLANTS_CLIENT_SECRET", sandbox.stores[RETAILER].api_secret
    )
    monkeypatch.setenv("LGL_WEBHOOK_DEBOUNCE_SECONDS", "0")
    server = served(create_app(world.engine, {}))
    url = server.__enter__()
    monkeypatch.setenv("LGL_PUBLIC_URL", url)
    endpoint = subscriptions.endpoint()
    subscriptions.ensure(
        world.sandbox.client(RETAILER), endpoint, subscriptions.retailer_topics(retailer),
        repair=True,
    )  # fmt: skip
    subscriptions.ensure(
        world.sandbox.client("lgl"), endpoint, subscriptions.LGL_TOPICS, repair=True
    )
    assert world.materialize(ORDERS, partition=RETAILER).success
    _settle(world)
    for handle in ("lgl", RETAILER):
        sandbox.stores[handle].apply_settings({"search_lag": 3600})
    yield world, url
    sandbox.webhooks.stop()
    server.__exit__(None, None, None)


def _settle(world) -> None:
    """Every delivery sent, then the inbox emptied without runs (what happened so far)."""
    _wait(lambda: world.sandbox.engine.webhooks.pending() == 0)
    waiting = inbox.waiting(world.engine)
    inbox.take(world.engine, [e.id for e in waiting], "setup")


_CURSORS: dict[int, str | None] = {}


def _sense(world) -> list[dg.RunRequest]:
    """One tick of the sensor, with the cursor its previous tick left (as the daemon keeps it)."""
    context = dg.build_sensor_context(
        instance=world.instance, resources=world.resources(), cursor=_CURSORS.get(id(world))
    )
    result = webhook_sensor(context)
    _CURSORS[id(world)] = result.cursor
    return list(result.run_requests or [])


def _run(world, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """A sensor's run request executed as the daemon would launch it (its config and tags)."""
    if request.job_name == sync_stock_changes_job.name:
        return sync_stock_changes_job.execute_in_process(
            run_config=request.run_config,
            instance=world.instance,
            resources=world.resources(),
            tags=request.tags,
            raise_on_error=False,
        )
    return dg.materialize(
        ASSETS[request.job_name],
        partition_key=request.partition_key,
        instance=world.instance,
        resources=world.resources(),
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )


def _place(world, count: int, sku: str = "LGL-0003") -> list[str]:
    store = world.sandbox.engine.stores[RETAILER]
    variant = store.variants_by_sku(sku)[0]
    placed = []
    with store.lock:
        for _ in range(count):
            order = store.create_order(
                lines=[{"variant_id": variant.id, "quantity": 2}],
                email="buyer@example.com",
                shipping_address=ADDRESS,
            )
            placed.append(gid("Order", order.id))
    return placed


def _named(world) -> set[str]:
    return {i for e in inbox.waiting(world.engine) for i in e.objects.get("order_ids", [])}


def _imported(world) -> dict[str, int]:
    """LGL orders per source order id, as the LGL store has them."""
    return {source: len(orders) for source, orders in lgl_orders_by_source(world.sandbox).items()}


def test_a_burst_of_order_webhooks_becomes_one_run_that_reads_the_orders_by_id(hooked):
    world, _url = hooked
    placed = _place(world, 3)
    _wait(lambda: len(_named(world)) == 3)
    requests_ = _sense(world)
    assert [(r.job_name, r.partition_key) for r in requests_] == [("import_orders", RETAILER)]
    config = requests_[0].run_config["ops"]["retailer_paid_orders"]["config"]
    assert sorted(config["order_ids"]) == sorted(placed)
    assert requests_[0].tags["lgl/trigger"] == "webhook"
    assert _sense(world) == []  # every delivery was handed to that one run
    result = _run(world, requests_[0])
    assert result.success
    imported = _imported(world)
    assert all(imported.get(source) == 1 for source in placed)  # search lags: read by id
    paid = result.asset_materializations_for_node("retailer_paid_orders")[0].metadata
    assert paid["named_by_webhooks"].value == 3
    # /metrics shows the retailer's webhooks and their lag, as `lgl-sync status` does.
    (status,) = [s for s in collect(world.instance, world.engine) if s.retailer_id == RETAILER]
    exposed = metrics.render([status])
    assert f'lgl_sync_webhooks_24h{{retailer="{RETAILER}"}} {status.webhooks_24h}' in exposed
    assert status.webhooks_24h >= 3 and status.webhook_lag_max_s is not None
    assert f'lgl_sync_webhook_lag_seconds{{retailer="{RETAILER}",stat="max"}}' in exposed


def _ship(world, source_ids: list[str]) -> list[str]:
    lgl = world.sandbox.engine.stores["lgl"]
    by_source = lgl_orders_by_source(world.sandbox)
    shipped = []
    with lgl.lock:
        for n, source in enumerate(source_ids):
            order = by_source[source][0]
            fo = lgl.fulfillment_orders[order.fulfillment_order_ids[0]]
            lgl.create_fulfillment([(fo, None)], [TrackingInfo("UPS", f"1ZHOOK{n}", None)], True)
            shipped.append(gid("Order", order.id))
    return shipped


def test_an_lgl_shipment_webhook_pushes_that_orders_tracking_to_its_retailer(hooked):
    world, _url = hooked
    placed = _place(world, 2)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 2)
    assert _run(world, _sense(world)[0]).success
    _settle(world)
    shipped = _ship(world, placed)
    _wait(lambda: any(e.flow == "fulfillments" for e in inbox.waiting(world.engine)))
    _wait(lambda: world.sandbox.engine.webhooks.pending() == 0)
    requests_ = [r for r in _sense(world) if r.job_name == "push_fulfillments"]
    assert [r.partition_key for r in requests_] == [RETAILER]
    named = requests_[0].run_config["ops"]["lgl_shipments"]["config"]["lgl_order_ids"]
    assert sorted(named) == sorted(shipped)
    assert _run(world, requests_[0]).success
    store = world.sandbox.engine.stores[RETAILER]
    for source in placed:
        order = store.orders[int(source.rsplit("/", 1)[1])]
        numbers = [
            t.number for f in order.fulfillment_ids for t in store.fulfillments[f].tracking_info
        ]
        assert len(numbers) == 1 and numbers[0].startswith("1ZHOOK")


def _drain(world) -> int:
    """Sensor and runs until the inbox is empty and no delivery is pending; the runs made."""
    runs = 0
    for _ in range(50):
        _wait(lambda: world.sandbox.engine.webhooks.pending() == 0, 60)
        made = _sense(world)
        for request in made:
            assert _run(world, request).success
        runs += len(made)
        if not made and not inbox.waiting(world.engine):
            return runs
    raise AssertionError("the inbox never emptied")


def test_dropped_duplicated_and_reordered_webhooks_end_as_perfect_delivery(hooked):
    world, _url = hooked
    sandbox = world.sandbox.engine
    _first_full_sync(world)
    sandbox.webhooks.set_chaos({"drop": 0.2, "duplicate": 0.2, "delay": [0, 1.5], "seed": 7})
    placed = _place(world, 12)
    lgl = sandbox.stores["lgl"]
    bumped = [lgl.inventory_items[lgl.variants_by_sku(f"LGL-00{n}")[0].inventory_item_id]
              for n in range(10, 30)]  # fmt: skip
    final = _bump(world, bumped, 60)
    _drain(world)
    # Every item of which at least one delivery arrived is right at the retailer already, from
    # the webhook runs alone: each re-read LGL by id, so a late or repeated delivery cannot
    # bring back an older number.
    with world.engine.connect() as connection:
        named = {
            o["inventory_item_id"]
            for o in connection.execute(
                sa.select(webhook_inbox.c.objects).where(webhook_inbox.c.flow == "inventory")
            ).scalars()
        }
    buffer = get_retailer(world.engine, RETAILER).inventory_safety_buffer
    levels = _retailer_levels(world)
    arrived = [i.sku for i in bumped if gid("InventoryItem", i.id) in named]
    assert arrived
    assert {sku: levels[sku] for sku in arrived} == {
        sku: max(0, final[sku] - buffer) for sku in arrived
    }
    shipped_sources = placed[::2]
    # Reconciliation: the search index catches up and one polling cycle runs, as scheduled.
    for handle in ("lgl", RETAILER):
        sandbox.stores[handle].apply_settings({"search_lag": 0})
    assert world.materialize(ORDERS, partition=RETAILER).success
    _ship(world, [s for s in shipped_sources if _imported(world).get(s)])
    _drain(world)
    assert world.materialize(PUSH, partition=RETAILER).success
    # The inventory reconciliation sets what every dropped delivery missed.
    assert world.materialize([*ASSETS["inventory_snapshot"], retailer_inventory]).success
    levels = _retailer_levels(world)
    assert {i.sku: levels[i.sku] for i in bumped} == {
        sku: max(0, n - buffer) for sku, n in final.items()
    }
    counters = sandbox.webhooks.counters
    assert counters.dropped > 0 and counters.duplicated > 0
    imported = _imported(world)
    assert {s: imported.get(s) for s in placed} == {s: 1 for s in placed}
    store = sandbox.stores[RETAILER]
    tracked = Counter(
        t.number
        for source in shipped_sources
        for f in store.orders[int(source.rsplit("/", 1)[1])].fulfillment_ids
        for t in store.fulfillments[f].tracking_info
    )
    assert len(tracked) == len(shipped_sources) and set(tracked.values()) == {1}
    with world.engine.connect() as connection:
        stored = connection.execute(sa.select(webhook_inbox.c.event_id)).scalars().all()
    assert len(stored) == len(set(stored))  # each event once, whatever arrived twice


def test_app_uninstalled_disables_the_retailer_and_emails_once(hooked):
    world, _url = hooked
    world.sandbox.engine.webhooks.set_chaos({"duplicate": 1.0})
    requests.post(f"{world.sandbox.server.url}/_sandbox/stores/{RETAILER}/uninstall", timeout=10)
    _wait(lambda: world.sandbox.engine.webhooks.pending() == 0)
    _wait(lambda: bool(inbox.waiting(world.engine)))
    assert _sense(world) == [] and _sense(world) == []
    assert get_retailer(world.engine, RETAILER).enabled is False
    with world.engine.connect() as connection:
        emails = (
            connection.execute(
                sa.select(email_notifications.c.subject).where(
                    email_notifications.c.notification_type == "webhooks"
                )
            )
            .scalars()
            .all()
        )
    assert len(emails) == 1 and "uninstalled" in emails[0]
    # The uninstall starts the retention timer (test_offboarding.py: the purge it leads to).
    (timer,) = offboarding.due(world.engine, datetime.now(UTC) + timedelta(days=365), 0)
    assert (timer.retailer_id, timer.reason) == (RETAILER, "app_uninstalled")


def _post(url: str, body: bytes, secret: str, shop: str, **headers: str) -> requests.Response:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    sent = {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "Content-Type": "application/json",
        **headers,
    }
    return requests.post(f"{url}/webhooks", data=body, headers=sent, timeout=10)


def test_forged_resigned_and_unknown_deliveries_are_refused_and_stored_nowhere(hooked, monkeypatch):
    world, url = hooked
    secret = world.sandbox.engine.stores[RETAILER].api_secret
    shop = f"{RETAILER}.myshopify.com"
    body = json.dumps({"id": 1, "admin_graphql_api_id": "gid://shopify/Order/1"}).encode()
    with world.engine.connect() as connection:
        before = connection.execute(sa.select(sa.func.count()).select_from(webhook_inbox)).scalar()
    assert _post(url, body, "not-the-secret", shop).status_code == 401
    tampered = body.replace(b'"id": 1', b'"id": 2')  # a genuine signature on another body
    genuine = _post(url, body, secret, shop)
    replay = _post(url, tampered, secret, shop, **{"X-Shopify-Hmac-Sha256": "x" * 44})
    assert genuine.status_code == 200 and replay.status_code == 401
    assert _post(url, body, secret, "stranger.myshopify.com").status_code == 404
    assert _post(url, b"{" * (300 * 1024), secret, shop).status_code == 413
    assert _post(url, b"not json", secret, shop).status_code == 400
    event = str(uuid.uuid4())
    twice = [_post(url, body, secret, shop, **{"X-Shopify-Event-Id": event}) for _ in range(2)]
    assert [r.text for r in twice] == ["stored", "duplicate"]
    monkeypatch.setenv("LGL_APP_PREVIOUS_CLIENT_SECRET", "the-old-secret")
    assert _post(url, body, "the-old-secret", shop).status_code == 200  # during a rotation
    with world.engine.connect() as connection:
        after = connection.execute(sa.select(sa.func.count()).select_from(webhook_inbox)).scalar()
    assert after - before == 3  # the genuine one, the event sent twice once, the old secret's


def test_the_sandbox_retries_a_failing_endpoint_and_deletes_the_subscription_after_8(hooked):
    world, _url = hooked
    sandbox = world.sandbox.engine
    retailer_store = sandbox.stores[RETAILER]
    retailer_store.api_secret = "rotated-without-telling-lgl"  # every delivery now 401s
    sandbox.webhooks.stop()  # this test sends by hand, on the sandbox clock
    _place(world, 1)
    for _ in range(12):  # past the whole retry schedule, on the sandbox clock
        sandbox.clock.advance(9000)
        sandbox.webhooks.send_due()
    topics = {s.topic for s in retailer_store.webhook_subscriptions.values()}
    assert "ORDERS_PAID" not in topics and "ORDERS_UPDATED" not in topics
    assert sandbox.webhooks.counters.deleted_subscriptions >= 2
    drift = subscriptions.ensure(
        world.sandbox.client(RETAILER),
        subscriptions.endpoint(),
        subscriptions.retailer_topics(get_retailer(world.engine, RETAILER)),
        repair=False,
    )
    assert "ORDERS_PAID" in drift.missing and not drift.repaired


def test_subscriptions_are_created_once_and_drift_is_repaired(hooked):
    world, _url = hooked
    client = world.sandbox.client(RETAILER)
    wanted = subscriptions.retailer_topics(get_retailer(world.engine, RETAILER))
    endpoint = subscriptions.endpoint()
    again = subscriptions.ensure(client, endpoint, wanted, repair=True)
    assert again.clean and sorted(again.ok) == sorted(wanted)
    store = world.sandbox.engine.stores[RETAILER]
    paid = next(s for s in store.webhook_subscriptions.values() if s.topic == "ORDERS_PAID")
    paid.include_fields = []
    store.webhook_subscriptions.pop(
        next(s.id for s in store.webhook_subscriptions.values() if s.topic == "ORDERS_EDITED")
    )
    drift = subscriptions.ensure(client, endpoint, wanted, repair=True)
    assert drift.missing == ["ORDERS_EDITED"] and drift.changed == ["ORDERS_PAID"]
    assert subscriptions.ensure(client, endpoint, wanted, repair=False).clean
    assert len(store.webhook_subscriptions) == len(wanted)


def _bump(world, items: list, times: int) -> dict[str, int]:
    """LGL's available of ``items`` raised ``times`` times in turn (a delivery each); the
    quantities per SKU at the end."""
    lgl = world.sandbox.engine.stores["lgl"]
    with lgl.lock:
        for n in range(times):
            level = next(iter(items[n % len(items)].levels.values()))
            lgl.set_quantity(level, "available", level.quantities["available"] + 1)
    return {i.sku: next(iter(i.levels.values())).quantities["available"] for i in items}


def _first_full_sync(world) -> None:
    """The retailer stocks every SKU at its LGL location (none yet), then syncs in full."""
    store = world.sandbox.engine.stores[RETAILER]
    at = next(i for i, loc in store.locations.items() if loc.name == RETAILER_LGL_LOCATION)
    with store.lock:
        for item in store.inventory_items.values():
            if item.sku and item.sku.startswith("LGL-"):
                store.stock(item.id, at, 0)
    assert world.materialize([*ASSETS["inventory_snapshot"], retailer_inventory]).success
    _settle(world)


def test_a_burst_of_500_lgl_stock_webhooks_is_one_run_for_the_named_skus(hooked):
    """One ``sync_stock_changes`` run, giving the retailer exactly the items that changed; it
    reads them by id at LGL (Shopify's search lags an hour here) and sets the retailer to them."""
    world, _url = hooked
    _first_full_sync(world)
    lgl = world.sandbox.engine.stores["lgl"]
    items = list(lgl.inventory_items.values())[:40]
    now = _bump(world, items, 500)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 500, 60)
    made = _sense(world)
    assert [(r.job_name, r.partition_key) for r in made] == [("sync_stock_changes", None)]
    assert sorted(_named_items(made[0])) == sorted(gid("InventoryItem", i.id) for i in items)
    assert _sense(world) == []
    result = _run(world, made[0])
    assert result.success
    (meta,) = [
        e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.partition == RETAILER
    ]
    carried = [i.sku for i in items if i.sku in _retailer_levels(world)]
    assert carried and meta["skus_compared"].value == len(carried)
    assert meta["skus_written"].value == len(carried)  # each raised at LGL, so at the retailer
    assert all(_retailer_levels(world)[sku] <= now[sku] for sku in carried)
    # A full plan from a new snapshot finds nothing left to write.
    check = dg.materialize(
        [*ASSETS["inventory_snapshot"], retailer_inventory],
        partition_key=RETAILER,
        instance=world.instance,
        resources=world.resources(),
        run_config={"ops": {"retailer_inventory": {"config": {"dry_run": True}}}},
    )
    assert (
        check.asset_materializations_for_node("retailer_inventory")[0]
        .metadata["skus_changed"]
        .value
        == 0
    )


def _named_items(request: dg.RunRequest) -> list[str]:
    """The LGL items a stock-changes run sets at the retailer."""
    return request.run_config["ops"]["stock_changes"]["config"]["items"][RETAILER]


def _retailer_levels(world) -> dict[str, int]:
    """The retailer's available per SKU at its LGL location."""
    store = world.sandbox.engine.stores[RETAILER]
    at = next(i for i, loc in store.locations.items() if loc.name == RETAILER_LGL_LOCATION)
    return {
        item.sku: item.levels[at].quantities["available"]
        for item in store.inventory_items.values()
        if at in item.levels
    }


def test_stock_changes_while_a_retailer_syncs_reach_it_in_its_next_run(hooked):
    """No request beside a queued or running inventory run of the retailer; the changes of the
    meantime go to the next run, each item once, none lost (the sensor's cursor)."""
    world, _url = hooked
    _first_full_sync(world)
    items = list(world.sandbox.engine.stores["lgl"].inventory_items.values())
    _bump(world, items[:3], 3)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 3)
    busy = DagsterRun(  # the automation's full sync, going
        job_name="__ASSET_JOB",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        asset_selection=frozenset({retailer_inventory.key}),
        tags={"dagster/partition": RETAILER},
    )
    world.instance.add_run(busy)
    assert _sense(world) == []
    _bump(world, items[3:5], 2)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 2)
    assert _sense(world) == []
    world.instance.report_run_canceled(busy)  # ended: the sensor may go on
    made = _sense(world)
    assert len(made) == 1
    assert sorted(_named_items(made[0])) == sorted(gid("InventoryItem", i.id) for i in items[:5])
    assert _run(world, made[0]).success
    _bump(world, items[5:6], 1)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 1)
    going = DagsterRun(  # a stock-changes run of its own, going: the next one waits for it
        job_name=sync_stock_changes_job.name,
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
    )
    world.instance.add_run(going)
    assert _sense(world) == []
    world.instance.report_run_canceled(going)
    made = _sense(world)
    assert _named_items(made[0]) == [gid("InventoryItem", items[5].id)]


def test_a_retailer_whose_webhooks_stopped_is_reported_once_when_polling_finds_orders(hooked):
    world, _url = hooked
    sandbox = world.sandbox.engine
    store = sandbox.stores[RETAILER]
    with world.engine.begin() as connection:  # its last webhook came two hours ago
        connection.execute(
            webhook_inbox.update().values(
                received_at=datetime.now(UTC) - timedelta(hours=2),
                triggered_at=datetime.now(UTC) - timedelta(hours=2),
            )
        )
    store.webhook_subscriptions.clear()  # Shopify deleted them: nothing arrives any more
    variant = store.variants_by_sku("LGL-0004")[0]
    with store.lock:
        for _ in range(2):
            store.create_order(
                lines=[{"variant_id": variant.id, "quantity": 1}],
                created_at=store.now() - timedelta(minutes=7),  # past the 5-minute grace
                email="buyer@example.com",
                shipping_address=ADDRESS,
            )
    store.apply_settings({"search_lag": 0})
    for _ in range(2):  # two polling cycles: told once
        result = world.materialize(ORDERS, partition=RETAILER)
        assert result.success
    last_run = result.asset_materializations_for_node("imported_lgl_orders")[0].metadata
    with world.engine.connect() as connection:
        told = (
            connection.execute(
                sa.select(email_notifications.c.subject).where(
                    email_notifications.c.notification_type == "webhooks"
                )
            )
            .scalars()
            .all()
        )
    assert told == ["[Nationwide Plants] webhooks stopped arriving"]
    assert last_run["orders_no_webhook_announced"].value == 0  # nothing new the second time


def test_with_webhooks_on_the_schedules_reconcile_half_as_often_unless_set(monkeypatch):
    from lgl_sync import settings

    monkeypatch.delenv("LGL_PUBLIC_URL", raising=False)
    monkeypatch.delenv("LGL_ORDERS_CRON", raising=False)
    assert settings.cron("LGL_ORDERS_CRON") == ("*/10 * * * *", None)
    monkeypatch.setenv("LGL_PUBLIC_URL", "https://sync.lgl.example")
    assert settings.cron("LGL_ORDERS_CRON") == ("*/20 * * * *", None)
    assert settings.cron("LGL_INVENTORY_CRON")[0] == "*/10 * * * *"
    monkeypatch.setenv("LGL_ORDERS_CRON", "*/7 * * * *")
    assert settings.cron("LGL_ORDERS_CRON") == ("*/7 * * * *", None)


def test_a_stock_change_of_an_item_the_retailer_does_not_carry_starts_no_run(hooked):
    """Each retailer's stock runs start only for the LGL items it carries (as its last full
    sync found them); the change still moves its mark, so the next run names only what is new."""
    world, _url = hooked
    lgl = world.sandbox.engine.stores["lgl"]
    warehouse = next(i for i, loc in lgl.locations.items() if loc.name == "LGL Warehouse")
    with lgl.lock:
        product = lgl.add_product("LGL only", [{"sku": "LGL-ONLY-1", "price": "5"}])
        only = lgl.inventory_items[lgl.variants[product.variant_ids[0]].inventory_item_id]
        lgl.stock(only.id, warehouse, 4)
    _first_full_sync(world)
    _bump(world, [only], 2)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 2)
    assert _sense(world) == []
    carried = lgl.inventory_items[lgl.variants_by_sku("LGL-0007")[0].inventory_item_id]
    _bump(world, [carried, only], 2)
    _wait(lambda: len(inbox.waiting(world.engine)) >= 2)
    made = _sense(world)
    assert len(made) == 1
    assert list(made[0].run_config["ops"]["stock_changes"]["config"]["items"]) == [RETAILER]
    assert _named_items(made[0]) == [gid("InventoryItem", carried.id)]
