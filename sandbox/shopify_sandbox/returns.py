"""Returns (https://shopify.dev/docs/apps/build/orders-fulfillment/returns-apps): a return on
an order's fulfilled line items, its reverse fulfillment order, and the disposal that restocks.

- ``returnCreate`` (https://shopify.dev/docs/api/admin-graphql/latest/mutations/returnCreate)
  opens a return (status OPEN) on fulfillment line items of the order's successful
  fulfillments, never more than was fulfilled less what open or closed returns already hold;
  it creates one reverse fulfillment order with a line per returned item, changes no stock, and
  counts as a change of the order (``updated_at``, so ``return_status`` searches see it).
- ``reverseFulfillmentOrderDispose``
  (https://shopify.dev/docs/api/admin-graphql/latest/mutations/reverseFulfillmentOrderDispose)
  disposes reverse fulfillment order line items; ``RESTOCKED`` needs a ``locationId`` and puts
  the units back into ``available`` (and on hand) there, the other types change no stock; more
  than remains undisposed is refused. When every line is disposed the reverse fulfillment order
  closes.
Mutations: ``mutations/returns.py``.

- ``Order.returnStatus`` / the ``return_status`` search filter
  (https://shopify.dev/docs/api/admin-graphql/latest/enums/OrderReturnStatus): NO_RETURN,
  RETURN_REQUESTED, IN_PROGRESS, RETURNED.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql import GraphQLResolveInfo

from shopify_sandbox.connections import connection
from shopify_sandbox.search import return_status
from shopify_sandbox.state import SandboxError, next_id


@dataclass
class Disposition:
    gid_type = "ReverseFulfillmentOrderDisposition"
    id: int
    type: str
    quantity: int
    location_id: int | None
    created_at: datetime


@dataclass
class ReverseLine:
    gid_type = "ReverseFulfillmentOrderLineItem"
    id: int
    fulfillment_line_item_id: int
    total_quantity: int
    dispositions: list[Disposition] = field(default_factory=list)

    @property
    def disposed(self) -> int:
        return sum(d.quantity for d in self.dispositions)


@dataclass
class ReverseFulfillmentOrder:
    gid_type = "ReverseFulfillmentOrder"
    id: int
    order_id: int
    return_id: int
    status: str  # OPEN | CLOSED
    line_items: list[ReverseLine] = field(default_factory=list)


@dataclass
class ReturnLine:
    gid_type = "ReturnLineItem"
    id: int
    fulfillment_line_item_id: int
    quantity: int
    return_reason: str
    return_reason_note: str
    customer_note: str | None = None


@dataclass
class Return:
    gid_type = "Return"
    id: int
    order_id: int
    name: str
    status: str  # REQUESTED | OPEN | CLOSED | DECLINED | CANCELED
    created_at: datetime
    closed_at: datetime | None = None
    line_items: list[ReturnLine] = field(default_factory=list)
    reverse_fulfillment_order_ids: list[int] = field(default_factory=list)


def _fulfilled_line(store: Any, order: Any, line_id: int) -> Any:
    """The fulfillment line item of one of the order's successful fulfillments, or None."""
    for fulfillment_id in order.fulfillment_ids:
        fulfillment = store.fulfillments[fulfillment_id]
        if fulfillment.status != "SUCCESS":
            continue
        for line in fulfillment.line_items:
            if line.id == line_id:
                return line
    return None


def _returned(store: Any, fulfillment_line_id: int) -> int:
    live = ("REQUESTED", "OPEN", "CLOSED")
    return sum(
        line.quantity
        for r in store.returns.values()
        if r.status in live
        for line in r.line_items
        if line.fulfillment_line_item_id == fulfillment_line_id
    )


def create_return(store: Any, order: Any, lines: list[dict[str, Any]]) -> Return:
    """Opens a return on ``lines`` ({fulfillment_line_item_id, quantity, reason, note});
    validated whole before anything changes."""
    if not lines:
        raise SandboxError("Return must have at least one line item.", ["returnInput"])
    planned = []
    for index, wanted in enumerate(lines):
        path = ["returnInput", "returnLineItems", str(index)]
        line = _fulfilled_line(store, order, wanted["fulfillment_line_item_id"])
        if line is None:
            raise SandboxError("Fulfillment line item does not exist.", path, "INVALID")
        already = _returned(store, line.id) + sum(q for fl, q, *_ in planned if fl.id == line.id)
        if wanted["quantity"] <= 0 or wanted["quantity"] > line.quantity - already:
            raise SandboxError(
                "Quantity is not available for return.", [*path, "quantity"], "INVALID"
            )
        planned.append((line, wanted["quantity"], wanted.get("reason"), wanted.get("note")))
    number = 1 + sum(1 for r in store.returns.values() if r.order_id == order.id)
    created = Return(next_id(), order.id, f"{order.name}-R{number}", "OPEN", store.now())
    reverse = ReverseFulfillmentOrder(next_id(), order.id, created.id, "OPEN")
    for line, quantity, reason, note in planned:
        created.line_items.append(
            ReturnLine(next_id(), line.id, quantity, reason or "UNKNOWN", note or "")
        )
        reverse.line_items.append(ReverseLine(next_id(), line.id, quantity))
    created.reverse_fulfillment_order_ids.append(reverse.id)
    store.returns[created.id] = created
    store.reverse_fulfillment_orders[reverse.id] = reverse
    store.touch(order)
    return created


