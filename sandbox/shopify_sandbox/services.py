"""Fulfillment services: the second kind of location, and the request flow on its fulfillment
orders (https://shopify.dev/docs/apps/build/orders-fulfillment/fulfillment-service-apps).

- ``fulfillmentServiceCreate`` makes a service and the location Shopify creates for it, named
  after the service (mutations/fulfillmentServiceCreate).
- A fulfillment order routed to a service's location starts UNSUBMITTED. The merchant (or
  Shopify Flow) submits a fulfillment request; the service polls ``assignedFulfillmentOrders``
  and accepts or rejects it. Only an accepted one can be fulfilled
  (.../build-for-fulfillment-services, "Accept a fulfillment request").
- A cancellation request on an accepted fulfillment order is accepted or rejected by the
  service. Accepting it closes the fulfillment order and, as ``fulfillmentOrderCancel`` does,
  puts the work left into a replacement fulfillment order (UNSUBMITTED) at the same location;
  for a cancelled order the work left is cancelled instead.
- Scopes hide fulfillment orders: an app sees those at merchant-managed locations with
  ``read_merchant_managed_fulfillment_orders``, at its own service's location with
  ``read_assigned_fulfillment_orders`` and at other services' with
  ``read_third_party_fulfillment_orders`` (objects/FulfillmentOrder: "an API client will only
  receive a subset of the fulfillment orders ... if they don't have the necessary access
  scopes"). Since 2024-10 it may fulfil only its own service's and merchant-managed ones
  (changelog: order-management-apps-can-no-longer-fulfill-orders-that-are-assigned-to-a-
  different-fulfillment-service).
"""

from __future__ import annotations

from typing import Any

from shopify_sandbox import webhooks
from shopify_sandbox.access import grants
from shopify_sandbox.models import FulfillmentOrder, FulfillmentOrderLineItem, FulfillmentService
from shopify_sandbox.state import ACCEPTED_REQUESTS, SandboxError, Store, next_id

# Assignment status filter of assignedFulfillmentOrders -> the request status it selects.
ASSIGNMENT = {
    "FULFILLMENT_UNSUBMITTED": {"UNSUBMITTED"},
    "FULFILLMENT_REQUESTED": {"SUBMITTED"},
    "FULFILLMENT_ACCEPTED": {"ACCEPTED", "CANCELLATION_REJECTED"},
    "CANCELLATION_REQUESTED": {"CANCELLATION_REQUESTED"},
}
OPEN = ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED", "INCOMPLETE")


