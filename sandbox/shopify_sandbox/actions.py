"""What a person does to an order in the Shopify admin, as scenario helpers for tests, the demo
and the chaos run: the same state changes the GraphQL mutations make (``mutations/``), without a
request. Each moves the order's ``updated_at``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shopify_sandbox import services
from shopify_sandbox.models import Order, gid
from shopify_sandbox.mutations.edits import Edit, apply_edit, apply_refund, unfulfilled
from shopify_sandbox.state import SandboxError, Store, next_id


def open_units(store: Store, order: Order) -> dict[int, int]:
    """{line item id: units not yet fulfilled} of the order's lines that have some."""
    return {li.id: n for li in order.line_items if (n := unfulfilled(store, li))}


def edit_order(
    store: Store,
    order: Order,
    *,
    quantities: dict[int, int] | None = None,
    add: dict[int, int] | None = None,
    restock: bool = True,
) -> None:
    """One committed edit: {line item id: new quantity} (not below what is fulfilled) and
    {variant id: units} added as new lines at the variant's price."""
    edit = Edit(next_id(), order.id, {})
    for line_id, quantity in (quantities or {}).items():
        line = store.line_items[line_id]
        if quantity < line.current_quantity - unfulfilled(store, line):
            raise SandboxError("The quantity cannot be lower than the quantity fulfilled.")
        edit.quantities[line_id] = (quantity, restock)
    for variant_id, units in (add or {}).items():
        edit.added[next_id()] = {
            "variant_id": variant_id,
            "quantity": units,
            "discount": Decimal("0"),
            "location_id": None,
        }
    apply_edit(store, edit, order)


def refund_line(store: Store, order: Order, line_id: int, units: int, *, restock: bool) -> None:
    """Refunds ``units`` of a line (``CANCEL`` restocks unshipped units, ``NO_RESTOCK`` not)."""
    answer = apply_refund(
        store,
        {
            "orderId": gid("Order", order.id),
            "refundLineItems": [
                {
                    "lineItemId": gid("LineItem", line_id),
                    "quantity": units,
                    "restockType": "CANCEL" if restock else "NO_RESTOCK",
                }
            ],
        },
    )
    if answer["userErrors"]:
        raise SandboxError(answer["userErrors"][0]["message"])


def hold(store: Store, order: Order, handle: str = "merchant-hold") -> list[Any]:
    """Puts every open fulfillment order of the order on hold; returns them."""
    held = []
    for fo_id in order.fulfillment_order_ids:
        fo = store.fulfillment_orders[fo_id]
        if fo.status in ("OPEN", "IN_PROGRESS", "SCHEDULED"):
            store.hold_fulfillment_order(fo, handle, "OTHER")
            held.append(fo)
    return held


def release(store: Store, order: Order) -> None:
    """Releases every hold on the order's fulfillment orders."""
    for fo_id in order.fulfillment_order_ids:
        fo = store.fulfillment_orders[fo_id]
        if fo.status == "ON_HOLD":
            store.release_fulfillment_order(fo, None)


def move(store: Store, order: Order, location_id: int) -> None:
    """Moves the order's open fulfillment orders (their unshipped units) to another location."""
    for fo_id in list(order.fulfillment_order_ids):
        fo = store.fulfillment_orders[fo_id]
        if fo.status in ("OPEN", "IN_PROGRESS") and fo.location_id != location_id:
            units = {fl.id: fl.remaining_quantity for fl in fo.line_items if fl.remaining_quantity}
            store.move_fulfillment_order(fo, location_id, units)


def request_fulfillment(store: Store, order: Order, location_id: int | None = None) -> list[Any]:
    """The merchant's "Request fulfillment": every unsubmitted fulfillment order of the order
    at a fulfillment service (at ``location_id`` when given) is submitted; returns them."""
    sent = []
    for fo_id in list(order.fulfillment_order_ids):
        fo = store.fulfillment_orders[fo_id]
        if (
            store.is_service(fo)
            and fo.status == "OPEN"
            and fo.request_status in ("UNSUBMITTED", "REJECTED")
            and location_id in (None, fo.location_id)
        ):
            services.submit_request(store, fo)
            sent.append(fo)
    return sent


def request_cancellation(store: Store, order: Order) -> list[Any]:
    """The merchant asks the fulfillment service to cancel the order's requested or accepted
    fulfillment orders; returns them."""
    asked = []
    for fo_id in list(order.fulfillment_order_ids):
        fo = store.fulfillment_orders[fo_id]
        if store.is_service(fo) and fo.request_status in ("SUBMITTED", "ACCEPTED"):
            services.submit_cancellation(store, fo)
            asked.append(fo)
    return asked