def dispose(store: Any, inputs: list[dict[str, Any]]) -> list[ReverseLine]:
    """Disposes reverse fulfillment order lines; RESTOCKED puts the units back at the
    location. Validated whole before anything changes."""
    by_line = {
        line.id: (rfo, line)
        for rfo in store.reverse_fulfillment_orders.values()
        for line in rfo.line_items
    }
    plan = []
    for index, wanted in enumerate(inputs):
        path = ["dispositionInputs", str(index)]
        found = by_line.get(wanted["line_id"])
        if found is None:
            raise SandboxError("Reverse fulfillment order line item does not exist.", path)
        rfo, line = found
        taken = sum(q for l2, q, *_ in plan if l2.id == line.id)
        if (
            wanted["quantity"] <= 0
            or wanted["quantity"] > line.total_quantity - line.disposed - taken
        ):
            raise SandboxError(
                "Quantity exceeds the quantity left to dispose.", [*path, "quantity"]
            )
        if wanted["type"] == "RESTOCKED" and wanted.get("location_id") not in store.locations:
            raise SandboxError("A location is required to restock.", [*path, "locationId"])
        plan.append((line, wanted["quantity"], wanted["type"], wanted.get("location_id"), rfo))
    for line, quantity, kind, location_id, rfo in plan:
        line.dispositions.append(Disposition(next_id(), kind, quantity, location_id, store.now()))
        if kind == "RESTOCKED":
            fulfilled = _fulfillment_line(store, line.fulfillment_line_item_id)
            variant = store.variants.get(store.line_items[fulfilled.line_item_id].variant_id)
            if variant is not None:
                store.adjust_available(variant.inventory_item_id, location_id, quantity)
        if all(li.disposed == li.total_quantity for li in rfo.line_items):
            rfo.status = "CLOSED"
        store.touch(store.orders[rfo.order_id])
    return [line for line, *_ in plan]


# -- GraphQL -------------------------------------------------------------------------------------


def _fulfillment_line(store: Any, line_id: int) -> Any:
    for fulfillment in store.fulfillments.values():
        for line in fulfillment.line_items:
            if line.id == line_id:
                return line
    return None


def _bulk(info: GraphQLResolveInfo) -> bool:
    return info.context.bulk


RESOLVERS: dict[str, dict[str, Any]] = {
    "Return": {
        "order": lambda r, info: info.context.store.orders.get(r.order_id),
        "returnLineItems": lambda r, info, **args: connection(r.line_items, args, bulk=_bulk(info)),
        "reverseFulfillmentOrders": lambda r, info, **args: connection(
            [
                info.context.store.reverse_fulfillment_orders[i]
                for i in r.reverse_fulfillment_order_ids
            ],
            args,
            bulk=_bulk(info),
        ),
        "totalQuantity": lambda r, _: sum(li.quantity for li in r.line_items),
    },
    "ReturnLineItem": {
        "fulfillmentLineItem": lambda li, info: _fulfillment_line(
            info.context.store, li.fulfillment_line_item_id
        ),
    },
    "ReverseFulfillmentOrder": {
        "order": lambda rfo, info: info.context.store.orders.get(rfo.order_id),
        "lineItems": lambda rfo, info, **args: connection(rfo.line_items, args, bulk=_bulk(info)),
    },
    "ReverseFulfillmentOrderLineItem": {
        "fulfillmentLineItem": lambda li, info: _fulfillment_line(
            info.context.store, li.fulfillment_line_item_id
        ),
    },
    "ReverseFulfillmentOrderDisposition": {
        "location": lambda d, info: info.context.store.locations.get(d.location_id),
    },
}


def order_returns(order: Any, info: GraphQLResolveInfo, **args: Any) -> dict:
    found = [r for r in info.context.store.returns.values() if r.order_id == order.id]
    return connection(sorted(found, key=lambda r: r.id), args, bulk=_bulk(info))


__all__ = ["RESOLVERS", "create_return", "dispose", "order_returns", "return_status"]
