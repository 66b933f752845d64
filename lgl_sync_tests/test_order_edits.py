"""Orders change after import: edits, refunds, holds and moves at the retailer reach the LGL order.

Contract (the order lifecycle issue): within one cycle the LGL order's lines match the retailer's
LGL lines (quantity up, line added, line removed, line refunded), each change applied once even
when the commit's answer is lost or the run is killed; units LGL already shipped are never taken
off (a person is told once); a retailer's hold holds the LGL order until released; an order
moved away from the LGL location is cancelled at LGL; a cancellation of an order open longer
than the pick window emails the warehouse at once; held orders are reminded at each step; an
index lag longer than the watermark's overlap still ends in an import at the next sweep.
Every change is made through the sandbox's GraphQL, as a person in the Shopify admin would.
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import TrackingInfo, gid

from lgl_sync.control_plane import ledger
from lgl_sync.control_plane.retailers import get_retailer
from lgl_sync.control_plane.tables import email_notifications, order_links, order_watermarks
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.devkit.audit import audit
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.world import token_for
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.lifecycle.rules import RETAILER_HOLD_HANDLE
from lgl_sync.sync.onboarding import check_retailer
from lgl_sync_tests.killable_run import arguments
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

ORDERS = [
    retailer_paid_orders,
    imported_lgl_orders,
    retailer_order_changes,
    one_lgl_order_per_source_order,
]
BEGIN = """
mutation($id: ID!) {
  orderEditBegin(id: $id) {
    calculatedOrder { id lineItems(first: 50) { nodes { id sku quantity } } }
    userErrors { field message }
  }
}
"""
SET = """
mutation($id: ID!, $line: ID!, $q: Int!) {
  orderEditSetQuantity(id: $id, lineItemId: $line, quantity: $q, restock: true) {
    userErrors { field message }
  }
}
"""
ADD = """
mutation($id: ID!, $variant: ID!, $q: Int!) {
  orderEditAddVariant(id: $id, variantId: $variant, quantity: $q) { userErrors { field message } }
}
"""
COMMIT = """
mutation($id: ID!) {
  orderEditCommit(id: $id, notifyCustomer: true) { order { id } userErrors { field message } }
}
"""
REFUND = """
mutation($input: RefundInput!) {
  refundCreate(input: $input) @idempotent(key: "refund-1") {
    refund { id } userErrors { field message }
  }
}
"""
HOLD = """
mutation($id: ID!, $handle: String) {
  fulfillmentOrderHold(id: $id, fulfillmentHold: {reason: OTHER, handle: $handle}) {
    userErrors { field message }
  }
}
"""
RELEASE = """
mutation($id: ID!) {
  fulfillmentOrderReleaseHold(id: $id) { userErrors { field message } }
}
"""
MOVE = """
mutation($id: ID!, $to: ID!) {
  fulfillmentOrderMove(id: $id, newLocationId: $to) { userErrors { field message } }
}
"""
TAG = """
mutation($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { userErrors { field message } }
}
"""
CANCEL = """
mutation($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true) {
    job { id } orderCancelUserErrors { message }
  }
}
"""


def _gql(world, query: str, variables: dict, store: str = RETAILER) -> dict:
    body = world.sandbox.raw(store, query, variables).json()
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert not payload.get("userErrors") and not payload.get("orderCancelUserErrors"), payload
    return payload


def _edit_at_retailer(world, order, *, quantities: dict[str, int], add: dict[str, int]) -> None:
    """The retailer's staff edit the order: {sku: new quantity} on its lines, {sku: units}
    added as new lines; one commit, as in the Shopify admin."""
    store = world.sandbox.store(RETAILER)
    begun = _gql(world, BEGIN, {"id": gid("Order", order.id)})["calculatedOrder"]
    for line in begun["lineItems"]["nodes"]:
        if line["sku"] in quantities:
            _gql(world, SET, {"id": begun["id"], "line": line["id"], "q": quantities[line["sku"]]})
    for sku, units in add.items():
        variant = gid("ProductVariant", store.variants_by_sku(sku)[0].id)
        _gql(world, ADD, {"id": begun["id"], "variant": variant, "q": units})
    _gql(world, COMMIT, {"id": begun["id"]})


def _refund_at_retailer(world, order, sku: str, units: int) -> None:
    line = next(li for li in order.line_items if li.sku == sku)
    refund = {
        "orderId": gid("Order", order.id),
        "refundLineItems": [
            {"lineItemId": gid("LineItem", line.id), "quantity": units, "restockType": "CANCEL"}
        ],
    }
    _gql(world, REFUND, {"input": refund})


def _lgl_units(world, source_id: str) -> dict[str, int]:
    (order,) = lgl_orders_by_source(world.sandbox)[source_id]
    units: dict[str, int] = {}
    for line in order.line_items:
        if line.current_quantity:
            units[line.sku] = units.get(line.sku, 0) + line.current_quantity
    return units


def _committed_edits(world, source_id: str) -> int:
    (order,) = lgl_orders_by_source(world.sandbox)[source_id]
    return sum(
        1
        for e in world.sandbox.store("lgl").edits.values()
        if e.order_id == order.id and e.committed
    )


def _imported_order(world, lines: dict[str, int]):
    """A retailer order with these {sku: units} at the LGL location, imported into LGL."""
    store = world.sandbox.store(RETAILER)
    order = store.create_order(
        lines=[
            {"variant_id": store.variants_by_sku(sku)[0].id, "quantity": units}
            for sku, units in lines.items()
        ],
        email="edit@example.com",
        shipping_address=BUYER_ADDRESS,
    )
    assert world.materialize(ORDERS).success
    source_id = gid("Order", order.id)
    assert _lgl_units(world, source_id) == lines
    return order, source_id


def _changes(result) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == retailer_order_changes.key
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


FAULTS = ["none", "lost_commit_answer", "killed_after_commit", "killed_before_commit"]
WANTED = {"LGL-0001": 3, "LGL-0004": 2, "LGL-0003": 1}


def _edit_everything(world, order) -> None:
    """Quantity up (0001: 2 -> 4, then 1 refunded = 3), a line added (0004 x 2), a line
    removed (0002), and a line partly refunded (0003: 2 -> 1)."""
    _edit_at_retailer(world, order, quantities={"LGL-0001": 4, "LGL-0002": 0}, add={"LGL-0004": 2})
    _refund_at_retailer(world, order, "LGL-0001", 1)
    _refund_at_retailer_again(world, order, "LGL-0003", 1)


def _refund_at_retailer_again(world, order, sku: str, units: int) -> None:
    line = next(li for li in order.line_items if li.sku == sku)
    refund = {
        "orderId": gid("Order", order.id),
        "refundLineItems": [
            {"lineItemId": gid("LineItem", line.id), "quantity": units, "restockType": "NO_RESTOCK"}
        ],
    }
    _gql(world, REFUND.replace("refund-1", "refund-2"), {"input": refund})


def _faulty_run(world, fault: str) -> None:
    if fault == "lost_commit_answer":
        lost = FaultRule("apply_then_fail", operation="orderEditCommit", count=1)
        world.sandbox.engine.set_faults("lgl", [lost])
        world.materialize(ORDERS)
        return
    kill = {"after": "OrderEditCommit", "count": 1}
    if fault == "killed_before_commit":
        kill = {"after": "OrderEditBegin", "count": 1, "before": "OrderEditCommit"}
    killed = subprocess.run(
        [sys.executable, "-m", "lgl_sync_tests.killable_run", arguments(world, "changes", kill)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]


@pytest.mark.parametrize("fault", FAULTS)
def test_edits_and_refunds_at_the_retailer_reach_the_lgl_order_once(world, fault):
    seeded = seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0001": 2, "LGL-0002": 1, "LGL-0003": 2})
    _edit_everything(world, order)
    if fault != "none":
        _faulty_run(world, fault)
    result = world.materialize(ORDERS)
    assert result.success
    assert _lgl_units(world, source_id) == WANTED
    assert _committed_edits(world, source_id) == 1  # applied once, whatever was lost or killed
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    added = next(li for li in lgl_order.line_items if li.sku == "LGL-0004")
    assert abs(added.price - seeded.costs["LGL-0004"]) <= 0.01  # the retailer's cost, not 50
    again = world.materialize(ORDERS)
    assert again.success and _changes(again)["edited"] == 0
    assert _committed_edits(world, source_id) == 1
    link = ledger.order_links_of(world.engine, RETAILER, [source_id])[source_id]
    assert link.status in (ledger.LinkStatus.CREATED, ledger.LinkStatus.TAGGED)


def test_an_edit_below_what_lgl_shipped_takes_off_the_rest_and_tells_a_person_once(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0001": 3, "LGL-0002": 1})
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    line = next(fl for fl in fo.line_items if lgl.line_items[fl.line_item_id].sku == "LGL-0001")
    lgl.create_fulfillment([(fo, [(line.id, 2)])], [TrackingInfo("UPS", "1ZSHIP2", None)], True)
    # Not pushed back yet: the retailer still sees 3 to ship and cuts the line to 1.
    _edit_at_retailer(world, order, quantities={"LGL-0001": 1}, add={})
    result = world.materialize(ORDERS)
    assert result.success
    changes = _changes(result)
    assert changes["edit_for_person"] == 1 and "1 x LGL-0001" in changes["changes"]
    assert _lgl_units(world, source_id) == {"LGL-0001": 2, "LGL-0002": 1}  # shipped stays
    again = world.materialize(ORDERS)
    assert again.success and _changes(again)["edit_for_person"] == 0  # told once


def test_a_hold_at_the_retailer_holds_the_lgl_order_until_released(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0005": 2})
    retailer_fo = gid("FulfillmentOrder", order.fulfillment_order_ids[0])
    _gql(world, HOLD, {"id": retailer_fo, "handle": "fraud-check"})
    result = world.materialize(ORDERS)
    assert result.success and _changes(result)["held_at_retailer"] == 1
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    lgl = world.sandbox.store("lgl")
    lgl_fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    assert lgl_fo.status == "ON_HOLD"
    assert [h[0] for h in lgl_fo.holds] == [RETAILER_HOLD_HANDLE]
    ship_some(world.sandbox.store("lgl"), random.Random(1), share=1.0)
    assert not lgl_order.fulfillment_ids  # the warehouse helper ships nothing held
    # A person at LGL holds it too; the retailer's release must not lift the person's hold.
    _gql(world, HOLD, {"id": gid("FulfillmentOrder", lgl_fo.id), "handle": "qa"}, store="lgl")
    _gql(world, RELEASE, {"id": retailer_fo})
    result = world.materialize(ORDERS)
    assert result.success and _changes(result)["released_at_retailer"] == 1
    assert [h[0] for h in lgl_fo.holds] == ["qa"] and lgl_fo.status == "ON_HOLD"
    _gql(world, RELEASE, {"id": gid("FulfillmentOrder", lgl_fo.id)}, store="lgl")
    assert lgl_fo.status == "OPEN"


def _lgl_spent(lgl, before: dict) -> dict:
    return {k: n - before.get(k, 0) for k, n in lgl.usage.by_operation.items()}


def test_a_retailer_order_changed_only_by_its_tag_costs_lgl_nothing_unless_lgl_sync_may_hold_it(
    world,
):
    """The import's own tag changes the retailer order, so the changes flow sees it again. An
    order LGL Sync never held costs the LGL store nothing (the ledger knows); one whose hold is
    not known (a ledger rebuilt, or a row from before) is looked at for a hold once
    (LglOrderHolds, a fifth of a whole read), then known; a hold a person put on it at LGL is
    not LGL Sync's and is kept."""
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0005": 2})
    lgl = world.sandbox.store("lgl")
    assert ledger.order_link(world.engine, RETAILER, source_id).lgl_hold is False
    # The import recorded the lines it made the LGL order from: its own run's changes read
    # (the tag) read nothing whole either.
    assert lgl.usage.by_operation.get("LglOrderStates", 0) == 0
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    lgl_fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    _gql(world, HOLD, {"id": gid("FulfillmentOrder", lgl_fo.id), "handle": "qa"}, store="lgl")
    _gql(world, TAG, {"id": gid("Order", order.id), "tags": ["vip"]})
    world.sandbox.clock.advance(2)
    before = dict(lgl.usage.by_operation)
    result = world.materialize(ORDERS)
    assert result.success and _changes(result)["released_at_retailer"] == 0
    spent = _lgl_spent(lgl, before)
    assert spent.get("LglOrderHolds", 0) == 0 and spent.get("LglOrderStates", 0) == 0

    with world.engine.begin() as connection:  # as after `ledger rebuild`: not known
        connection.execute(sa.update(order_links).values(lgl_hold=None))
    for n, (probes, whole) in enumerate(((1, 1), (0, 0))):  # once (a person's hold: whole)
        _gql(world, TAG, {"id": gid("Order", order.id), "tags": [f"note-{n}"]})
        world.sandbox.clock.advance(2)
        before = dict(lgl.usage.by_operation)
        result = world.materialize(ORDERS)
        assert result.success and _changes(result)["released_at_retailer"] == 0
        spent = _lgl_spent(lgl, before)
        assert (spent.get("LglOrderHolds", 0), spent.get("LglOrderStates", 0)) == (probes, whole)
        assert ledger.order_link(world.engine, RETAILER, source_id).lgl_hold is False
    assert [h[0] for h in lgl_fo.holds] == ["qa"] and lgl_fo.status == "ON_HOLD"


