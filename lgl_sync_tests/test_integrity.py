"""Nothing duplicated, nothing wiped: disabled retailers untouched, one run per retailer at a
time whatever launched it, inventory that fails safe.

Contract (the integrity issue): every asset and check of a disabled retailer's partition reads
and writes nothing at its store and says so; the shipped instance queues a second run of a
retailer (a UI launch, a backfill) until the first ends, and a run that gets past the queue
anyway finds the retailer and flow locked (Postgres advisory lock, a file lock on SQLite); a
claim fences every create, so a stalled run never writes what another took over; a lost
orderCreate answer never makes a second LGL order, whether the custom-ID lookup is current or
lags and whether Shopify refuses a duplicate custom ID or not; a null or missing LGL quantity
never lowers a retailer's level, and a plan that would zero more than the allowed share of a
retailer's SKUs is refused unless allowed once; one retailer that cannot be read leaves the
others' targets exact; a sale search has not shown yet is not undone.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import timedelta

import dagster as dg
import pytest
from click.testing import CliRunner
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo, gid

from lgl_sync import settings
from lgl_sync.cli import main
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.locks import FlowBusyError, flow_lock
from lgl_sync.control_plane.migrate import upgrade
from lgl_sync.control_plane.retailers import set_enabled
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.fulfillments import fulfillment_lag, lgl_shipments, retailer_fulfillments
from lgl_sync.defs.inventory import (
    inventory_drift,
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.defs.resources import ControlPlaneResource, ShopifyStoreResource
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.world import token_for
from lgl_sync.flows import Flow
from lgl_sync_tests.killable_run import arguments
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed
from lgl_sync_tests.test_defs_inventory import _available
from lgl_sync_tests.test_defs_inventory import _seed as _seed_inventory
from lgl_sync_tests.test_defs_inventory import _sync as _sync_inventory

ORDERS = [retailer_paid_orders, imported_lgl_orders, one_lgl_order_per_source_order]
PUSH = [lgl_shipments, retailer_fulfillments, fulfillment_lag]
UPSTREAM = [lgl_inventory_snapshot, unimported_order_units]


def test_a_disabled_retailer_is_never_touched_by_any_asset_or_check(world):
    seed(world.sandbox, normal=5, lgl_skus=40)
    world.add_retailer(RETAILER)
    set_enabled(world.engine, RETAILER, False)
    store = world.sandbox.store(RETAILER)
    levels = {i: dict(item.levels) for i, item in store.inventory_items.items()}
    before = store.usage.requests
    results = [world.materialize(ORDERS), world.materialize(PUSH)]
    assert dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources()).success
    results.append(
        dg.materialize(
            [*UPSTREAM, retailer_inventory, inventory_drift],
            selection=[retailer_inventory, inventory_drift],
            partition_key=RETAILER,
            instance=world.instance,
            resources=world.resources(),
        )
    )
    assert all(r.success for r in results)
    assert store.usage.requests == before  # not one request reached its store
    assert lgl_orders_by_source(world.sandbox) == {}
    assert {i: dict(item.levels) for i, item in store.inventory_items.items()} == levels
    for result in results:
        for event in result.get_asset_materialization_events():
            metadata = event.materialization.metadata
            if event.materialization.partition == RETAILER:
                assert "disabled" in metadata["skipped"].value, event.asset_key


def test_null_lgl_quantities_never_lower_a_retailer_level(world):
    _seed_inventory(world, skus=60, handles=[RETAILER], changed=0.5)
    before = _available(world, RETAILER)
    # Shopify answers the LGL snapshot with null quantities (the review saw 71 of 73 levels
    # zeroed by such an answer).
    nulls = FaultRule("null_field", operation="inventoryItems", field="quantities", rate=1)
    world.sandbox.engine.set_faults("lgl", [nulls])
    snapshot = dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources())
    assert snapshot.success
    (event,) = [
        e
        for e in snapshot.get_asset_materialization_events()
        if e.asset_key == lgl_inventory_snapshot.key
    ]
    assert event.materialization.metadata["unreadable_quantities"].value == 60  # every stocked SKU
    assert _sync_inventory(world, RETAILER, upstream=False).success
    assert _available(world, RETAILER) == before  # nothing written from unknown quantities


def test_zeroing_most_skus_is_refused_until_a_person_allows_it_once(world, monkeypatch):
    _seed_inventory(world, skus=40, handles=[RETAILER], changed=0.0)
    lgl = world.sandbox.store("lgl")
    # A wrong SHOPIFY_LGL_LOCATION_ID: a location where every item is stocked at 0, so the
    # snapshot "really shows 0" for all of them.
    wrong = lgl.add_location("Returns Cage")
    for item_id in list(lgl.inventory_items):
        lgl.stock(item_id, wrong.id, 0)
    resources = {
        **world.resources(),
        "lgl_shopify": ShopifyStoreResource(
            domain=world.sandbox.domain("lgl"),
            token=token_for("lgl"),
            location_id=gid("Location", wrong.id),
        ),
    }

    def sync():
        assert dg.materialize(UPSTREAM, instance=world.instance, resources=resources).success
        return dg.materialize(
            [*UPSTREAM, retailer_inventory],
            selection=[retailer_inventory],
            partition_key=RETAILER,
            instance=world.instance,
            resources=resources,
            raise_on_error=False,
        )

    before = _available(world, RETAILER)
    assert sum(1 for n in before.values() if n > 0) > 10
    refused = sync()
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "LGL_MAX_ZERO_SHARE" in message and f"allow-zero {RETAILER}" in message
    assert _available(world, RETAILER) == before  # nothing written

    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    allowed = CliRunner().invoke(main, ["inventory", "allow-zero", RETAILER])
    assert allowed.exit_code == 0, allowed.output
    assert sync().success  # the person's permission, used once
    after = _available(world, RETAILER)
    assert all(n == 0 for sku, n in after.items() if sku.startswith("SKU-"))

    store = world.sandbox.store(RETAILER)  # stock comes back at the retailer...
    location = next(loc.id for loc in store.locations.values() if loc.name == "LGL Fulfillment")
    for item in store.inventory_items.values():
        if location in item.levels:
            item.levels[location].quantities["available"] = 5
    assert not sync().success  # ...and the permission is not there any more


def _run_in_process(world, flow: str, start_at: float, config: dict | None = None):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lgl_sync_tests.killable_run",
            arguments(world, flow, None, start_at, config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("flow", ["orders", "fulfillments"])
def test_a_run_stalled_past_the_take_over_window_never_writes_what_was_taken_over(
    any_world, flow, monkeypatch
):
    """Run A claims a write, then waits out a Retry-After longer than run B's take-over window;
    B takes the claim over and writes. A's fence, checked before its retry, stops it: one LGL
    order per source order, one retailer fulfillment per shipment. The per-retailer lock is
    off here (as if it silently failed): the fence alone must hold."""
    monkeypatch.setenv("LGL_RUN_LOCKS", "false")
    world = any_world
    seeded = seed(world.sandbox, normal=8, lgl_skus=40)
    world.add_retailer(RETAILER)
    if flow == "fulfillments":
        assert world.materialize(ORDERS).success
        for source, orders in lgl_orders_by_source(world.sandbox).items():
            ship_whole(world, orders[0], seeded.expected[source], f"1Z{source[-5:]}")
    stall = FaultRule(
        "too_many_requests",
        operation="orderCreate" if flow == "orders" else "fulfillmentCreate",
        count=1,
        retry_after=6,
    )
    world.sandbox.engine.set_faults("lgl" if flow == "orders" else RETAILER, [stall])
    start = time.time() + 6  # both processes are up and waiting by then
    first = _run_in_process(world, flow, start)
    second = _run_in_process(world, flow, start + 2.5, {"reconcile_after_seconds": 1})
    statuses = []
    for run in (first, second):
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err[-3000:]
        statuses.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n{flow}: first run {sorted(set(statuses[0]))}, second {sorted(set(statuses[1]))}")
    assert "in_progress" in statuses[0]  # the first run stood down on the order it lost
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())
    if flow == "fulfillments":
        store = world.sandbox.store(RETAILER)
        live = [
            f for f in store.fulfillments.values() if f.status == "SUCCESS" and f.notify_customer
        ]
        assert len(live) == len(seeded.expected)  # one per LGL shipment, none twice


def ship_whole(world, lgl_order, lines: dict[str, int], number: str) -> None:
    """LGL's warehouse ships every line of an LGL order in one box."""
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    wanted = [(fl.id, lines[lgl.line_items[fl.line_item_id].sku]) for fl in fo.line_items]
    lgl.create_fulfillment([(fo, wanted)], [TrackingInfo("UPS", number, None)], True)


