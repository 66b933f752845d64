"""A retailer whose LGL location is LGL's own fulfillment service, through Dagster against the
sandbox.

Contract (the Shopify access issue, location models; FACTS.md §7): at a fulfillment-service
location LGL ships only what the retailer's store asks of it. A requested order is imported
once whatever its financial status, its request accepted only after the LGL order exists, and
shipped and fulfilled back; an unrequested one is not imported, and a paid one waiting longer
than LGL_UNSUBMITTED_HOURS is reported. An unknown SKU rejects the request with a reason. A
request to cancel is accepted while LGL has shipped nothing (the LGL order is cancelled) and
rejected, saying what shipped, after. `validate` tells the two location models apart and checks
the scope each needs. Shopify's rules: https://shopify.dev/docs/apps/build/orders-fulfillment/
fulfillment-service-apps/build-for-fulfillment-services.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from shopify_sandbox import actions, services
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.models import gid

from lgl_sync.control_plane.tables import email_notifications
from lgl_sync.defs.fulfillments import fulfillment_lag, lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.devkit.warehouse import ship_some
from lgl_sync.devkit.world import RETAILER_LGL_LOCATION, SERVICE_SCOPES, token_for
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.scopes import flow_missing
from lgl_sync.sync.onboarding import check_retailer, ensure_fulfillment_service
from lgl_sync_tests.orders_world import BUYER_ADDRESS, RETAILER, lgl_orders_by_source, seed

ORDERS = [retailer_paid_orders, imported_lgl_orders, retailer_order_changes]
PUSH = [lgl_shipments, retailer_fulfillments, fulfillment_lag]


def _service_world(world, *, cancel: str = "request"):
    """LGL + one retailer whose LGL location is LGL's fulfillment service."""
    seed(world.sandbox, normal=3)
    store = world.sandbox.store(RETAILER)
    location = next(x for x in store.locations.values() if x.name == RETAILER_LGL_LOCATION)
    services.attach_service(store, location, "LGL Sync")
    store.scopes = list(SERVICE_SCOPES)
    store.service_cancel = cancel
    world.add_retailer(RETAILER, location_model="fulfillment_service")
    return store


def _order(store, skus: dict[str, int], **attributes):
    return store.create_order(
        lines=[
            {"variant_id": store.variants_by_sku(s)[0].id, "quantity": q} for s, q in skus.items()
        ],
        shipping_address=BUYER_ADDRESS,
        **attributes,
    )


def _service_fos(store, order) -> list:
    return [
        store.fulfillment_orders[i]
        for i in order.fulfillment_order_ids
        if store.is_service(store.fulfillment_orders[i])
    ]


def _metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{asset} not materialized")


def test_requested_orders_are_accepted_imported_once_shipped_and_fulfilled_back(world):
    store = _service_world(world)
    paid = _order(store, {"LGL-0001": 2, "LGL-0002": 1})
    pending = _order(store, {"LGL-0003": 1}, financial_status="PENDING")
    unrequested = _order(store, {"LGL-0004": 1})
    actions.request_fulfillment(store, paid)
    actions.request_fulfillment(store, pending)
    result = world.materialize(ORDERS)
    assert result.success
    imported = lgl_orders_by_source(world.sandbox)
    assert set(imported) == {gid("Order", paid.id), gid("Order", pending.id)}
    meta = _metadata(result, "imported_lgl_orders")
    assert meta["requests_accepted"] == 2
    assert "PENDING" in meta["orders"]  # the financial status is shown...
    (unpaid,) = imported[gid("Order", pending.id)]
    shown = dict(unpaid.custom_attributes)
    assert shown["retailer_financial_status"] == "PENDING"  # ...and the warehouse sees it
    (lgl_paid,) = imported[gid("Order", paid.id)]
    assert "retailer_financial_status" not in dict(lgl_paid.custom_attributes)
    for order in (paid, pending):  # accepted once the LGL order existed
        (fo,) = _service_fos(store, order)
        assert (fo.request_status, fo.status) == ("ACCEPTED", "IN_PROGRESS")
    assert _service_fos(store, unrequested)[0].request_status == "UNSUBMITTED"
    assert world.materialize(ORDERS).success  # a second cycle imports nothing again
    assert {k: len(v) for k, v in lgl_orders_by_source(world.sandbox).items()} == {
        gid("Order", paid.id): 1,
        gid("Order", pending.id): 1,
    }
    assert ship_some(world.sandbox.store("lgl"), random.Random(3), share=1.0, partial=0) == 2
    assert world.materialize(PUSH).success
    for order in (paid, pending):
        (fo,) = _service_fos(store, order)
        assert fo.status == "CLOSED" and fo.fulfillment_ids  # fulfilled back at the retailer
    assert store.fulfillment_status(paid) == "FULFILLED"


