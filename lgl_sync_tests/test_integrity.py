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
from shopify_sandbox.faults import FaultRule

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
