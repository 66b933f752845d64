"""Pushback at any size and through voided labels, through Dagster against the sandbox.

Contract (the pushback issue): every connection the pushback reads is read to its end, so
orders of 40, 120 and 250 LGL lines shipped whole or in parts of more than 50 lines, a shipment
with 12 tracking numbers and an order shipped in 12 shipments all reach the retailer whole; a
void cancels the retailer's fulfillment once and the reship arrives with its tracking; a lost
answer on a 120-line shipment is adopted and later tracking fixes follow; an order older than
the token may read (60 days without read_all_orders) is reported to a person, never skipped
silently, and pushed once the scope is granted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo

from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.defs.fulfillments import fulfillment_lag, lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.devkit.world import token_for
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.onboarding import check_retailer
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

PUSH = [lgl_shipments, retailer_fulfillments, fulfillment_lag]


def _materialize(world, assets):
    return world.materialize(assets, partition=RETAILER)


def _outcomes(result) -> list:
    return list(result.output_for_node("retailer_fulfillments")) if result.success else []


def _order(world, lines: int, quantity: int = 3, hours: float = 1):
    """A retailer order of ``lines`` LGL SKUs, imported into the LGL store; (source, LGL)."""
    retailer = world.sandbox.store(RETAILER)
    skus = [f"LGL-{i:04d}" for i in range(lines)]
    source = retailer.create_order(
        lines=[
            {"variant_id": retailer.variants_by_sku(s)[0].id, "quantity": quantity} for s in skus
        ],
        created_at=retailer.now() - timedelta(hours=hours),
        email="buyer@example.com",
        shipping_address=BUYER_ADDRESS,
    )
    assert _materialize(world, [retailer_paid_orders, imported_lgl_orders]).success
    lgl_order = lgl_orders_by_source(world.sandbox)[f"gid://shopify/Order/{source.id}"][0]
    return source, lgl_order


def _ship(world, lgl_order, parts: list[list[tuple[int, int]]], tracking) -> list:
    """LGL's warehouse ships the order in ``parts`` (fulfillment-order line index, quantity)."""
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    made = []
    for n, part in enumerate(parts):
        infos = [TrackingInfo(*t) for t in (tracking(n) if callable(tracking) else tracking)]
        wanted = [(fo.line_items[i].id, q) for i, q in part]
        made.append(lgl.create_fulfillment([(fo, wanted)], infos, True))
    return made


def _live(world, source) -> list:
    store = world.sandbox.store(RETAILER)
    return [
        store.fulfillments[i]
        for i in source.fulfillment_ids
        if store.fulfillments[i].status == "SUCCESS"
    ]


def _shipped_per_sku(world, source) -> dict[str, int]:
    store = world.sandbox.store(RETAILER)
    found: dict[str, int] = {}
    for fulfillment in _live(world, source):
        for line in fulfillment.line_items:
            sku = store.line_items[line.line_item_id].sku
            found[sku] = found.get(sku, 0) + line.quantity
    return found


@pytest.fixture
def big_world(world):
    seed(world.sandbox, normal=0, lgl_skus=260)
    world.add_retailer(RETAILER)
    return world


@pytest.mark.parametrize(
    ("lines", "part"),
    [
        (40, None),  # whole, in one shipment
        (120, None),
        (250, None),  # Shopify's most lines per order
        (120, 55),  # in parts of more than 50 lines
        (250, 60),
    ],
)
def test_every_line_of_a_large_order_reaches_the_retailer(big_world, lines, part):
    source, lgl_order = _order(big_world, lines)
    step = part or lines
    parts = [[(i, 3) for i in range(s, min(s + step, lines))] for s in range(0, lines, step)]
    _ship(big_world, lgl_order, parts, lambda n: [("UPS", f"1Z{lines}{n:03d}", None)])
    result = _materialize(big_world, PUSH)
    assert result.success
    assert sorted(o.status for o in _outcomes(result)) == ["pushed"] * len(parts)
    assert _shipped_per_sku(big_world, source) == {f"LGL-{i:04d}": 3 for i in range(lines)}
    assert len(_live(big_world, source)) == len(parts)


def test_a_shipment_in_twelve_boxes_arrives_with_twelve_tracking_numbers(big_world):
    source, lgl_order = _order(big_world, 4)
    boxes = [("UPS", f"1ZBOX{n:02d}", None) for n in range(12)]
    _ship(big_world, lgl_order, [[(i, 3) for i in range(4)]], boxes)
    assert _materialize(big_world, PUSH).success
    (pushed,) = _live(big_world, source)
    assert [t.number for t in pushed.tracking_info] == [b[1] for b in boxes]
    assert all(t.company == "UPS" and t.number in t.url for t in pushed.tracking_info)