def test_an_unknown_sku_rejects_the_request_with_the_reason(world):
    store = _service_world(world)
    order = _order(store, {"LGL-0001": 1, "NEW-0001": 2})
    actions.request_fulfillment(store, order)
    result = world.materialize(ORDERS)
    assert result.success
    (fo,) = _service_fos(store, order)
    assert fo.request_status == "REJECTED"
    (answer,) = fo.answers
    assert answer[0] == "fulfillmentOrderRejectFulfillmentRequest"
    assert answer[2] == "INVALID_SKU" and "NEW-0001" in answer[1]
    assert not lgl_orders_by_source(world.sandbox)
    assert world.materialize(ORDERS).success  # rejected once: not answered again
    assert len(fo.answers) == 1


def test_a_lost_accept_answer_is_read_back_and_the_order_imported_once(world):
    store = _service_world(world)
    order = _order(store, {"LGL-0005": 1})
    actions.request_fulfillment(store, order)
    lost = FaultRule(
        "apply_then_fail", operation="fulfillmentOrderAcceptFulfillmentRequest", count=1
    )
    world.sandbox.engine.set_faults(RETAILER, [lost])
    assert world.materialize(ORDERS).success
    (fo,) = _service_fos(store, order)
    assert fo.request_status == "ACCEPTED" and len(fo.answers) == 1
    assert len(lgl_orders_by_source(world.sandbox)[gid("Order", order.id)]) == 1


def test_a_cancellation_request_is_accepted_before_shipping_and_rejected_after(world):
    store = _service_world(world)
    early = _order(store, {"LGL-0001": 1})
    late = _order(store, {"LGL-0002": 2})
    for order in (early, late):
        actions.request_fulfillment(store, order)
    assert world.materialize(ORDERS).success
    lgl = world.sandbox.store("lgl")
    (shipped,) = lgl_orders_by_source(world.sandbox)[gid("Order", late.id)]
    fo = lgl.fulfillment_orders[shipped.fulfillment_order_ids[0]]
    lgl.create_fulfillment([(fo, [(fo.line_items[0].id, 1)])], [], False)  # 1 of 2 shipped
    for order in (early, late):
        actions.request_cancellation(store, order)
    result = world.materialize(ORDERS)
    assert result.success
    meta = _metadata(result, "retailer_order_changes")
    assert (meta["cancellations_accepted"], meta["cancellations_rejected"]) == (1, 1)
    (cancelled,) = lgl_orders_by_source(world.sandbox)[gid("Order", early.id)]
    world.sandbox.clock.advance(5)  # orderCancel is a job: done a moment later
    lgl.run_due_jobs()
    assert cancelled.cancelled_at is not None and not cancelled.fulfillment_ids
    early_fo = store.fulfillment_orders[early.fulfillment_order_ids[0]]
    assert early_fo.request_status == "CANCELLATION_ACCEPTED"
    (late_fo,) = _service_fos(store, late)
    assert late_fo.request_status == "CANCELLATION_REJECTED"
    assert "LGL has already shipped" in late_fo.answers[-1][1]
    assert shipped.cancelled_at is None


@pytest.mark.parametrize("cancel", ["request", "immediate"])
def test_an_order_cancelled_at_the_retailer_is_never_shipped_by_lgl(world, cancel):
    """Shopify does not document what orderCancel does to a fulfillment order a service has
    accepted: a cancellation request, or the fulfillment order cancelled at once."""
    store = _service_world(world, cancel=cancel)
    order = _order(store, {"LGL-0007": 3})
    actions.request_fulfillment(store, order)
    assert world.materialize(ORDERS).success
    store.cancel_order(order, restock=True)
    assert world.materialize(ORDERS).success
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[gid("Order", order.id)]
    world.sandbox.clock.advance(5)  # orderCancel is a job: done a moment later
    world.sandbox.store("lgl").run_due_jobs()
    assert lgl_order.cancelled_at is not None
    (fo,) = [store.fulfillment_orders[i] for i in order.fulfillment_order_ids]
    assert fo.status == "CANCELLED"
    expected = "CANCELLATION_ACCEPTED" if cancel == "request" else "ACCEPTED"
    assert fo.request_status == expected


