"""Inventory mutations: compare-and-set quantities and idempotency keys (FACTS.md §3)."""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, value_from_ast_untyped

from shopify_sandbox.models import gid
from shopify_sandbox.mutations.support import context_of, payload
from shopify_sandbox.resolvers import RequestContext, lookup
from shopify_sandbox.state import SandboxError, next_id

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
        ctx = context_of(info)
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
        refused = _key_refusal(ctx.store, scoped)
        if refused is not None:
            return refused
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


def _key_refusal(store: Any, scoped: str) -> dict | None:
    """Shopify's two refusals of a key (FACTS.md §9, the 2026-10 enums): the first request
    with it is still running (``IDEMPOTENCY_CONCURRENT_REQUEST``: try again later), or it failed
    (``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED``: retry with a new key). The store's
    ``idempotency_faults`` make the next requests meet them: ``concurrent`` answers the first,
    ``failed`` fails the request with an internal error and remembers the key as failed."""

    def refusal(code: str, message: str) -> dict:
        error = {"field": None, "code": code, "message": message}
        return {"inventoryAdjustmentGroup": None, "inventoryLevel": None, "userErrors": [error]}

    if store.idempotency_faults.get("concurrent", 0) > 0:
        store.idempotency_faults["concurrent"] -= 1
        return refusal(
            "IDEMPOTENCY_CONCURRENT_REQUEST",
            "A request with this idempotency key is currently in progress. Try again.",
        )
    if scoped in store.failed_keys:
        return refusal(
            "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
            "The previous attempt with this idempotency key failed. Retry with a new key.",
        )
    if store.idempotency_faults.get("failed", 0) > 0:
        store.idempotency_faults["failed"] -= 1
        store.failed_keys.add(scoped)
        raise GraphQLError("Internal error", extensions={"code": "INTERNAL_SERVER_ERROR"})
    return None


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
    ctx = context_of(info)
    store = ctx.store
    build = payload(inventoryAdjustmentGroup=None)
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
    ctx = context_of(info)
    store = ctx.store
    build = payload(inventoryAdjustmentGroup=None)
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
    store = context_of(info).store
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


def group_changes(
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
