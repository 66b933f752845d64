"""Orders change after import: the retailer cancels.

Contract (the order lifecycle issue, the cancellation part): an order cancelled at the retailer
after import has its LGL order cancelled within one cycle (restocked, no customer notice), so
the warehouse never ships it; cancelled after part of it shipped, the rest is put on hold at LGL
and a person is told once. Changes are made through the sandbox's GraphQL, as a person in the
Shopify admin would; Shopify's orderCancel is asynchronous (a Job), as the sandbox models it.
"""

from __future__ import annotations

import random
from datetime import timedelta

import dagster as dg
from click.testing import CliRunner
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo, gid

from lgl_sync.cli import main
from lgl_sync.control_plane import ledger
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.inventory import lgl_inventory_snapshot, unimported_order_units
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

ORDERS = [
    retailer_paid_orders,
    imported_lgl_orders,
    retailer_order_changes,
    one_lgl_order_per_source_order,
]
UNITS = [lgl_inventory_snapshot, unimported_order_units]
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


MARK_PAID = """
mutation($input: OrderMarkAsPaidInput!) {
  orderMarkAsPaid(input: $input) { order { id } userErrors { field message } }
}
"""
ADDRESS = {
    "firstName": "Late", "lastName": "Payer", "address1": "3 Oak St", "city": "Austin",
    "provinceCode": "TX", "zip": "73301", "countryCode": "US",
}  # fmt: skip


def _place(world, hours_ago: float, **kwargs):
    """A retailer order for one LGL SKU at the LGL location, placed ``hours_ago``."""
    store = world.sandbox.store(RETAILER)
    variant = store.variants_by_sku("LGL-0007")[0]
    return store.create_order(
        lines=[{"variant_id": variant.id, "quantity": 2}],
        created_at=store.now() - timedelta(hours=hours_ago),
        email="late@example.com",
        shipping_address=ADDRESS,
        **kwargs,
    )


def test_an_order_paid_eight_hours_after_it_was_placed_is_imported_once(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    unpaid = _place(world, 8, financial_status="PENDING")
    source = gid("Order", unpaid.id)
    assert world.materialize(ORDERS).success  # unpaid: nothing to import
    world.sandbox.clock.advance(60)
    paid = world.sandbox.raw(RETAILER, MARK_PAID, {"input": {"id": source}}).json()
    assert paid["data"]["orderMarkAsPaid"]["userErrors"] == []
    for _ in range(2):
        assert world.materialize(ORDERS).success
        assert len(lgl_orders_by_source(world.sandbox).get(source, [])) == 1


def test_an_order_routed_to_the_lgl_location_late_is_imported_once(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    world.sandbox.store(RETAILER).apply_settings({"routing_delay": 600})
    routed_late = _place(world, 7)  # placed 7 h ago; its fulfillment orders come later
    source = gid("Order", routed_late.id)
    assert world.materialize(ORDERS).success
    assert source not in lgl_orders_by_source(world.sandbox)  # nothing at LGL's location yet
    world.sandbox.clock.advance(601)  # Shopify's routing completes
    for _ in range(2):
        assert world.materialize(ORDERS).success
        assert len(lgl_orders_by_source(world.sandbox).get(source, [])) == 1


def test_a_held_order_older_than_the_lookback_is_imported_once_its_sku_arrives(world):
    seeded = seed(world.sandbox, normal=2)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success
    held = [s for s, reason in seeded.holds.items() if reason == "unknown_sku"]
    assert len(held) == 3 and not set(held) & set(lgl_orders_by_source(world.sandbox))
    retailer = world.sandbox.store(RETAILER)
    for source in held:  # hours pass: they are older than the 6 h lookback now
        retailer.orders[int(source.rsplit("/", 1)[1])].created_at -= timedelta(hours=9)
    units = dg.materialize(UNITS, instance=world.instance, resources=world.resources())
    pending = dict(
        zip(
            *[units.output_for_node("unimported_order_units")[c] for c in ("sku", "units")],
            strict=True,
        )
    )
    assert pending.get("LGL-0001", 0) >= 3  # still sold: subtracted from every retailer's stock
    env = {"LGL_DATABASE_URL": world.database_url}
    dismissed = CliRunner().invoke(main, ["orders", "dismiss", RETAILER, held[0]], env=env)
    assert dismissed.exit_code == 0, dismissed.output
    lgl = world.sandbox.store("lgl")  # the SKU arrives at LGL
    product = lgl.add_product("NEW-0001", [{"sku": "NEW-0001", "price": "5", "retailer_cost": "2"}])
    warehouse = next(loc.id for loc in lgl.locations.values() if loc.name == "LGL Warehouse")
    lgl.stock(lgl.variants[product.variant_ids[0]].inventory_item_id, warehouse, 100)
    for _ in range(2):
        assert world.materialize(ORDERS).success
        by_source = lgl_orders_by_source(world.sandbox)
        assert [len(by_source.get(s, [])) for s in held] == [0, 1, 1]


UPDATE = """
mutation($input: OrderInput!) { orderUpdate(input: $input) { order { id } userErrors { message } } }
"""


def test_an_address_changed_after_import_reaches_the_lgl_order(world):
    seeded = seed(world.sandbox, normal=3)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success
    source = sorted(seeded.expected)[0]
    moved = {**ADDRESS, "address1": "99 New Road", "city": "Denver", "provinceCode": "CO"}
    world.sandbox.clock.advance(60)
    answer = world.sandbox.raw(
        RETAILER, UPDATE, {"input": {"id": source, "shippingAddress": moved}}
    )
    assert answer.json()["data"]["orderUpdate"]["userErrors"] == []
    first = world.materialize(ORDERS)
    assert first.success and _changes(first)["address_updated"] == 1
    (order,) = lgl_orders_by_source(world.sandbox)[source]
    assert order.shipping_address["address1"] == "99 New Road"
    assert order.shipping_address["city"] == "Denver"
    again = world.materialize(ORDERS)
    assert again.success and _changes(again)["address_updated"] == 0  # applied once
