"""Changes to a placed order: order edits and refunds (docs/sandbox.md, "Orders change").

Order edits follow Shopify's three steps: ``orderEditBegin`` opens a calculated order, the
``orderEdit*`` mutations stage changes on it, and ``orderEditCommit`` applies them to the order
atomically (https://shopify.dev/docs/apps/build/orders-fulfillment/order-management-apps/edit-orders).
Only unfulfilled units can be edited; added lines take the variant's price (there is no price
argument) and ``orderEditAddLineItemDiscount`` lowers it. A calculated order is committed at most
once, and not after the order changed under it. ``refundCreate`` refunds line items, removing
unfulfilled units from their fulfillment orders, and needs ``@idempotent`` from 2026-04.
Both move ``updated_at``; their scopes (``write_order_edits``, ``write_orders``) are enforced with
every other field's (``access.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from shopify_sandbox.models import FulfillmentOrder, FulfillmentOrderLineItem, LineItem, gid
from shopify_sandbox.mutations.inventory import idempotency_key
from shopify_sandbox.mutations.support import context_of
from shopify_sandbox.resolvers import lookup
from shopify_sandbox.state import SandboxError, next_id

EDITABLE = ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED")


@dataclass
class Edit:
    """A calculated order: the staged changes of one edit session."""

    id: int
    order_id: int
    before: dict[int, tuple[int, int]]  # line id -> (current, unfulfilled) at begin
    quantities: dict[int, tuple[int, bool]] = field(default_factory=dict)  # line -> (new, restock)
    added: dict[int, dict[str, Any]] = field(default_factory=dict)  # calculated line -> spec
    committed: bool = False


def unfulfilled(store: Any, line: LineItem) -> int:
    return sum(
        fl.remaining_quantity
        for fo_id in store.orders[line.order_id].fulfillment_order_ids
        for fl in store.fulfillment_orders[fo_id].line_items
        if fl.line_item_id == line.id
    )


def remove_units(store: Any, line: LineItem, units: int, *, restock: bool) -> int:
    """Takes up to ``units`` unfulfilled units of a line off its open fulfillment orders (an
    edit or a refund); a fulfillment order left with nothing to ship closes. Returns how many."""
    order, left = store.orders[line.order_id], units
    for fo_id in order.fulfillment_order_ids:
        fo = store.fulfillment_orders[fo_id]
        if fo.status not in EDITABLE or left <= 0:
            continue
        for fo_line in fo.line_items:
            if fo_line.line_item_id != line.id or left <= 0:
                continue
            take = min(left, fo_line.remaining_quantity)
            fo_line.remaining_quantity -= take
            fo_line.total_quantity -= take
            left -= take
            if order.commits_inventory:
                store.move_committed(line, fo.location_id, take, to=_restocked(restock))
        if not any(fl.remaining_quantity for fl in fo.line_items):
            fo.status = "CLOSED"
        fo.updated_at = store.now()
    line.current_quantity -= units - left
    return units - left


def _restocked(restock: bool) -> str:
    return "available" if restock else "gone"


def add_units(store: Any, line: LineItem, units: int, location_id: int) -> None:
    """Adds units of a line to an open fulfillment order at ``location_id`` (a new one if the
    order has none there)."""
    order = store.orders[line.order_id]
    open_here = [
        store.fulfillment_orders[i]
        for i in order.fulfillment_order_ids
        if store.fulfillment_orders[i].location_id == location_id
        and store.fulfillment_orders[i].status in ("OPEN", "IN_PROGRESS")
    ]
    if open_here:
        fo = open_here[0]
    else:
        fo = FulfillmentOrder(next_id(), order.id, location_id, "OPEN", store.now(), store.now())
        store.fulfillment_orders[fo.id] = fo
        order.fulfillment_order_ids.append(fo.id)
    fo_line = next((fl for fl in fo.line_items if fl.line_item_id == line.id), None)
    if fo_line is None:
        fo_line = FulfillmentOrderLineItem(next_id(), fo.id, line.id, 0, 0)
        fo.line_items.append(fo_line)
        store.fulfillment_order_line_items[fo_line.id] = fo_line
    fo_line.total_quantity += units
    fo_line.remaining_quantity += units
    fo.updated_at = store.now()
    if order.commits_inventory:
        store.move_committed(line, location_id, units, to="committed")


def _calculated(store: Any, edit: Edit) -> dict[str, Any]:
    order = store.orders[edit.order_id]
    lines = []
    for line in order.line_items:
        quantity, _restock = edit.quantities.get(line.id, (line.current_quantity, False))
        lines.append(_calculated_line(store, line.id, line.variant_id, quantity, line=line))
    for number, spec in edit.added.items():
        lines.append(_calculated_line(store, number, spec["variant_id"], spec["quantity"], spec))
    return {
        "id": gid("CalculatedOrder", edit.id),
        "committed": edit.committed,
        "originalOrder": order,
        "lineItems": {"nodes": lines, "edges": [], "pageInfo": {"hasNextPage": False}},
        "subtotalLineItemsQuantity": sum(line["quantity"] for line in lines),
    }


def _calculated_line(
    store: Any, number: int, variant_id: int | None, quantity: int, added=None, line=None
) -> dict[str, Any]:
    """A CalculatedLineItem: an existing line keeps its LineItem's number in its id."""
    variant = store.variants.get(variant_id) if variant_id else None
    fulfilled = line.current_quantity - unfulfilled(store, line) if line is not None else 0
    price = line.price if line is not None else variant.price
    discounted = price - (added["discount"] if added else Decimal("0"))
    return {
        "id": gid("CalculatedLineItem", number),
        "sku": line.sku if line is not None else variant.sku,
        "quantity": quantity,
        "editableQuantity": max(0, quantity - fulfilled),
        "variant": variant,
        "title": (line.title if line is not None else variant.title) or "",
        "originalUnitPriceSet": _money(store, price),
        "discountedUnitPriceSet": _money(store, discounted),
    }