def test_the_take_over_window_outlasts_one_attempt_and_one_wait(monkeypatch):
    """A holder renews its claim right before each attempt, so a claim older than one
    connection + one answer + the longest single wait is provably abandoned."""
    one_attempt_and_wait = (
        settings.connect_timeout() + settings.read_timeout() + settings.max_sleep_seconds()
    )
    assert settings.takeover_seconds() > one_attempt_and_wait
    monkeypatch.setenv("LGL_MAX_SLEEP_SECONDS", "300")  # waits longer than the window: refused
    with pytest.raises(settings.SettingError, match="LGL_TAKEOVER_SECONDS must be more than"):
        settings.takeover_seconds()


def _paid_order(world, handle: str, lines: dict[str, int]) -> None:
    """A paid order at a retailer's LGL location that LGL has not imported yet."""
    store = world.sandbox.store(handle)
    store.create_order(
        lines=[
            {"variant_id": store.variants_by_sku(sku)[0].id, "quantity": n}
            for sku, n in lines.items()
        ],
        created_at=store.now() - timedelta(minutes=30),
        email="buyer@example.com",
        shipping_address=BUYER_ADDRESS,
    )


def test_one_retailer_that_cannot_be_read_leaves_the_others_targets_exact(world):
    other = "epic-gardening"
    stock, _ = _seed_inventory(world, skus=20, handles=[RETAILER, other], changed=0.3)
    _paid_order(world, other, {"SKU-000001": 3, "SKU-000002": 1})
    assert _sync_inventory(world, RETAILER).success  # a first cycle, every token valid
    assert _sync_inventory(world, other, upstream=False).success
    # Before the next cycle: a sale at this retailer, and the other retailer's token revoked.
    _paid_order(world, RETAILER, {"SKU-000001": 2, "SKU-000003": 4})
    revoked = world.sandbox.store(other)
    revoked.token = "revoked-by-the-retailer"
    levels_there = _available(world, other)
    upstream = dg.materialize(UPSTREAM, instance=world.instance, resources=world.resources())
    assert upstream.success  # one retailer's failure does not fail everyone's units
    (units_event,) = [
        e
        for e in upstream.get_asset_materialization_events()
        if e.asset_key == unimported_order_units.key
    ]
    assert set(units_event.materialization.metadata["stale_retailers"].value) == {other}
    assert _sync_inventory(world, RETAILER, upstream=False).success
    # Exactly the targets every valid token would give: its own new sale read fresh, the
    # other retailer's units as last known (unchanged since).
    sold = {"SKU-000001": 3 + 2, "SKU-000002": 1, "SKU-000003": 4}
    expected = {sku: max(0, n - sold.get(sku, 0)) for sku, n in stock.items()}
    mine = _available(world, RETAILER)
    assert {sku: mine[sku] for sku in expected} == expected
    refused = _sync_inventory(world, other, upstream=False, raise_on_error=False)
    assert not refused.success  # not synced from numbers that miss its own sales
    assert _available(world, other) == levels_there


