"""Returns (issue 27) through Dagster against the sandbox.

Contract: a return the retailer opens for lines LGL shipped appears once on the LGL order as a
return (an expected receipt), whatever faults and reruns happen; LGL's stock does not move until
the warehouse restocks the return, and then by the returned units exactly once; the retailer is
told once; a return of goods the retailer shipped itself is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo
from shopify_sandbox.returns import create_return, dispose

from lgl_sync.control_plane.tables import email_notifications
from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments, retailer_returns
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync_tests.orders_world import RETAILER, lgl_orders_by_source, seed

PUSH = [lgl_shipments, retailer_fulfillments, retailer_returns]


def _run(world, assets) -> dict:
    result = world.materialize(assets)
    assert result.success
    found = result.asset_materializations_for_node("retailer_returns")
    return {k: v.value for k, v in found[0].metadata.items()} if found else {}


def _shipped_world(world):
    """Two imported orders, each shipped whole by LGL and pushed to the retailer."""
    seeded = seed(world.sandbox, normal=6, lgl_skus=40)
    world.add_retailer(RETAILER)
    _run(world, [retailer_paid_orders, imported_lgl_orders])
    by_source = lgl_orders_by_source(world.sandbox)
    lgl = world.sandbox.store("lgl")
    sources = list(seeded.expected)[:2]
    for n, source in enumerate(sources):
        lgl_order = by_source[source][0]
        fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
        lgl.create_fulfillment([(fo, None)], [TrackingInfo("UPS", f"1ZRET{n}", None)], True)
    _run(world, PUSH)
    return seeded, sources, by_source


def _retailer_return(world, source_gid: str, units: int = 1):
    """The customer sends ``units`` of the first line LGL shipped back: the retailer opens a
    return on the fulfillment LGL Sync pushed."""
    store = world.sandbox.store(RETAILER)
    order = store.orders[int(source_gid.rsplit("/", 1)[1])]
    pushed = next(
        store.fulfillments[i]
        for i in order.fulfillment_ids
        if store.fulfillments[i].tracking_info and store.fulfillments[i].status == "SUCCESS"
    )
    line = pushed.line_items[0]
    wanted = [{"fulfillment_line_item_id": line.id, "quantity": units, "reason": "DEFECTIVE"}]
    return create_return(store, order, wanted), store.line_items[line.line_item_id].sku


def _lgl_returns(world, lgl_order) -> list:
    lgl = world.sandbox.store("lgl")
    return [r for r in lgl.returns.values() if r.order_id == lgl_order.id]


def _available(world, sku: str) -> int:
    lgl = world.sandbox.store("lgl")
    variant = next(v for v in lgl.variants.values() if v.sku == sku)
    item = lgl.inventory_items[variant.inventory_item_id]
    return sum(level.quantities["available"] for level in item.levels.values())


def _told(world) -> list[str]:
    with world.engine.connect() as c:
        return list(
            c.execute(
                sa.select(email_notifications.c.recipients).where(
                    email_notifications.c.notification_type == "returns"
                )
            ).scalars()
        )


def test_a_return_becomes_one_expected_receipt_and_restocks_lgl_once_when_received(any_world):
    world = any_world
    _, (first, second), by_source = _shipped_world(world)
    lgl_order = by_source[first][0]
    _, sku = _retailer_return(world, first, units=1)
    before = _available(world, sku)

    numbers = _run(world, PUSH)
    assert numbers["mirrored"] == 1
    (expected,) = _lgl_returns(world, lgl_order)
    assert expected.status == "OPEN" and [li.quantity for li in expected.line_items] == [1]
    assert _available(world, sku) == before  # nothing back in stock before the goods arrive
    assert _run(world, PUSH)["mirrored"] == 0 and len(_lgl_returns(world, lgl_order)) == 1

    # The answer to the next return's create is lost: found on the LGL order, not made twice.
    world.sandbox.engine.set_faults(
        "lgl", [FaultRule("apply_then_fail", operation="returnCreate", count=1)], seed=1
    )
    _retailer_return(world, second, units=1)
    assert _run(world, PUSH)["mirrored"] == 1
    world.sandbox.engine.set_faults("lgl", [], seed=1)
    assert len(_lgl_returns(world, by_source[second][0])) == 1

    # The warehouse receives the goods and restocks them at its location in Shopify.
    lgl = world.sandbox.store("lgl")
    warehouse = next(iter(lgl.locations))
    rfo = lgl.reverse_fulfillment_orders[expected.reverse_fulfillment_order_ids[0]]
    line = rfo.line_items[0]
    dispose(
        lgl, [{"line_id": line.id, "quantity": 1, "type": "RESTOCKED", "location_id": warehouse}]
    )
    assert _available(world, sku) == before + 1
    assert _run(world, PUSH)["received"] == 1
    assert _run(world, PUSH)["received"] == 0  # told once
    assert _available(world, sku) == before + 1  # raised by the returned units exactly once
    (recipients,) = _told(world)
    assert f"billing@{RETAILER}.example" in recipients
    # Reruns after the lost answer never made a second LGL return.
    assert [len(_lgl_returns(world, by_source[s][0])) for s in (first, second)] == [1, 1]


def test_a_return_of_goods_the_retailer_shipped_itself_is_left_alone(world):
    seeded = seed(world.sandbox, normal=3, lgl_skus=40)
    world.add_retailer(RETAILER)
    _run(world, [retailer_paid_orders, imported_lgl_orders])
    store = world.sandbox.store(RETAILER)
    # The seed's partly shipped orders: the retailer fulfilled one unit before LGL imported it.
    own = next(
        o
        for o in store.orders.values()
        if o.fulfillment_ids and "imported-to-LGL" in o.tags and not o.cancelled_at
    )
    line = store.fulfillments[own.fulfillment_ids[0]].line_items[0]
    create_return(store, own, [{"fulfillment_line_item_id": line.id, "quantity": 1}])
    numbers = _run(world, PUSH)
    assert numbers["not_shipped_by_lgl"] == 1 and numbers["mirrored"] == 0
    assert not world.sandbox.store("lgl").returns
    assert seeded.expected  # the other orders imported as usual


def test_a_token_without_read_returns_still_pushes_and_tells_a_person_once(world):
    seed(world.sandbox, normal=3, lgl_skus=40)
    store = world.sandbox.store(RETAILER)
    store.scopes = [s for s in store.scopes if s != "write_returns"]  # a token from before
    world.add_retailer(RETAILER)
    _run(world, [retailer_paid_orders, imported_lgl_orders])
    lgl = world.sandbox.store("lgl")
    lgl_order = next(iter(lgl.orders.values()))
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    lgl.create_fulfillment([(fo, None)], [TrackingInfo("UPS", "1ZSCOPE", None)], True)
    statuses = []
    for _ in range(2):
        result = world.materialize(PUSH)
        assert result.success
        statuses.append([o.status for o in result.output_for_node("retailer_fulfillments")])
    assert statuses[0] == ["pushed"]  # the shipment goes out as before
    (skipped,) = result.asset_materializations_for_node("retailer_returns")
    assert "read_returns" in skipped.metadata["skipped"].value
    with world.engine.connect() as c:
        subjects = (
            c.execute(
                sa.select(email_notifications.c.subject).where(
                    email_notifications.c.notification_type == "returns"
                )
            )
            .scalars()
            .all()
        )
    assert len(subjects) == 1 and "read_returns" in subjects[0]