def _money(store: Any, amount: Decimal) -> dict[str, Any]:
    money = {"amount": str(amount), "currencyCode": store.currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _edit_of(store: Any, calculated_id: str) -> Edit:
    number = int(str(calculated_id).rsplit("/", 1)[-1])
    edit = store.edits.get(number)
    if edit is None:
        raise SandboxError("The calculated order does not exist.", ["id"], "INVALID")
    if edit.committed:
        raise SandboxError("The calculated order has already been committed.", ["id"], "INVALID")
    return edit


def _answer(store: Any, edit: Edit | None, error: SandboxError | None = None, **extra: Any):
    if error is not None:
        return {
            "calculatedOrder": None,
            "calculatedLineItem": None,
            "orderEditSession": None,
            "userErrors": [{"field": error.field, "message": error.message}],
        }
    return {
        "calculatedOrder": _calculated(store, edit),
        "orderEditSession": {"id": gid("OrderEditSession", edit.id)},
        "userErrors": [],
        **extra,
    }


def order_edit_begin(_: Any, info: GraphQLResolveInfo, id: str) -> dict:
    store = context_of(info).store
    order = lookup(store, id, "Order")
    try:
        if order is None:
            raise SandboxError("The order does not exist.", ["id"], "INVALID")
        if order.cancelled_at is not None:
            raise SandboxError("A cancelled order cannot be edited.", ["id"], "INVALID")
    except SandboxError as error:
        return _answer(store, None, error)
    before = {li.id: (li.current_quantity, unfulfilled(store, li)) for li in order.line_items}
    edit = Edit(next_id(), order.id, before)
    store.edits[edit.id] = edit
    return _answer(store, edit)


def order_edit_add_variant(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    variantId: str,
    quantity: int,
    locationId: str | None = None,
    allowDuplicates: bool | None = False,
) -> dict:
    store = context_of(info).store
    try:
        edit = _edit_of(store, id)
        variant = lookup(store, variantId, "ProductVariant")
        if variant is None:
            raise SandboxError("The variant does not exist.", ["variantId"], "INVALID")
        if quantity <= 0:
            raise SandboxError("Quantity must be greater than 0.", ["quantity"], "INVALID")
        order = store.orders[edit.order_id]
        present = any(li.variant_id == variant.id for li in order.line_items) or any(
            spec["variant_id"] == variant.id for spec in edit.added.values()
        )
        if present and not allowDuplicates:
            raise SandboxError(
                "The variant is already on the order: allowDuplicates is false.",
                ["variantId"],
                "INVALID",
            )
    except SandboxError as error:
        return _answer(store, None, error)
    number = next_id()
    location = int(locationId.rsplit("/", 1)[-1]) if locationId else None
    edit.added[number] = {
        "variant_id": variant.id,
        "quantity": quantity,
        "discount": Decimal("0"),
        "location_id": location,
    }
    line = _calculated_line(store, number, variant.id, quantity, edit.added[number])
    return _answer(store, edit, calculatedLineItem=line)


def order_edit_set_quantity(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    lineItemId: str,
    quantity: int,
    restock: bool | None = None,
    **_a: Any,
) -> dict:
    store = context_of(info).store
    number = int(lineItemId.rsplit("/", 1)[-1])
    try:
        edit = _edit_of(store, id)
        if quantity < 0:
            raise SandboxError("Quantity cannot be negative.", ["quantity"], "INVALID")
        if number in edit.added:
            edit.added[number]["quantity"] = quantity
        elif number in edit.before:
            current, open_units = edit.before[number]
            if quantity < current - open_units:
                raise SandboxError(
                    "The quantity cannot be lower than the quantity already fulfilled.",
                    ["quantity"],
                    "INVALID",
                )
            edit.quantities[number] = (quantity, bool(restock))
        else:
            raise SandboxError("The line item does not exist.", ["lineItemId"], "INVALID")
    except SandboxError as error:
        return _answer(store, None, error)
    return _answer(store, edit)


def order_edit_add_line_item_discount(
    _: Any, info: GraphQLResolveInfo, id: str, lineItemId: str, discount: dict
) -> dict:
    """Only a line added in this edit takes a discount (a fixed amount per unit here)."""
    store = context_of(info).store
    number = int(lineItemId.rsplit("/", 1)[-1])
    try:
        edit = _edit_of(store, id)
        spec = edit.added.get(number)
        if spec is None:
            raise SandboxError(
                "Only a line item added in this edit can be discounted.", ["lineItemId"]
            )
        fixed = (discount.get("fixedValue") or {}).get("amount")
        price = store.variants[spec["variant_id"]].price
        if fixed is not None:
            spec["discount"] = min(price, Decimal(str(fixed)))
        elif discount.get("percentValue") is not None:
            spec["discount"] = (price * Decimal(str(discount["percentValue"])) / 100).quantize(
                Decimal("0.01")
            )
        else:
            raise SandboxError("A discount needs a fixed or a percent value.", ["discount"])
    except SandboxError as error:
        return _answer(store, None, error)
    line = _calculated_line(store, number, spec["variant_id"], spec["quantity"], spec)
    return _answer(
        store,
        edit,
        calculatedLineItem=line,
        addedDiscountStagedChange={"id": gid("OrderStagedChange", number)},
    )


def order_edit_commit(_: Any, info: GraphQLResolveInfo, id: str, **_a: Any) -> dict:
    """Applies the staged changes at once; refused for a committed calculated order or an
    order whose lines changed since ``orderEditBegin``."""
    store = context_of(info).store
    try:
        edit = _edit_of(store, id)
        order = store.orders[edit.order_id]
        now = {li.id: (li.current_quantity, unfulfilled(store, li)) for li in order.line_items}
        if now != edit.before or order.cancelled_at is not None:
            raise SandboxError(
                "The order has changed since the edit began; begin a new edit.", ["id"]
            )
    except SandboxError as error:
        return {"order": None, "successMessages": None, "userErrors": [error.as_user_error()]}
    apply_edit(store, edit, order)
    return {"order": order, "successMessages": ["Order updated"], "userErrors": []}


def apply_edit(store: Any, edit: Edit, order: Any) -> None:
    for number, (quantity, restock) in edit.quantities.items():
        line = store.line_items[number]
        delta = quantity - line.current_quantity
        if delta < 0:
            remove_units(store, line, -delta, restock=restock)
        elif delta > 0:
            line.quantity += delta
            line.current_quantity += delta
            add_units(store, line, delta, _location_of(store, line))
    for spec in edit.added.values():
        if spec["quantity"] <= 0:
            continue
        variant = store.variants[spec["variant_id"]]
        line = LineItem(
            id=next_id(),
            order_id=order.id,
            variant_id=variant.id,
            product_id=variant.product_id,
            sku=variant.sku,
            title=store.products[variant.product_id].title,
            variant_title=variant.title,
            quantity=spec["quantity"],
            current_quantity=spec["quantity"],
            price=variant.price - spec["discount"],
        )
        order.line_items.append(line)
        store.line_items[line.id] = line
        location = spec["location_id"] or variant.ships_from_location_id
        add_units(store, line, spec["quantity"], location or store.primary_location_id)
    edit.committed = True
    store.touch(order)
    store.emit("ORDERS_EDITED", lambda: {"order_edit": {"order_id": order.id, "id": next_id()}})


def _location_of(store: Any, line: LineItem) -> int:
    order = store.orders[line.order_id]
    for fo_id in order.fulfillment_order_ids:
        fo = store.fulfillment_orders[fo_id]
        if any(fl.line_item_id == line.id for fl in fo.line_items):
            return fo.location_id
    variant = store.variants.get(line.variant_id) if line.variant_id else None
    return (variant.ships_from_location_id if variant else None) or store.primary_location_id


def refund_create(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    """Line refunds: unfulfilled units leave their fulfillment orders (restocked for CANCEL or
    RETURN, gone for NO_RESTOCK); refunded units leave ``currentQuantity``. The financial
    status becomes PARTIALLY_REFUNDED or REFUNDED. ``@idempotent`` is required from 2026-04."""
    ctx = context_of(info)
    store = ctx.store
    key = idempotency_key(info)
    if key is None and ctx.version >= "2026-04":
        raise GraphQLError(
            "The @idempotent directive is required for refundCreate as of API version 2026-04.",
            extensions={"code": "BAD_REQUEST"},
        )
    scoped = f"refundCreate:{key}"
    if key is not None and scoped in store.idempotency:
        return store.idempotency[scoped][1]
    answer = apply_refund(store, input)
    if key is not None:
        store.idempotency[scoped] = ("", answer)
    return answer


def apply_refund(store: Any, input: dict) -> dict:
    order = lookup(store, input["orderId"], "Order")
    try:
        if order is None:
            raise SandboxError("The order does not exist.", ["orderId"])
        wanted = []
        for i, item in enumerate(input.get("refundLineItems") or []):
            line = lookup(store, item["lineItemId"], "LineItem")
            if line is None or line.order_id != order.id:
                raise SandboxError("Line item does not exist.", ["refundLineItems", str(i)])
            if item["quantity"] <= 0 or item["quantity"] > line.current_quantity:
                raise SandboxError(
                    "Quantity cannot refund more items than were purchased.",
                    ["refundLineItems", str(i), "quantity"],
                )
            wanted.append((line, item["quantity"], item.get("restockType") or "NO_RESTOCK"))
    except SandboxError as error:
        return {"refund": None, "order": None, "userErrors": [error.as_user_error()]}
    for line, quantity, restock_type in wanted:
        removed = remove_units(store, line, quantity, restock=restock_type != "NO_RESTOCK")
        line.current_quantity -= quantity - removed  # fulfilled units refunded (a return)
    live = sum(li.current_quantity for li in order.line_items)
    order.financial_status = "REFUNDED" if live == 0 else "PARTIALLY_REFUNDED"
    store.touch(order)
    refund = {"id": gid("Refund", next_id()), "note": input.get("note"), "order": order}
    return {"refund": refund, "order": order, "userErrors": []}