CREATE = """
mutation($order: OrderCreateOrderInput!) {
  orderCreate(order: $order) { order { id } userErrors { field message code } }
}
"""
DEFINE = """
mutation($definition: MetafieldDefinitionInput!) {
  metafieldDefinitionCreate(definition: $definition) {
    createdDefinition { id } userErrors { field message code }
  }
}
"""


@pytest.mark.parametrize(
    ("mode", "second"),
    [("consistent", "INVALID"), ("lagging_unique", "INVALID"), ("lagging_duplicates", None)],
)
def test_an_id_metafield_needs_its_definition_and_is_unique_per_store(sandbox, mode, second):
    lgl = sandbox.store("lgl")
    lgl.apply_settings({"custom_id": mode})
    variant = next(iter(lgl.variants.values()))
    order = {
        "lineItems": [{"variantId": f"gid://shopify/ProductVariant/{variant.id}", "quantity": 1}],
        "metafields": [
            {"namespace": "lgl_sync", "key": "source_order", "type": "id", "value": "r:1"}
        ],
    }

    def create():
        answer = sandbox.raw("lgl", CREATE, {"order": order}).json()["data"]["orderCreate"]
        return [e["code"] for e in answer["userErrors"]]

    assert create() == ["INVALID"]  # no definition yet: refused
    definition = {
        "name": "Source", "namespace": "lgl_sync", "key": "source_order", "type": "id",
        "ownerType": "ORDER",
    }  # fmt: skip
    made = sandbox.raw("lgl", DEFINE, {"definition": definition}).json()["data"]
    assert made["metafieldDefinitionCreate"]["userErrors"] == []
    assert create() == []
    assert create() == ([second] if second else [])