def test_an_order_shipped_in_twelve_shipments_gets_twelve_fulfillments(big_world):
    source, lgl_order = _order(big_world, 12, quantity=1)
    each = [[(i, 1)] for i in range(12)]
    _ship(big_world, lgl_order, each, lambda n: [("USPS", f"94{n}", None)])
    result = _materialize(big_world, PUSH)
    assert result.success
    assert len(_live(big_world, source)) == 12
    assert _shipped_per_sku(big_world, source) == {f"LGL-{i:04d}": 1 for i in range(12)}


@pytest.mark.parametrize("reship_in_the_same_run", [True, False])
def test_a_voided_label_is_cancelled_at_the_retailer_and_the_reship_arrives(
    big_world, reship_in_the_same_run
):
    source, lgl_order = _order(big_world, 3)
    everything = [[(i, 3) for i in range(3)]]
    (first,) = _ship(big_world, lgl_order, everything, [("UPS", "1ZDEAD", None)])
    assert _materialize(big_world, PUSH).success
    big_world.sandbox.store("lgl").cancel_fulfillment(first)  # LGL voids the label
    if not reship_in_the_same_run:
        # The order has no live shipment left, so it is no longer "shipped": still seen.
        voided = _outcomes(_materialize(big_world, PUSH))
        assert [(o.status, o.reason) for o in voided] == [("voided", "lgl_fulfillment_voided")]
        assert _live(big_world, source) == []
    _ship(big_world, lgl_order, everything, [("UPS", "1ZLIVE", None)])
    outcomes = _outcomes(_materialize(big_world, PUSH))
    statuses = sorted(o.status for o in outcomes)
    wanted = ["pushed", "voided"] if reship_in_the_same_run else ["pushed", "reported_before"]
    assert statuses == wanted
    (live,) = _live(big_world, source)
    assert [t.number for t in live.tracking_info] == ["1ZLIVE"]
    # The void is reported once: the next run has nothing new to say.
    again = sorted(o.status for o in _outcomes(_materialize(big_world, PUSH)))
    assert again == ["already_pushed", "reported_before"]


def test_a_lost_answer_on_a_long_shipment_is_adopted_and_tracking_fixes_follow(big_world):
    source, lgl_order = _order(big_world, 120, quantity=1)
    whole = [[(i, 1) for i in range(120)]]
    (shipment,) = _ship(big_world, lgl_order, whole, [("FedEx", "77", None)])
    lost = FaultRule("apply_then_fail", operation="fulfillmentCreate", count=1)
    big_world.sandbox.engine.set_faults(RETAILER, [lost])
    result = _materialize(big_world, PUSH)
    assert result.success
    assert [o.status for o in _outcomes(result)] == ["pushed"]
    (pushed,) = _live(big_world, source)  # the one the lost answer made, adopted
    assert len(pushed.line_items) == 120
    shipment.tracking_info = [TrackingInfo("FedEx", "78", None)]  # LGL fixes the number
    big_world.sandbox.store("lgl").touch(lgl_order)
    fixed = _outcomes(_materialize(big_world, PUSH))
    assert [o.status for o in fixed] == ["tracking_updated"]
    (still,) = _live(big_world, source)
    assert still.id == pushed.id and [t.number for t in still.tracking_info] == ["78"]


def test_an_order_older_than_the_token_may_read_is_reported_then_pushed_with_the_scope(
    big_world, monkeypatch
):
    source, lgl_order = _order(big_world, 2, hours=1)
    retailer_store = big_world.sandbox.store(RETAILER)
    source.created_at = retailer_store.now() - timedelta(days=70)  # a 70-day backorder
    retailer_store.scopes.remove("read_all_orders")
    _ship(big_world, lgl_order, [[(0, 3), (1, 3)]], [("UPS", "1ZOLD", None)])

    store = ShopifyClient(domain=big_world.sandbox.domain(RETAILER), token=token_for(RETAILER))
    lgl = ShopifyClient(domain=big_world.sandbox.domain("lgl"), token=token_for("lgl"))
    report = check_retailer(get_retailer(big_world.engine, RETAILER), store, lgl)
    assert any("read_all_orders" in w and "retailer's" in w for w in report.warnings)
    # The LGL order is as old, so the LGL store's token needs the scope too.
    big_world.sandbox.store("lgl").scopes.remove("read_all_orders")
    report = check_retailer(get_retailer(big_world.engine, RETAILER), store, lgl)
    assert any("read_all_orders" in w and "LGL store's" in w for w in report.warnings)
    big_world.sandbox.store("lgl").scopes.append("read_all_orders")

    failed = _materialize(big_world, PUSH)
    assert not failed.success  # told, through the failed run and its alert; not skipped
    assert _live(big_world, source) == []
    retailer_store.scopes.append("read_all_orders")
    pushed = _outcomes(_materialize(big_world, PUSH))
    assert [o.status for o in pushed] == ["pushed"]
    assert _shipped_per_sku(big_world, source) == {"LGL-0000": 3, "LGL-0001": 3}