def test_paid_orders_nobody_sent_to_lgl_are_reported_once(world, monkeypatch):
    monkeypatch.setenv("LGL_UNSUBMITTED_HOURS", "2")
    store = _service_world(world)
    waiting = _order(store, {"LGL-0008": 1}, created_at=store.now() - timedelta(hours=3))
    fresh = _order(store, {"LGL-0009": 1})
    result = world.materialize(ORDERS)
    assert result.success
    assert _metadata(result, "retailer_order_changes")["unsubmitted_paid_orders"] >= 1
    with world.engine.connect() as connection:
        sent = connection.execute(
            sa.select(email_notifications).where(
                email_notifications.c.notification_type == "unsubmitted"
            )
        ).all()
    assert len(sent) == 1 and "paid order(s) not sent to LGL for 2 h" in sent[0].subject
    assert gid("Order", waiting.id) in sent[0].dedupe_key  # the order waiting 3 h...
    assert gid("Order", fresh.id) not in sent[0].dedupe_key  # ...not the one placed just now
    assert not lgl_orders_by_source(world.sandbox)  # nobody asked: nothing imported
    assert world.materialize(ORDERS).success
    with world.engine.connect() as connection:
        again = connection.execute(
            sa.select(sa.func.count()).where(
                email_notifications.c.notification_type == "unsubmitted"
            )
        ).scalar()
    assert again == 1  # the same orders are not reported twice


# -- validate, scopes and setting the service up ----------------------------------------------


@pytest.fixture
def lgl_env(world, monkeypatch):
    monkeypatch.setenv("SHOPIFY_LGL_DOMAIN", world.sandbox.domain("lgl"))
    monkeypatch.setenv("SHOPIFY_LGL_TOKEN", token_for("lgl"))


def _clients(world):
    from lgl_sync.control_plane.retailers import get_retailer
    from lgl_sync.sync.clients import lgl_client, retailer_client

    retailer = get_retailer(world.engine, RETAILER)
    return retailer, retailer_client(retailer, engine=world.engine), lgl_client()


def test_validate_tells_the_location_models_apart(world, lgl_env):
    store = _service_world(world)
    retailer, client, lgl = _clients(world)
    report = check_retailer(retailer, client, lgl)
    assert report.ok, report.problems
    assert any("fulfillment orders visible" in n for n in report.notes)
    merchant = Retailer.parse({**retailer.row(), "location_model": "merchant_managed"})
    problems = check_retailer(merchant, client, lgl).problems
    assert any("location_model: fulfillment_service" in p for p in problems)
    assert any("read_merchant_managed_fulfillment_orders" in p for p in problems)
    ordinary = next(x for x in store.locations.values() if x.fulfillment_service is None)
    elsewhere = Retailer.parse({**retailer.row(), "target_location_id": str(ordinary.id)})
    problems = check_retailer(elsewhere, client, lgl).problems
    assert any("is an ordinary location" in p for p in problems)
    other = services.create_service(store, "Other 3PL", ours=False)
    theirs = Retailer.parse({**retailer.row(), "target_location_id": str(other.location_id)})
    assert any("another app's service" in p for p in check_retailer(theirs, client, lgl).problems)


def test_validate_wants_read_all_orders_for_a_lookback_past_60_days(world, lgl_env):
    _service_world(world)
    retailer, client, lgl = _clients(world)
    world.sandbox.store(RETAILER).scopes.remove("read_all_orders")
    long = Retailer.parse({**retailer.row(), "fulfillment_lookback_hours": 1500})
    assert any("read_all_orders" in p for p in check_retailer(long, client, lgl).problems)
    short = Retailer.parse({**retailer.row(), "fulfillment_lookback_hours": 1400})
    assert not any("read_all_orders" in p for p in check_retailer(short, client, lgl).problems)


def test_each_location_model_needs_its_own_fulfillment_order_scope():
    merchant_only = {"read_orders", "write_orders", "write_merchant_managed_fulfillment_orders"}
    lacking = flow_missing("push_fulfillments", "retailer", merchant_only, "fulfillment_service")
    assert "write_assigned_fulfillment_orders" in lacking
    assert "write_assigned_fulfillment_orders" not in flow_missing(
        "push_fulfillments", "retailer", merchant_only, "merchant_managed"
    )


def test_the_sandbox_hides_fulfillment_orders_outside_the_tokens_scopes(world):
    store = _service_world(world)
    order = _order(store, {"LGL-0001": 1})
    query = (
        f'{{ order(id: "{gid("Order", order.id)}") '
        "{ fulfillmentOrders(first: 5) { nodes { id } } } }"
    )
    seen = world.sandbox.raw(RETAILER, query).json()["data"]["order"]["fulfillmentOrders"]["nodes"]
    assert len(seen) == 1
    store.scopes = [s for s in SERVICE_SCOPES if "assigned" not in s]
    store.scopes.append("read_merchant_managed_fulfillment_orders")
    hidden = world.sandbox.raw(RETAILER, query).json()["data"]["order"]["fulfillmentOrders"][
        "nodes"
    ]
    assert hidden == []  # objects/FulfillmentOrder: only a subset without the scopes


def test_the_service_is_created_once_and_found_again(world, lgl_env):
    seed(world.sandbox, normal=1)
    world.add_retailer(RETAILER)
    _retailer, client, _lgl = _clients(world)
    first, created = ensure_fulfillment_service(client)
    again, created_again = ensure_fulfillment_service(client)
    assert created and not created_again and first == again
    store = world.sandbox.store(RETAILER)
    location = store.locations[int(first.rsplit("/", 1)[1])]
    assert location.fulfillment_service.handle == "lgl-sync"