@pytest.mark.parametrize("mode", ["consistent", "lagging_unique", "lagging_duplicates"])
def test_a_lost_create_answer_with_a_ten_minute_search_lag_makes_one_lgl_order(world, mode):
    seeded = seed(world.sandbox, normal=6, big=0)
    world.add_retailer(RETAILER)
    lgl = world.sandbox.store("lgl")
    lgl.search_lag = 600  # Shopify's search index ten minutes behind
    lgl.apply_settings({"custom_id": mode})
    lost = FaultRule("apply_then_fail", operation="orderCreate", count=1)
    world.sandbox.engine.set_faults("lgl", [lost])
    for _ in range(3):  # runs right after each other, eager to take stale claims over
        world.materialize(ORDERS, config={"reconcile_after_seconds": 0})
        assert all(len(o) == 1 for o in lgl_orders_by_source(world.sandbox).values())
    world.sandbox.clock.advance(601)  # the index catches up
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())
    assert ("ORDER", "lgl_sync", "source_order") in lgl.metafield_definitions


def _failed_run(world, monkeypatch) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("LGL_UNCONFIRMED_MINUTES", "0")  # a person is told at once
    result = world.materialize(ORDERS, config={"reconcile_after_seconds": 0})
    monkeypatch.delenv("LGL_UNCONFIRMED_MINUTES")
    return result


def test_an_unconfirmed_create_in_a_store_that_accepts_duplicates_waits_and_tells(
    any_world, monkeypatch
):
    """Variant (c): the lookup lags and Shopify would accept a second order with the same
    custom ID. The order is never created twice: it waits, a person is told, and it is
    recorded once the lookup shows it."""
    world = any_world
    seeded = seed(world.sandbox, normal=4, big=0)
    world.add_retailer(RETAILER)
    lgl = world.sandbox.store("lgl")
    lgl.search_lag = 3600  # an hour behind: longer than LGL_UNCONFIRMED_MINUTES
    lgl.apply_settings({"custom_id": "lagging_duplicates"})
    world.sandbox.engine.set_faults(
        "lgl", [FaultRule("apply_then_timeout", "orderCreate", count=1)]
    )
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    told = _failed_run(world, monkeypatch)
    assert not told.success
    failure = told.get_step_failure_events()[0].step_failure_data.error
    assert "unresolved_claim" in str(told.get_step_failure_events()[0].step_failure_data)
    assert "lgl-sync orders release" in failure.message
    assert all(len(o) == 1 for o in lgl_orders_by_source(world.sandbox).values())
    world.sandbox.clock.advance(3601)  # the lookup catches up: found, recorded, nothing new
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