def test_an_order_moved_away_from_the_lgl_location_is_cancelled_at_lgl(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0006": 1})
    store = world.sandbox.store(RETAILER)
    main = next(loc for loc in store.locations.values() if loc.name == "Main Store")
    retailer_fo = gid("FulfillmentOrder", order.fulfillment_order_ids[0])
    _gql(world, MOVE, {"id": retailer_fo, "to": gid("Location", main.id)})
    result = world.materialize(ORDERS)
    world.sandbox.clock.advance(5)  # orderCancel's job runs
    assert world.materialize(ORDERS).success
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    assert lgl_order.cancelled_at is not None, _changes(result)["changes"]
    ship_some(world.sandbox.store("lgl"), random.Random(1), share=1.0)
    assert not lgl_order.fulfillment_ids


def _sent(world, kind: str) -> list:
    with world.engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(email_notifications).where(
                    email_notifications.c.notification_type == kind
                )
            )
        )


@pytest.mark.parametrize("window", ["0", "600"])
def test_a_cancellation_after_the_pick_window_emails_the_warehouse_at_once(
    world, monkeypatch, window
):
    monkeypatch.setenv("LGL_PICK_WINDOW_MINUTES", window)
    monkeypatch.setenv("LGL_WAREHOUSE_EMAIL", "floor@lgl.example")
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0007": 1})
    _gql(world, CANCEL, {"id": gid("Order", order.id)})
    world.sandbox.clock.advance(5)
    assert world.materialize(ORDERS).success
    world.sandbox.clock.advance(5)
    assert world.materialize(ORDERS).success
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    sent = _sent(world, "warehouse")
    if window == "600":
        assert sent == []  # cancelled well before anyone could pick it
        return
    (email,) = sent  # once, though two runs saw the cancellation
    assert email.recipients == "floor@lgl.example"
    assert lgl_order.name in email.subject


