"""Orders change after import: the retailer cancels.

Contract (the order lifecycle issue, the cancellation part): an order cancelled at the retailer
after import has its LGL order cancelled within one cycle (restocked, no customer notice), so
the warehouse never ships it; cancelled after part of it shipped, the rest is put on hold at LGL
and a person is told once. Changes are made through the sandbox's GraphQL, as a person in the
Shopify admin would; Shopify's orderCancel is asynchronous (a Job), as the sandbox models it.
"""

from __future__ import annotations

import random

from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo

from lgl_sync.control_plane import ledger
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

ORDERS = [
    retailer_paid_orders,
    imported_lgl_orders,
    retailer_order_changes,
    one_lgl_order_per_source_order,
]
CANCEL = """
mutation($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true, notifyCustomer: true) {
    job { id done } orderCancelUserErrors { field message code }
  }
}
"""


def _changes(result) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == retailer_order_changes.key
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _cancel_at_retailer(world, source_id: str) -> None:
    """The retailer's staff cancel the order in their Shopify admin."""
    answer = world.sandbox.raw(RETAILER, CANCEL, {"id": source_id}).json()["data"]["orderCancel"]
    assert answer["orderCancelUserErrors"] == [] and answer["job"]["id"]
    world.sandbox.clock.advance(5)  # Shopify's job runs


def _ship_part(world, lgl_order) -> None:
    """LGL's warehouse ships one unit of the first line."""
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    line = fo.line_items[0]
    lgl.create_fulfillment([(fo, [(line.id, 1)])], [TrackingInfo("UPS", "1ZPART1", None)], True)


def test_an_order_cancelled_at_the_retailer_is_cancelled_at_lgl_and_never_shipped(world):
    seeded = seed(world.sandbox, normal=5, big=0)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success
    by_source = lgl_orders_by_source(world.sandbox)
    # One order of two units or more ships in part; another not at all; a third is kept.
    part = next(s for s in sorted(seeded.expected) if sum(seeded.expected[s].values()) >= 2)
    whole, kept = [s for s in sorted(seeded.expected) if s != part][:2]
    partly = by_source[part][0]
    _ship_part(world, partly)
    _cancel_at_retailer(world, whole)
    _cancel_at_retailer(world, part)

    first = world.materialize(ORDERS)
    assert first.success
    changes = _changes(first)
    assert changes["held_after_shipment"] == 1
    assert changes["cancelled"] + changes["cancel_requested"] == 1
    world.sandbox.clock.advance(5)  # LGL's cancellation job runs
    lgl = world.sandbox.store("lgl")
    cancelled = by_source[whole][0]
    ship_some(lgl, random.Random(3), share=1.0, partial=0.0)  # the warehouse ships all it can
    assert cancelled.cancelled_at is not None and not cancelled.fulfillment_ids
    assert all(fo.status == "ON_HOLD" for fo in _open_fos(lgl, partly))
    assert len(partly.fulfillment_ids) == 1  # only what had shipped before
    assert by_source[kept][0].cancelled_at is None  # the others ship as usual
    assert by_source[kept][0].fulfillment_ids

    second = world.materialize(ORDERS)
    assert second.success
    again = _changes(second)
    assert again["held_after_shipment"] == 0  # told once
    assert again["cancelled"] == changes["cancel_requested"]  # confirmed by re-reading
    links = ledger.order_links_of(world.engine, RETAILER, [whole, part])
    assert links[whole].status == ledger.LinkStatus.CANCELLED
    assert links[part].status == ledger.LinkStatus.HELD_SHIPPED
    assert world.materialize(ORDERS).success
    assert world.sandbox.store("lgl").usage.by_operation.get("OrderCancel") == 1


def _open_fos(lgl, order) -> list:
    return [
        lgl.fulfillment_orders[i]
        for i in order.fulfillment_order_ids
        if any(li.remaining_quantity for li in lgl.fulfillment_orders[i].line_items)
    ]


def test_a_lost_cancel_answer_cancels_once(world):
    seeded = seed(world.sandbox, normal=2, big=0)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success
    source = sorted(seeded.expected)[0]
    _cancel_at_retailer(world, source)
    lost = FaultRule("apply_then_fail", operation="orderCancel", count=1)
    world.sandbox.engine.set_faults("lgl", [lost])
    world.materialize(ORDERS)  # the retry is refused as already cancelling or cancelled
    world.sandbox.clock.advance(5)
    assert world.materialize(ORDERS).success
    (order,) = lgl_orders_by_source(world.sandbox)[source]
    assert order.cancelled_at is not None
    link = ledger.order_links_of(world.engine, RETAILER, [source])[source]
    assert link.status == ledger.LinkStatus.CANCELLED
