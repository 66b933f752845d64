"""Fairness at the shared LGL store: one retailer's flash sale never starves another's import.

Contract (issues 24 and 27): every retailer's orders reach the one LGL store, whose API budget
(Shopify's leaky bucket, Standard plan: 2,000 points, 100 a second) they share. While one
retailer imports a backlog, throttle-bound at that budget, another retailer's new order is
imported by its own run at once: the backlog leaves LGL_BACKLOG_RESERVE of the bucket unspent,
so the other run's calls (each at most Shopify's 1,000-point query cap) never wait for it.
Both runs are real Dagster runs against the sandbox, at the same time, on the sandbox's clock.
"""

from __future__ import annotations

import threading

from shopify_sandbox.models import gid

from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.devkit.world import RETAILER_LGL_LOCATION, token_for
from lgl_sync.shopify.throttle import waiting_on
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

IMPORT = [retailer_paid_orders, imported_lgl_orders]
OTHER = "other-retailer"
BACKLOG = 250
ADDRESS = {
    "firstName": "Sam",
    "lastName": "Other",
    "address1": "9 Oak St",
    "city": "Denver",
    "provinceCode": "CO",
    "zip": "80202",
    "countryCode": "US",
}


def _other_retailer(world) -> str:
    """A second retailer with one new paid order at its LGL location; its source order id."""
    store = world.sandbox.engine.add_store(OTHER, token_for(OTHER), plan="plus", name="Other")
    store.add_location("Main Store")
    at_lgl = store.add_location(RETAILER_LGL_LOCATION)
    product = store.add_product(
        "LGL-0007", [{"sku": "LGL-0007", "price": "20", "ships_from": at_lgl.id}]
    )
    order = store.create_order(
        lines=[{"variant_id": product.variant_ids[0], "quantity": 1}],
        email="sam@example.com",
        shipping_address=ADDRESS,
    )
    world.add_retailer(OTHER)
    return gid("Order", order.id)


def _metadata(result, asset) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == asset.key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _throttle_bound(store, running: threading.Thread) -> bool:
    """Waits (bounded) until the backlog has spent more than the whole bucket: from then on
    it spends what the bucket refills, and without its reserve would keep the bucket empty."""
    spent = store.usage.cost_actual
    for _ in range(600):
        if store.usage.cost_actual - spent > 1.2 * store.bucket.maximum:
            break
        running.join(0.05)
    return running.is_alive() and store.usage.cost_actual - spent > 1.2 * store.bucket.maximum


def test_a_flash_sale_at_one_retailer_never_makes_another_retailers_order_wait(world):
    seed(world.sandbox, normal=BACKLOG, lgl_plan="standard")
    world.add_retailer(RETAILER)
    other_order = _other_retailer(world)
    world.sandbox.clock.set_speed(2)  # the Standard refill, twice as fast as real time
    lgl = world.sandbox.store("lgl")
    flash: list = []
    with waiting_on(world.sandbox.clock):
        backlog = threading.Thread(
            target=lambda: flash.append(world.materialize(IMPORT, partition=RETAILER))
        )
        backlog.start()
        try:
            assert _throttle_bound(lgl, backlog)  # the flash sale has the budget now
            other = world.materialize(IMPORT, partition=OTHER)
            still_importing = backlog.is_alive()
        finally:
            backlog.join(300)
    assert other.success and still_importing
    assert len(lgl_orders_by_source(world.sandbox)[other_order]) == 1
    spent = _metadata(other, imported_lgl_orders)
    assert spent["imported"] == 1
    # Not one call of the other retailer's run was refused or kept waiting by the backlog.
    assert spent["lgl_api_throttled"] == 0 and spent["lgl_api_throttle_wait_s"] == 0
    (done,) = flash
    assert done.success and _metadata(done, imported_lgl_orders)["imported"] >= BACKLOG