def test_held_orders_are_reminded_once_at_each_step(world, monkeypatch):
    monkeypatch.setenv("LGL_HELD_REMINDER_HOURS", "1,4,24,72")
    seeded = seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success
    held = [s for s, reason in seeded.holds.items() if reason == "unknown_sku"]
    assert held and _sent(world, "held") == []  # just held: nobody reminded yet

    def held_for(hours: float) -> None:
        since = datetime.now(UTC) - timedelta(hours=hours)
        with world.engine.begin() as connection:
            connection.execute(
                sa.update(order_links)
                .where(order_links.c.source_order_id.in_(held))
                .values(created_at=since)
            )

    held_for(30)  # steps 1, 4 and 24 passed while nothing ran: one reminder, at 24 h
    assert world.materialize(ORDERS).success
    assert world.materialize(ORDERS).success
    (first,) = _sent(world, "held")
    assert "24 h" in first.subject
    held_for(80)
    assert world.materialize(ORDERS).success
    assert world.materialize(ORDERS).success
    assert [s.subject for s in _sent(world, "held")][1:] == [first.subject.replace("24 h", "72 h")]


def test_an_index_lag_longer_than_the_overlap_ends_in_an_import_at_the_next_sweep(
    world, monkeypatch
):
    monkeypatch.setenv("LGL_WATERMARK_OVERLAP_MINUTES", "0")
    monkeypatch.setenv("LGL_SWEEP_MINUTES", "60")
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    assert world.materialize(ORDERS).success  # the first run: mark and sweep set
    store = world.sandbox.store(RETAILER)
    variant = store.variants_by_sku("LGL-0008")[0]
    late = store.create_order(
        lines=[{"variant_id": variant.id, "quantity": 1}],
        financial_status="PENDING",
        shipping_address=BUYER_ADDRESS,
    )
    store.search_lag = 3600.0  # the index shows the payment an hour late
    _gql(world, MARK_PAID, {"input": {"id": gid("Order", late.id)}})
    late.updated_at -= timedelta(minutes=2)  # paid two minutes before the next run starts
    assert world.materialize(ORDERS).success  # the watermark moves past it unseen
    store.search_lag = 0.0
    assert world.materialize(ORDERS).success
    assert gid("Order", late.id) not in lgl_orders_by_source(world.sandbox)  # overlap 0: missed
    with world.engine.begin() as connection:  # the sweep period passes
        connection.execute(
            sa.update(order_watermarks).values(swept_at=datetime.now(UTC) - timedelta(minutes=61))
        )
    assert world.materialize(ORDERS).success
    assert len(lgl_orders_by_source(world.sandbox)[gid("Order", late.id)]) == 1