@pytest.mark.parametrize("mode", ["consistent", "lagging_unique", "lagging_duplicates"])
def test_a_create_lost_without_effect_is_made_once_the_lookup_has_caught_up(world, mode):
    """A 5xx before Shopify applied anything looks like a lost answer. The order is created
    again only once the lookup shows an order answered after the loss; never twice."""
    seeded = seed(world.sandbox, normal=5, big=0)
    world.add_retailer(RETAILER)
    lgl = world.sandbox.store("lgl")
    lgl.search_lag = 600
    lgl.apply_settings({"custom_id": mode})
    world.sandbox.engine.set_faults("lgl", [FaultRule("server_error", "orderCreate", count=1)])
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    assert len(lgl_orders_by_source(world.sandbox)) == len(seeded.expected) - 1
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    if mode != "consistent":  # the proof lags too: still waiting, nothing created
        assert len(lgl_orders_by_source(world.sandbox)) == len(seeded.expected) - 1
        world.sandbox.clock.advance(601)
        assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


def test_a_person_releases_an_unresolved_claim_and_the_next_run_imports_it(world, monkeypatch):
    seeded = seed(world.sandbox, normal=3, big=0)
    world.add_retailer(RETAILER)
    lgl = world.sandbox.store("lgl")
    lgl.search_lag = 3600  # nothing proves the lookup current within the hour
    lgl.apply_settings({"custom_id": "lagging_duplicates"})
    world.sandbox.engine.set_faults("lgl", [FaultRule("server_error", "orderCreate", count=1)])
    assert world.materialize(ORDERS, config={"reconcile_after_seconds": 0}).success
    assert not _failed_run(world, monkeypatch).success
    (source,) = [s for s in seeded.expected if s not in lgl_orders_by_source(world.sandbox)]
    runner = CliRunner()
    env = {"LGL_DATABASE_URL": world.database_url}
    released = runner.invoke(main, ["orders", "release", RETAILER, source], env=env)
    assert released.exit_code == 0, released.output
    again = runner.invoke(main, ["orders", "release", RETAILER, source], env=env)
    assert again.exit_code != 0 and "nothing to release" in again.output
    assert world.materialize(ORDERS).success
    by_source = lgl_orders_by_source(world.sandbox)
    assert set(by_source) == set(seeded.expected)
    assert all(len(orders) == 1 for orders in by_source.values())


def _sale(world, handle: str, lines: dict[str, int]) -> None:
    """A customer's order at the retailer this second: Shopify commits its units at once."""
    store = world.sandbox.store(handle)
    store.create_order(
        lines=[
            {"variant_id": store.variants_by_sku(sku)[0].id, "quantity": n}
            for sku, n in lines.items()
        ],
        decrement_inventory=True,
        email="buyer@example.com",
        shipping_address={
            "firstName": "Ada", "lastName": "Buyer", "address1": "1 Main St", "city": "Austin",
            "provinceCode": "TX", "zip": "78701", "countryCode": "US",
        },
    )  # fmt: skip


def test_a_sale_search_does_not_show_yet_is_not_undone_nor_counted_twice_later(world):
    """The unimported read goes through search, which lags; the retailer location's
    ``committed`` quantity does not. A sale one second before the sync stays sold while search
    lags, and once the order is imported, then shipped and pushed back, it is counted once."""
    stock, _ = _seed_inventory(world, skus=12, handles=[RETAILER], changed=0.0)
    assert _sync_inventory(world, RETAILER).success
    retailer = world.sandbox.store(RETAILER)
    retailer.search_lag = 60
    _sale(world, RETAILER, {"SKU-000001": 3, "SKU-000002": 1})
    world.sandbox.clock.advance(1)
    sold = {"SKU-000001": 3, "SKU-000002": 1}
    expected = {sku: n - sold.get(sku, 0) for sku, n in stock.items()}

    def levels() -> dict[str, int]:
        return {sku: n for sku, n in _available(world, RETAILER).items() if sku in stock}

    synced = _sync_inventory(world, RETAILER)
    assert synced.success
    assert levels() == expected  # not written back to LGL's number while search lags
    (event,) = [
        e for e in synced.get_asset_materialization_events()
        if e.asset_key == retailer_inventory.key
    ]  # fmt: skip
    assert event.materialization.metadata["unseen_committed_units"].value == 4
    world.sandbox.clock.advance(61)  # search shows the order: it is imported into LGL
    assert world.materialize(ORDERS).success
    assert len(lgl_orders_by_source(world.sandbox)) == 1
    assert _sync_inventory(world, RETAILER).success
    assert levels() == expected  # in LGL's numbers now, still committed here: once, not twice
    ship_some(world.sandbox.store("lgl"), random.Random(1), 1.0, 0.0)
    assert world.materialize(PUSH).success
    assert _sync_inventory(world, RETAILER).success
    assert levels() == expected
    assert all(level.quantities["committed"] == 0 for level in retailer.inventory_levels.values())