def test_a_voided_label_and_its_reship_reach_the_service_fulfillment_order(world):
    """Issue 17's void and reship at LGL's fulfillment service: the retailer's fulfillment is
    cancelled (its accepted fulfillment order open to LGL again), then the reship arrives."""
    from shopify_sandbox.models import TrackingInfo

    store = _service_world(world)
    order = _order(store, {"LGL-0011": 2})
    actions.request_fulfillment(store, order)
    assert world.materialize(ORDERS).success
    lgl = world.sandbox.store("lgl")
    (lgl_order,) = lgl_orders_by_source(world.sandbox)[gid("Order", order.id)]
    fo = lgl.fulfillment_orders[lgl_order.fulfillment_order_ids[0]]
    label = [(fo, [(fo.line_items[0].id, 2)])]
    first = lgl.create_fulfillment(label, [TrackingInfo("UPS", "1ZVOID", None)], True)
    assert world.materialize(PUSH).success
    (service_fo,) = _service_fos(store, order)
    assert service_fo.status == "CLOSED"
    lgl.cancel_fulfillment(first)  # LGL voids the label
    assert world.materialize(PUSH).success
    assert (service_fo.status, service_fo.request_status) == ("IN_PROGRESS", "ACCEPTED")
    lgl.create_fulfillment(label, [TrackingInfo("UPS", "1ZLIVE", None)], True)
    assert world.materialize(PUSH).success
    live = [
        store.fulfillments[f] for f in order.fulfillment_ids
        if store.fulfillments[f].status == "SUCCESS"
    ]  # fmt: skip
    assert [t.number for f in live for t in f.tracking_info] == ["1ZLIVE"]
    assert service_fo.status == "CLOSED"


ACCEPT = """mutation($id: ID!) { fulfillmentOrderAcceptFulfillmentRequest(id: $id, message: "ok") {
  fulfillmentOrder { requestStatus status } userErrors { message } } }"""
FULFIL = """mutation($id: ID!) { fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder:
  [{fulfillmentOrderId: $id}]}) { fulfillment { id } userErrors { message } } }"""
LOCATIONS = "query($legacy: Boolean) { locations(first: 10, includeLegacy: $legacy) { nodes { name isFulfillmentService } } }"  # noqa: E501


def test_the_sandbox_plays_shopifys_fulfillment_request_rules(world):
    """build-for-fulfillment-services: only an accepted request is fulfilled, a request is
    answered once; queries/locations: services' locations only with includeLegacy; the 2024-10
    change: another app's service's fulfillment orders cannot be fulfilled."""
    store = _service_world(world)

    def call(query, **variables):
        return world.sandbox.raw(RETAILER, query, variables).json()["data"]

    plain = call(LOCATIONS)["locations"]["nodes"]
    assert RETAILER_LGL_LOCATION not in [x["name"] for x in plain]
    legacy = call(LOCATIONS, legacy=True)["locations"]["nodes"]
    assert {"name": RETAILER_LGL_LOCATION, "isFulfillmentService": True} in legacy
    order = _order(store, {"LGL-0001": 1})
    (fo,) = _service_fos(store, order)
    fo_id = gid("FulfillmentOrder", fo.id)
    refused = call(FULFIL, id=fo_id)["fulfillmentCreate"]["userErrors"]
    assert "not been accepted" in refused[0]["message"]  # UNSUBMITTED: nobody asked
    assert call(ACCEPT, id=fo_id)["fulfillmentOrderAcceptFulfillmentRequest"]["userErrors"]
    actions.request_fulfillment(store, order)
    accepted = call(ACCEPT, id=fo_id)["fulfillmentOrderAcceptFulfillmentRequest"]
    assert accepted["fulfillmentOrder"] == {"requestStatus": "ACCEPTED", "status": "IN_PROGRESS"}
    again = call(ACCEPT, id=fo_id)["fulfillmentOrderAcceptFulfillmentRequest"]
    assert again["userErrors"] and again["fulfillmentOrder"] is None  # answered once
    assert call(FULFIL, id=fo_id)["fulfillmentCreate"]["fulfillment"]
    theirs = services.create_service(store, "Other 3PL", ours=False)
    store.scopes.append("read_third_party_fulfillment_orders")
    other = store.create_order(
        lines=[{"sku": "X-1", "title": "X", "quantity": 1, "location_id": theirs.location_id}],
        shipping_address=BUYER_ADDRESS,
    )
    other_fo = gid("FulfillmentOrder", other.fulfillment_order_ids[0])
    blocked = call(FULFIL, id=other_fo)["fulfillmentCreate"]["userErrors"]
    assert "another app" in blocked[0]["message"]