def _handle(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def create_service(
    store: Store, name: str, *, ours: bool = True, **options: Any
) -> FulfillmentService:
    """A fulfillment service with its own location; a name in use is refused."""
    if not name or not name.strip():
        raise SandboxError("Name can't be blank", ["name"])
    if any(s.handle == _handle(name) for s in store.fulfillment_services.values()):
        raise SandboxError("Name has already been taken", ["name"])
    location = store.add_location(name)
    service = FulfillmentService(
        id=next_id(), handle=_handle(name), service_name=name, location_id=location.id, ours=ours
    )
    for key, value in options.items():
        if value is not None:
            setattr(service, key, value)
    location.fulfillment_service = service
    store.fulfillment_services[service.id] = service
    return service


def attach_service(store: Store, location: Any, name: str, *, ours: bool = True) -> Any:
    """Scenario helper: makes an existing location a fulfillment service's own location, as
    if the service had been created with it (its fulfillment orders keep their status)."""
    service = FulfillmentService(
        id=next_id(), handle=_handle(name), service_name=name, location_id=location.id, ours=ours
    )
    location.fulfillment_service = service
    store.fulfillment_services[service.id] = service
    return service


def kind(store: Store, fo: FulfillmentOrder) -> str:
    """merchant | ours | theirs: who fulfils the fulfillment order's location."""
    service = store.locations[fo.location_id].fulfillment_service
    if service is None:
        return "merchant"
    return "ours" if service.ours else "theirs"


_READ = {
    "merchant": "read_merchant_managed_fulfillment_orders",
    "ours": "read_assigned_fulfillment_orders",
    "theirs": "read_third_party_fulfillment_orders",
}
_WRITE = {
    "merchant": "write_merchant_managed_fulfillment_orders",
    "ours": "write_assigned_fulfillment_orders",
}


def readable(store: Store, fo: FulfillmentOrder) -> bool:
    """May the store's app see this fulfillment order? (else it is omitted, or reads null)"""
    return grants(store.scopes, _READ[kind(store, fo)])


def writable(store: Store, fo: FulfillmentOrder) -> str | None:
    """Why the app may not fulfil, hold or move this fulfillment order (None: it may)."""
    where = kind(store, fo)
    if where == "theirs":
        return (
            "The fulfillment order is assigned to a fulfillment service of another app: it "
            "cannot be fulfilled by this app."
        )
    if _WRITE[where] not in store.scopes:
        return f"The app needs the `{_WRITE[where]}` access scope for this fulfillment order."
    return None


def assigned(store: Store, status: str | None, location_ids: set[int] | None) -> list:
    """assignedFulfillmentOrders: open fulfillment orders at the app's own services'
    locations, by assignment status."""
    wanted = ASSIGNMENT.get(status) if status else None
    return [
        fo
        for fo in store.fulfillment_orders.values()
        if kind(store, fo) == "ours"
        and fo.status in OPEN
        and (location_ids is None or fo.location_id in location_ids)
        and (wanted is None or fo.request_status in wanted)
    ]


def _own(store: Store, fo: FulfillmentOrder) -> None:
    if kind(store, fo) != "ours":
        raise SandboxError(
            "The fulfillment order is not assigned to a fulfillment service of this app.", ["id"]
        )


def _changed(store: Store, fo: FulfillmentOrder) -> None:
    fo.updated_at = store.now()
    store.touch(store.orders[fo.order_id])


def submit_request(
    store: Store, fo: FulfillmentOrder, units: dict[int, int] | None = None
) -> tuple[FulfillmentOrder, FulfillmentOrder | None]:
    """The merchant requests fulfillment of all of the fulfillment order, or of ``units``
    ({FO line id: units}): the rest is split into an UNSUBMITTED fulfillment order."""
    if store.locations[fo.location_id].fulfillment_service is None:
        raise SandboxError("The fulfillment order is not assigned to a fulfillment service.")
    if fo.status != "OPEN" or fo.request_status not in ("UNSUBMITTED", "REJECTED"):
        raise SandboxError(
            f"Cannot request fulfillment for a fulfillment order with request status "
            f"{fo.request_status.lower()} and status {fo.status.lower()}.",
            ["id"],
        )
    rest = None
    if units and any(units.get(li.id, 0) < li.remaining_quantity for li in fo.line_items):
        rest = _split_off(
            store, fo, {li.id: li.remaining_quantity - units.get(li.id, 0) for li in fo.line_items}
        )
    fo.request_status = "SUBMITTED"
    _changed(store, fo)
    store.emit(
        "FULFILLMENT_ORDERS_FULFILLMENT_REQUEST_SUBMITTED",
        lambda: webhooks.fulfillment_order_payload(fo),
    )
    return fo, rest


def _split_off(store: Store, fo: FulfillmentOrder, units: dict[int, int]) -> FulfillmentOrder:
    """Moves ``units`` of the fulfillment order into a new one at the same location."""
    new = FulfillmentOrder(next_id(), fo.order_id, fo.location_id, "OPEN", store.now(), store.now())
    for line in fo.line_items:
        take = units.get(line.id, 0)
        if take <= 0:
            continue
        line.remaining_quantity -= take
        line.total_quantity -= take
        moved = FulfillmentOrderLineItem(next_id(), new.id, line.line_item_id, take, take)
        new.line_items.append(moved)
        store.fulfillment_order_line_items[moved.id] = moved
    fo.line_items = [li for li in fo.line_items if li.total_quantity > 0]
    store.fulfillment_orders[new.id] = new
    store.orders[fo.order_id].fulfillment_order_ids.append(new.id)
    return new


def _answerable(store: Store, fo: FulfillmentOrder, expected: str, what: str) -> None:
    """The app may answer only its own service's request, and only one that is waiting."""
    _own(store, fo)
    if fo.request_status != expected:
        raise SandboxError(
            f"Cannot {what} for a fulfillment order with request status "
            f"{fo.request_status.lower()}.",
            ["id"],
        )


def accept_request(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    _answerable(store, fo, "SUBMITTED", "accept a fulfillment request")
    fo.request_status = "ACCEPTED"
    fo.status = "IN_PROGRESS"
    _changed(store, fo)
    return fo


def reject_request(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    _answerable(store, fo, "SUBMITTED", "reject a fulfillment request")
    fo.request_status = "REJECTED"
    _changed(store, fo)
    return fo


def submit_cancellation(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    """The merchant asks the service to cancel; a request not yet accepted is withdrawn at
    once (fulfillmentOrderCancel: "for SUBMITTED orders, cancellation happens immediately")."""
    if fo.request_status == "SUBMITTED":
        return _close_with_replacement(store, fo)
    if fo.request_status not in ACCEPTED_REQUESTS or fo.status not in OPEN:
        raise SandboxError(
            f"Cannot request cancellation for a fulfillment order with request status "
            f"{fo.request_status.lower()}.",
            ["id"],
        )
    fo.request_status = "CANCELLATION_REQUESTED"
    _changed(store, fo)
    return fo


def accept_cancellation(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    _answerable(store, fo, "CANCELLATION_REQUESTED", "accept a cancellation request")
    order = store.orders[fo.order_id]
    if order.cancelled_at is not None:  # orderCancel asked: the work left is cancelled
        store.cancel_fulfillment_order(order, fo, restock=fo.cancel_restock)
        fo.request_status = "CANCELLATION_ACCEPTED"
        _changed(store, fo)
        return fo
    _close_with_replacement(store, fo)
    fo.request_status = "CANCELLATION_ACCEPTED"
    return fo


def _close_with_replacement(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    """Closes the fulfillment order; its units still to ship go to a new UNSUBMITTED one."""
    left = {li.id: li.remaining_quantity for li in fo.line_items if li.remaining_quantity}
    if left:
        replacement = _split_off(store, fo, left)
        replacement.request_status = "UNSUBMITTED"
    fo.status = "CLOSED"
    fo.request_status = "CLOSED" if fo.request_status == "SUBMITTED" else fo.request_status
    _changed(store, fo)
    return fo


def reject_cancellation(store: Store, fo: FulfillmentOrder) -> FulfillmentOrder:
    _answerable(store, fo, "CANCELLATION_REQUESTED", "reject a cancellation request")
    fo.request_status = "CANCELLATION_REJECTED"
    _changed(store, fo)
    return fo