def test_db_upgrade_creates_the_custom_id_definition_and_health_checks_it(
    world, monkeypatch, tmp_path
):
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))
    monkeypatch.setenv("LGL_DATABASE_URL", world.database_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    upgrade(world.engine)  # the tables, as an earlier version's upgrade left them
    lgl = world.sandbox.store("lgl")
    assert ("ORDER", "lgl_sync", "source_order") not in lgl.metafield_definitions
    runner = CliRunner()
    sick = runner.invoke(main, ["health"])
    assert sick.exit_code == 1
    assert "custom ID definition lgl_sync.source_order on orders is missing" in sick.output
    first = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0 and "source_order on orders created" in first.output
    assert ("ORDER", "lgl_sync", "source_order") in lgl.metafield_definitions
    again = runner.invoke(main, ["db", "upgrade"])
    assert again.exit_code == 0 and "source_order on orders present" in again.output
    well = runner.invoke(main, ["health"])
    assert (well.exit_code, well.output.strip()) == (0, "ok")
    lgl.token = "revoked"
    unreadable = runner.invoke(main, ["health"])
    assert unreadable.exit_code == 1 and "LGL store: cannot be read (auth" in unreadable.output
    assert "revoked" not in unreadable.output


def test_a_second_run_of_a_retailer_and_flow_writes_nothing_while_the_first_holds_the_lock(
    any_world,
):
    world = any_world
    seed(world.sandbox, normal=3, big=0)
    world.add_retailer(RETAILER)
    control_plane = ControlPlaneResource(database_url=world.database_url)
    with control_plane.flow_lock(RETAILER, Flow.ORDERS):  # the first run, still writing
        busy = world.materialize(ORDERS)
        assert not busy.success
        failure = busy.get_step_failure_events()[0].step_failure_data
        assert "another run of nationwide-plants orders is running" in failure.error.message
        assert failure.user_failure_data.metadata["error_category"].value == "busy"
        assert lgl_orders_by_source(world.sandbox) == {}
        with control_plane.flow_lock(RETAILER, Flow.INVENTORY):  # another flow: its own lock
            pass
    assert world.materialize(ORDERS).success
    assert lgl_orders_by_source(world.sandbox)


HOLDER = """
import sys, time
from lgl_sync.control_plane.database import create_engine
from lgl_sync.control_plane.locks import flow_lock
from lgl_sync.flows import Flow
with flow_lock(create_engine(sys.argv[1]), "nationwide-plants", Flow.ORDERS):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_lock_is_one_per_retailer_and_flow_and_dies_with_its_process(
    backend, request, tmp_path
):
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgres"
        else f"sqlite:///{tmp_path / 'control.db'}"
    )
    engine = create_engine(url)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FlowBusyError), flow_lock(engine, "nationwide-plants", Flow.ORDERS):
            pass
        with flow_lock(engine, "epic-gardening", Flow.ORDERS):  # another retailer: free
            pass
    finally:
        holder.kill()
        holder.wait()
    # The holder's session (or file) is gone with it: the lock is free again. The server
    # notices a closed connection at once; a few bounded tries cover its bookkeeping.
    for _ in range(50):
        try:
            with flow_lock(engine, "nationwide-plants", Flow.ORDERS):
                break
        except FlowBusyError:
            time.sleep(0.1)
    else:
        pytest.fail("the lock outlived the process that held it")
    engine.dispose()


def test_the_transaction_pooler_is_refused_for_locks():
    engine = create_engine("postgresql://lgl@127.0.0.1:6543/postgres")
    refused = pytest.raises(settings.SettingError, match="session pooler")
    with refused, flow_lock(engine, "nationwide-plants", Flow.ORDERS):
        pass