MARK_PAID = """
mutation($input: OrderMarkAsPaidInput!) {
  orderMarkAsPaid(input: $input) { userErrors { field message } }
}
"""


def test_validate_names_write_order_edits_when_the_lgl_token_lacks_it(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    store = ShopifyClient(domain=world.sandbox.domain(RETAILER), token=token_for(RETAILER))
    lgl = ShopifyClient(domain=world.sandbox.domain("lgl"), token=token_for("lgl"))
    retailer = get_retailer(world.engine, RETAILER)
    assert check_retailer(retailer, store, lgl).ok
    world.sandbox.store("lgl").scopes.remove("write_order_edits")
    report = check_retailer(retailer, store, lgl)
    assert not report.ok
    assert any("write_order_edits" in p and "LGL store" in p for p in report.problems)
    # Without it Shopify refuses the edit itself; the sandbox does too.
    answer = world.sandbox.raw("lgl", BEGIN, {"id": "gid://shopify/Order/1"}).json()
    assert answer["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


def test_a_line_added_with_a_sku_lgl_lacks_is_told_and_the_rest_applied(world):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0009": 1})
    _edit_at_retailer(world, order, quantities={"LGL-0009": 2}, add={"NEW-0001": 1})
    result = world.materialize(ORDERS)
    assert result.success
    changes = _changes(result)
    assert changes["edit_for_person"] == 1 and "NEW-0001" in changes["changes"]
    assert _lgl_units(world, source_id) == {"LGL-0009": 2}
    again = world.materialize(ORDERS)
    assert again.success and _changes(again)["edit_for_person"] == 0  # told once


def test_a_shipment_beyond_what_the_retailer_cut_the_order_to_is_reported_not_lost(world):
    """LGL shipped 2 of 3 units; before the push, the retailer refunds 2. Shopify takes no more
    than the order still holds, so the pushback reports the shipment (a person decides) and
    the audit counts it apart: shipped beyond a cut order, not missing."""
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    order, source_id = _imported_order(world, {"LGL-0011": 3})
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[source_id]
    lgl = world.sandbox.store("lgl")
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    lgl.create_fulfillment(
        [(fo, [(fo.line_items[0].id, 2)])], [TrackingInfo("UPS", "1ZCUT2", None)], True
    )
    _refund_at_retailer(world, order, "LGL-0011", 2)
    changes = _changes(world.materialize(ORDERS))
    assert changes["edit_for_person"] == 1 and changes["edited"] == 0
    pushed = world.materialize([lgl_shipments, retailer_fulfillments])
    outcomes = pushed.output_for_node("retailer_fulfillments")
    assert [(o.status, o.reason) for o in outcomes] == [("skipped", "quantity_exceeds_remaining")]
    seen = audit(world.sandbox.engine)[RETAILER]
    assert seen.missing == [] and len(seen.beyond_order) == 1


def test_units_the_retailer_fulfilled_before_import_are_never_added_to_the_lgl_order(world):
    """The retailer shipped one unit itself from the LGL location before LGL imported the order:
    LGL is asked for the rest only, in every later run and after a later edit too."""
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    store = world.sandbox.store(RETAILER)
    order = store.create_order(
        lines=[
            {"variant_id": store.variants_by_sku(sku)[0].id, "quantity": units}
            for sku, units in {"LGL-0001": 3, "LGL-0002": 2}.items()
        ],
        email="partly@example.com",
        shipping_address=BUYER_ADDRESS,
    )
    fo = store.fulfillment_orders[order.fulfillment_order_ids[0]]
    first = next(li for li in fo.line_items if store.line_items[li.line_item_id].sku == "LGL-0001")
    store.create_fulfillment([(fo, [(first.id, 1)])], [], False)
    source_id = gid("Order", order.id)
    assert world.materialize(ORDERS).success
    assert _lgl_units(world, source_id) == {"LGL-0001": 2, "LGL-0002": 2}
    again = world.materialize(ORDERS)
    assert again.success and _changes(again)["edited"] == 0
    assert _lgl_units(world, source_id) == {"LGL-0001": 2, "LGL-0002": 2}
    assert _committed_edits(world, source_id) == 0
    # A later edit at the retailer: one more LGL-0002. LGL ships 2 + 3, never the fourth unit.
    _edit_at_retailer(world, order, quantities={"LGL-0002": 3}, add={})
    assert world.materialize(ORDERS).success
    assert _lgl_units(world, source_id) == {"LGL-0001": 2, "LGL-0002": 3}


def test_the_lgl_stores_currency_and_custom_id_definition_are_read_once_a_day(world):
    """Each import run used to read the LGL store's currency and its custom-ID definition; both
    are remembered (store_facts) for a day. A definition deleted at LGL since is noticed by the
    refused create: the order is held for the run, the definition made again by the next."""
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    lgl = world.sandbox.store("lgl")
    _imported_order(world, {"LGL-0001": 1})
    before = dict(lgl.usage.by_operation)
    _imported_order(world, {"LGL-0002": 1})
    spent = _lgl_spent(lgl, before)
    assert spent.get("OrderCreate") == 1
    assert spent.get("Shop", 0) == 0 and spent.get("CustomIdDefinitions", 0) == 0

    del lgl.metafield_definitions[("ORDER", "lgl_sync", "source_order")]
    store = world.sandbox.store(RETAILER)
    order = store.create_order(
        lines=[{"variant_id": store.variants_by_sku("LGL-0003")[0].id, "quantity": 1}],
        email="edit@example.com",
        shipping_address=BUYER_ADDRESS,
    )
    world.materialize(ORDERS)  # refused: no definition
    assert gid("Order", order.id) not in lgl_orders_by_source(world.sandbox)
    assert world.materialize(ORDERS).success
    assert ("ORDER", "lgl_sync", "source_order") in lgl.metafield_definitions
    assert len(lgl_orders_by_source(world.sandbox)[gid("Order", order.id)]) == 1
