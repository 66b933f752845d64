"""Nothing duplicated, nothing wiped: disabled retailers untouched, one run per retailer at a
time whatever launched it, inventory that fails safe.

Contract (the integrity issue, the parts built so far): every asset and check of a disabled
retailer's partition reads and writes nothing at its store and says so; the shipped instance
queues a second run of a retailer (a UI launch, a backfill) until the first ends; a null or
missing LGL quantity never lowers a retailer's level, and a plan that would zero more than the
allowed share of a retailer's SKUs is refused unless allowed once.
"""

from __future__ import annotations

import dagster as dg
from click.testing import CliRunner
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import gid

from lgl_sync.cli import main
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
from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.devkit.world import token_for
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed
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
