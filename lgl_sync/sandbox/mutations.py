"""Mutation resolvers: Shopify's write semantics and user errors (FACTS.md §3-§5)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, value_from_ast_untyped

from lgl_sync.sandbox.models import TrackingInfo, gid
from lgl_sync.sandbox.resolvers import RequestContext, lookup, parse_gid
from lgl_sync.sandbox.state import SandboxError, next_id

# FACTS.md §3 and the mutations' own descriptions: required from 2026-04.
IDEMPOTENT_REQUIRED = {"inventorySetQuantities", "inventoryAdjustQuantities", "inventoryActivate"}
INVENTORY_REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}
# Carriers for which Shopify builds the tracking URL itself (FACTS.md §5.1).
CARRIER_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?qtc_tLabels1={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}",
}


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    return info.context


def _payload(errors_key: str = "userErrors", **fields: Any):
    def build(error: SandboxError | None = None) -> dict[str, Any]:
        body = {k: (None if error else v) for k, v in fields.items()}
        body[errors_key] = [error.as_user_error()] if error else []
        return body

    return build


def idempotency_key(info: GraphQLResolveInfo) -> str | None:
    """The ``@idempotent(key:)`` on this field, if the request carries one."""
    for directive in info.field_nodes[0].directives or ():
        if directive.name.value == "idempotent":
            for arg in directive.arguments:
                if arg.name.value == "key":
                    return value_from_ast_untyped(arg.value, info.variable_values)
    return None


def _idempotent(resolver):
    """Replays the first result for a repeated key; refuses a key reused for other input."""

    def resolve(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx = _ctx(info)
        key = idempotency_key(info)
        if key is None:
            if info.field_name in IDEMPOTENT_REQUIRED and ctx.version >= "2026-04":
                raise GraphQLError(
                    f"The @idempotent directive is required for {info.field_name} "
                    f"as of API version 2026-04.",
                    extensions={"code": "BAD_REQUEST"},
                )
            return resolver(root, info, **args)
        fingerprint = json.dumps([info.field_name, args], sort_keys=True, default=str)
        scoped = f"{info.field_name}:{key}"
        previous = ctx.store.idempotency.get(scoped)
        if previous is not None:
            if previous[0] != fingerprint:
                return {
                    "inventoryAdjustmentGroup": None,
                    "inventoryLevel": None,
                    "userErrors": [
                        {
                            "field": None,
                            "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                            "message": "The idempotency key was already used with "
                            "different parameters.",
                        }
                    ],
                }
            return previous[1]
        result = resolver(root, info, **args)
        ctx.store.idempotency[scoped] = (fingerprint, result)
        return result

    return resolve


def _changes_group(ctx: RequestContext, reason: str, uri: str | None, changes: list) -> dict:
    return {
        "id": gid("InventoryAdjustmentGroup", next_id()),
        "createdAt": ctx.store.now(),
        "reason": reason,
        "referenceDocumentUri": uri,
        "changes": changes,
    }


def _check_inventory_input(ctx: RequestContext, name: str, reason: str) -> None:
    if name not in ("available", "on_hand"):
        raise SandboxError(
            f"The quantity name '{name}' is not valid.", ["input", "name"], "INVALID_NAME"
        )
    if reason not in INVENTORY_REASONS:
        raise SandboxError("The reason is not valid.", ["input", "reason"], "INVALID_REASON")


@_idempotent
def inventory_set_quantities(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    """Absolute quantities with compare-and-set: one stale ``changeFromQuantity`` rejects all."""
    ctx = _ctx(info)
    store = ctx.store
    build = _payload(inventoryAdjustmentGroup=None)
    try:
        _check_inventory_input(ctx, input["name"], input["reason"])
        planned, seen = [], set()
        for i, q in enumerate(input["quantities"]):
            path = ["input", "quantities", str(i)]
            if "changeFromQuantity" not in q and ctx.version >= "2026-04":
                raise SandboxError(
                    "changeFromQuantity must be provided (use null to skip the check).",
                    [*path, "changeFromQuantity"],
                    "COMPARE_QUANTITY_REQUIRED",
                )
            item = lookup(store, q["inventoryItemId"], "InventoryItem")
            if item is None:
                raise SandboxError(
                    "The specified inventory item could not be found.",
                    [*path, "inventoryItemId"],
                    "INVALID_INVENTORY_ITEM",
                )
            location = lookup(store, q["locationId"], "Location")
            if location is None:
                raise SandboxError(
                    "The specified location could not be found.",
                    [*path, "locationId"],
                    "INVALID_LOCATION",
                )
            if (item.id, location.id) in seen:
                raise SandboxError(
                    "The combination of inventoryItemId and locationId must be unique.",
                    path,
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                )
            seen.add((item.id, location.id))
            if q["quantity"] < -1_000_000_000 or q["quantity"] > 1_000_000_000:
                raise SandboxError(
                    "The quantity is out of range.",
                    [*path, "quantity"],
                    "INVALID_QUANTITY_TOO_HIGH",
                )
            planned.append((path, item, location, q))
        for path, item, location, q in planned:
            level = item.levels.get(location.id)
            current = level.quantities[input["name"]] if level else 0
            expected = q.get("changeFromQuantity")
            if expected is not None and expected != current:
                raise SandboxError(
                    "The specified compare quantity does not match the current quantity.",
                    [*path, "changeFromQuantity"],
                    "CHANGE_FROM_QUANTITY_STALE",
                )
    except SandboxError as error:
        return build(error)
    changes = []
    for _path, item, location, q in planned:
        # 2026-10: inventory can be set at any location; an unstocked item is stocked.
        level = item.levels.get(location.id) or store.stock(item.id, location.id, 0)
        delta = store.set_quantity(level, input["name"], q["quantity"])
        for name in ("available", "on_hand"):
            changes.append(
                {
                    "name": name,
                    "delta": delta,
                    "item": item,
                    "location": location,
                    "quantityAfterChange": level.quantities[name],
                }
            )
    return {
        "inventoryAdjustmentGroup": _changes_group(
            ctx, input["reason"], input.get("referenceDocumentUri"), changes
        ),
        "userErrors": [],
    }


@_idempotent
def inventory_adjust_quantities(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    """Relative changes, optionally compare-and-set per change."""
    ctx = _ctx(info)
    store = ctx.store
    build = _payload(inventoryAdjustmentGroup=None)
    try:
        _check_inventory_input(ctx, input["name"], input["reason"])
        planned = []
        for i, change in enumerate(input["changes"]):
            path = ["input", "changes", str(i)]
            item = lookup(store, change["inventoryItemId"], "InventoryItem")
            location = lookup(store, change["locationId"], "Location")
            if item is None or location is None:
                raise SandboxError(
                    "The specified inventory item or location could not be found.",
                    path,
                    "INVALID_INVENTORY_ITEM",
                )
            level = item.levels.get(location.id)
            current = level.quantities[input["name"]] if level else 0
            expected = change.get("changeFromQuantity")
            if expected is not None and expected != current:
                raise SandboxError(
                    "The specified compare quantity does not match the current quantity.",
                    [*path, "changeFromQuantity"],
                    "CHANGE_FROM_QUANTITY_STALE",
                )
            planned.append((item, location, change["delta"]))
    except SandboxError as error:
        return build(error)
    changes = []
    for item, location, delta in planned:
        level = item.levels.get(location.id) or store.stock(item.id, location.id, 0)
        store.set_quantity(level, input["name"], level.quantities[input["name"]] + delta)
        changes.append(
            {
                "name": input["name"],
                "delta": delta,
                "item": item,
                "location": location,
                "quantityAfterChange": level.quantities[input["name"]],
            }
        )
    return {
        "inventoryAdjustmentGroup": _changes_group(
            ctx, input["reason"], input.get("referenceDocumentUri"), changes
        ),
        "userErrors": [],
    }


@_idempotent
def inventory_activate(
    _: Any,
    info: GraphQLResolveInfo,
    inventoryItemId: str,
    locationId: str,
    available: int | None = None,
    **_args: Any,
) -> dict:
    store = _ctx(info).store
    item = lookup(store, inventoryItemId, "InventoryItem")
    location = lookup(store, locationId, "Location")
    if item is None or location is None:
        return {
            "inventoryLevel": None,
            "userErrors": [
                {"field": ["inventoryItemId"], "message": "Inventory item or location not found."}
            ],
        }
    if location.id in item.levels:
        level = item.levels[location.id]  # activating keeps the existing quantity (2026-04)
    else:
        level = store.stock(item.id, location.id, available or 0)
    return {"inventoryLevel": level, "userErrors": []}


def _money(value: dict | None, fallback: Decimal) -> Decimal:
    if not value:
        return fallback
    try:
        return Decimal(str(value["shopMoney"]["amount"]))
    except (InvalidOperation, KeyError, TypeError):
        return fallback


def _tags(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        for tag in value.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in (t.lower() for t in out):
                out.append(tag)
    return out


def order_create(_: Any, info: GraphQLResolveInfo, order: dict, options: dict | None = None):
    """Creates an order with fulfillment orders per routed location. No idempotency."""
    store = _ctx(info).store
    build = _payload(order=None)
    options = options or {}
    behaviour = options.get("inventoryBehaviour") or "BYPASS"
    lines = []
    try:
        if not order.get("lineItems"):
            raise SandboxError(
                "Line items must have at least one item.", ["order", "lineItems"], "INVALID"
            )
        for i, line in enumerate(order["lineItems"]):
            path = ["order", "lineItems", str(i)]
            if line["quantity"] <= 0:
                raise SandboxError(
                    "Quantity must be greater than 0.", [*path, "quantity"], "INVALID"
                )
            spec: dict[str, Any] = {
                "quantity": line["quantity"],
                "title": line.get("title"),
                "vendor": line.get("vendor"),
            }
            if line.get("variantId"):
                variant = lookup(store, line["variantId"], "ProductVariant")
                if variant is None:
                    raise SandboxError("Variant does not exist.", [*path, "variantId"], "INVALID")
                spec.update(
                    variant_id=variant.id, price=_money(line.get("priceSet"), variant.price)
                )
                if behaviour == "DECREMENT_OBEYING_POLICY":
                    item = store.inventory_items[variant.inventory_item_id]
                    location = variant.ships_from_location_id or store.primary_location_id
                    level = item.levels.get(location)
                    if level is None or level.quantities["available"] < line["quantity"]:
                        raise SandboxError(
                            "Unable to reserve inventory.", path, "INVENTORY_CLAIM_FAILED"
                        )
            else:
                if not line.get("title"):
                    raise SandboxError(
                        "Title can't be blank for a custom line item.", [*path, "title"], "INVALID"
                    )
                spec.update(sku=line.get("sku"), price=_money(line.get("priceSet"), Decimal("0")))
            lines.append(spec)
    except SandboxError as error:
        return build(error)
    created = store.create_order(
        lines=lines,
        financial_status=order.get("financialStatus") or "PENDING",
        decrement_inventory=behaviour != "BYPASS",
        email=order.get("email"),
        phone=order.get("phone"),
        note=order.get("note"),
        tags=_tags(order.get("tags")),
        po_number=order.get("poNumber"),
        source_identifier=order.get("sourceIdentifier"),
        source_name=order.get("sourceName") or "api",
        test=bool(order.get("test")),
        custom_attributes=[(a["key"], a["value"]) for a in order.get("customAttributes") or []],
        shipping_address=order.get("shippingAddress"),
        billing_address=order.get("billingAddress"),
    )
    for mf in order.get("metafields") or []:
        from lgl_sync.sandbox.models import Metafield

        created.metafields[(mf.get("namespace") or "custom", mf["key"])] = Metafield(
            next_id(),
            mf.get("namespace") or "custom",
            mf["key"],
            mf["value"],
            mf.get("type") or "single_line_text_field",
        )
    return {"order": created, "userErrors": []}


def order_update(_: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    store = _ctx(info).store
    order = lookup(store, input["id"], "Order")
    if order is None:
        return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
    for key, attr in (
        ("email", "email"),
        ("note", "note"),
        ("poNumber", "po_number"),
        ("shippingAddress", "shipping_address"),
    ):
        if key in input:
            setattr(order, attr, input[key])
    if "tags" in input:
        order.tags = _tags(input["tags"])
    if "customAttributes" in input:
        order.custom_attributes = [(a["key"], a["value"]) for a in input["customAttributes"]]
    store.touch(order)
    return {"order": order, "userErrors": []}


def order_cancel(_: Any, info: GraphQLResolveInfo, orderId: str, restock: bool, **_a: Any):
    store = _ctx(info).store
    order = lookup(store, orderId, "Order")
    try:
        if order is None:
            raise SandboxError("Order does not exist.", ["orderId"], "NOT_FOUND")
        store.cancel_order(order, restock=restock)
    except SandboxError as error:
        user_error = error.as_user_error()
        return {
            "orderCancelUserErrors": [user_error],
            "userErrors": [{"field": user_error["field"], "message": error.message}],
        }
    return {"orderCancelUserErrors": [], "userErrors": []}


def _tags_change(add: bool):
    def resolve(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict:
        store = _ctx(info).store
        record = lookup(store, id)
        if record is None or not hasattr(record, "tags"):
            return {
                "node": None,
                "userErrors": [{"field": ["id"], "message": "Resource does not exist"}],
            }
        wanted = _tags(tags)
        if add:
            record.tags = _tags([*record.tags, *wanted])
        else:
            lowered = {t.lower() for t in wanted}
            record.tags = [t for t in record.tags if t.lower() not in lowered]
        store.touch(record)
        return {"node": record, "userErrors": []}

    return resolve


def _tracking(tracking: dict | None) -> list[TrackingInfo]:
    if not tracking:
        return []
    if tracking.get("number") and tracking.get("numbers"):
        raise SandboxError("Use number or numbers, not both.", ["fulfillment", "trackingInfo"])
    if tracking.get("url") and tracking.get("urls"):
        raise SandboxError("Use url or urls, not both.", ["fulfillment", "trackingInfo"])
    numbers = tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    urls = tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else [])
    company = tracking.get("company")
    infos = []
    for i, number in enumerate(numbers):
        url = urls[i] if i < len(urls) else None
        if url is None and company in CARRIER_URLS:
            url = CARRIER_URLS[company].format(number)
        infos.append(TrackingInfo(company, number, url))
    if not numbers and company:
        infos.append(TrackingInfo(company, None, None))
    return infos


def fulfillment_create(_: Any, info: GraphQLResolveInfo, fulfillment: dict, **_a: Any) -> dict:
    """Fulfills fulfillment order line items, all of one order and one location."""
    store = _ctx(info).store
    build = _payload(fulfillment=None)
    try:
        requests = []
        for i, group in enumerate(fulfillment["lineItemsByFulfillmentOrder"]):
            fo = lookup(store, group["fulfillmentOrderId"], "FulfillmentOrder")
            if fo is None:
                raise SandboxError(
                    "Fulfillment order does not exist.",
                    ["fulfillment", "lineItemsByFulfillmentOrder", str(i)],
                )
            items = group.get("fulfillmentOrderLineItems")
            wanted = None
            if items is not None:
                wanted = [
                    (
                        (parse_gid(li["id"], "FulfillmentOrderLineItem") or ("", -1))[1],
                        li["quantity"],
                    )
                    for li in items
                ]
            requests.append((fo, wanted))
        created = store.create_fulfillment(
            requests,
            _tracking(fulfillment.get("trackingInfo")),
            bool(fulfillment.get("notifyCustomer")),
        )
    except SandboxError as error:
        return build(error)
    return {"fulfillment": created, "userErrors": []}


def fulfillment_tracking_update(
    _: Any,
    info: GraphQLResolveInfo,
    fulfillmentId: str,
    trackingInfoInput: dict,
    notifyCustomer: bool | None = None,
):
    store = _ctx(info).store
    record = lookup(store, fulfillmentId, "Fulfillment")
    try:
        if record is None:
            raise SandboxError("Fulfillment does not exist.", ["fulfillmentId"])
        if record.status == "CANCELLED":
            raise SandboxError(
                "Cannot update tracking of a cancelled fulfillment.", ["fulfillmentId"]
            )
        record.tracking_info = _tracking(trackingInfoInput)
        record.notify_customer = bool(notifyCustomer)
        record.updated_at = store.now()
        store.touch(store.orders[record.order_id])
    except SandboxError as error:
        return {
            "fulfillment": None,
            "userErrors": [{"field": error.field, "message": error.message}],
        }
    return {"fulfillment": record, "userErrors": []}


def fulfillment_cancel(_: Any, info: GraphQLResolveInfo, id: str) -> dict:
    store = _ctx(info).store
    record = lookup(store, id, "Fulfillment")
    try:
        if record is None:
            raise SandboxError("Fulfillment does not exist.", ["id"])
        store.cancel_fulfillment(record)
    except SandboxError as error:
        return {
            "fulfillment": None,
            "userErrors": [{"field": error.field, "message": error.message}],
        }
    return {"fulfillment": record, "userErrors": []}


def _group_changes(
    group: dict, _: GraphQLResolveInfo, inventoryItemIds=None, locationIds=None, quantityNames=None
) -> list[dict]:
    out = []
    for change in group["changes"]:
        if quantityNames and change["name"] not in quantityNames:
            continue
        if inventoryItemIds and gid("InventoryItem", change["item"].id) not in inventoryItemIds:
            continue
        if locationIds and gid("Location", change["location"].id) not in locationIds:
            continue
        out.append(change)
    return out


def mutation_resolvers() -> dict[str, dict[str, Any]]:
    from lgl_sync.sandbox.bulk import bulk_operation_run_query

    return {
        "Mutation": {
            "orderCreate": order_create,
            "orderUpdate": order_update,
            "orderCancel": order_cancel,
            "tagsAdd": _tags_change(add=True),
            "tagsRemove": _tags_change(add=False),
            "fulfillmentCreate": fulfillment_create,
            "fulfillmentTrackingInfoUpdate": fulfillment_tracking_update,
            "fulfillmentCancel": fulfillment_cancel,
            "inventorySetQuantities": inventory_set_quantities,
            "inventoryAdjustQuantities": inventory_adjust_quantities,
            "inventoryActivate": inventory_activate,
            "bulkOperationRunQuery": bulk_operation_run_query,
        },
        "InventoryAdjustmentGroup": {"changes": _group_changes},
    }
