"""Fulfillment pushback reads: LGL's shipments (typed, from the LGL store), their lines, and the
state of the retailer order they go onto."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.fulfillment_orders import read_fulfillment_orders
from lgl_sync.sync.fulfillments.rules import (
    RetailerFulfillment,
    RetailerOrder,
    Shipment,
    ShippedOrder,
    Tracking,
)

ORDERS_PER_PAGE = 50  # LglShippedOrders requests 2 + 3 per order (its lists are counted once)
LINES_PER_LOOKUP = 9  # FulfillmentLines costs 103 per fulfillment


def tracking_of(fulfillment: dict[str, Any]) -> Tracking:
    """A fulfillment's carrier and every tracking number with its URL, in order."""
    infos = fulfillment.get("trackingInfo") or []
    company = next((i.get("company") for i in infos if i.get("company")), None)
    numbers = tuple(i["number"] for i in infos if i.get("number"))
    urls = tuple(i.get("url") for i in infos if i.get("number"))
    return Tracking(company, numbers, urls)


def shipped_order(node: dict[str, Any]) -> ShippedOrder:
    """A LglShippedOrders node as a ShippedOrder."""
    tags = tuple(node.get("tags") or ())
    shipments = tuple(
        Shipment(
            node["id"],
            node["name"],
            f["id"],
            f.get("status"),
            tracking_of(f),
            node.get("sourceIdentifier"),
            tags,
            datetime.fromisoformat(f["createdAt"].replace("Z", "+00:00"))
            if f.get("createdAt")
            else None,
        )
        for f in node.get("fulfillments") or []
    )
    return ShippedOrder(
        node["id"], node["name"], node.get("displayFulfillmentStatus"), tags, shipments
    )


def read_shipped_orders(
    lgl: ShopifyClient,
    retailer_id: str,
    since: datetime,
    by_id: tuple[str, ...] = (),
    *,
    changes_only: bool = False,
    expected: int | None = None,
) -> list[ShippedOrder]:
    """LGL orders imported from the retailer that changed since ``since`` and have shipments,
    plus the ``by_id`` orders (LGL order ids) the search does not find.

    A full read (the lookback) searches shipped and partly shipped orders: in one bulk
    operation (its cost flat, where a search page costs 3 points an order), unless the orders
    imported in the lookback (``expected``) fit one page, read at once. It is given the
    pushed orders by id: once every shipment of an order is voided it is unshipped again, and
    its void must still reach the retailer. A read of changes only (``changes_only``, since the
    last read) takes every changed order with a fulfillment, voided ones included."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"tag:'imported-from-{retailer_id}' updated_at:>='{stamp}'"
    if not changes_only:
        query += " (fulfillment_status:shipped OR fulfillment_status:partial)"
    if changes_only or (expected is not None and expected <= ORDERS_PER_PAGE):
        nodes = lgl.paginate(
            "LglShippedOrders", {"query": query}, path="orders", page_size=ORDERS_PER_PAGE
        )
    else:  # the lookback's hundreds of orders: one bulk operation, a flat cost
        literals = {"RETAILER": retailer_id, "SINCE": stamp}
        nodes = lgl.bulk_objects("LglShippedOrdersBulk", literals=literals)
    found = [shipped_order(node) for node in nodes if node.get("fulfillments")]
    seen = {order.id for order in found}
    missing = sorted(set(by_id) - seen)
    for start in range(0, len(missing), ORDERS_PER_PAGE):
        nodes = lgl.query("LglOrdersByIds", {"ids": missing[start : start + ORDERS_PER_PAGE]})
        found += [shipped_order(n) for n in nodes["nodes"] if n and n.get("fulfillments")]
    return found


def _lines(nodes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(i["lineItem"]["sku"], i["quantity"]) for i in nodes]


def shipment_lines(lgl: ShopifyClient, fulfillment_ids: list[str]) -> dict[str, list]:
    """(sku, quantity) per LGL fulfillment, every line: several fulfillments per request, and
    the rest of a long one paged."""
    found: dict[str, list[tuple[str, int]]] = {}
    for start in range(0, len(fulfillment_ids), LINES_PER_LOOKUP):
        batch = fulfillment_ids[start : start + LINES_PER_LOOKUP]
        for node in lgl.query("FulfillmentLines", {"ids": batch})["nodes"]:
            if node:
                found[node["id"]] = _lines(_fulfillment_lines(lgl, node))
    return found


def _fulfillment_lines(client: ShopifyClient, node: dict[str, Any]) -> list[dict[str, Any]]:
    return client.complete(
        node["fulfillmentLineItems"],
        "FulfillmentLineItems",
        {"id": node["id"]},
        path="node.fulfillmentLineItems",
    )


def retailer_fulfillment(client: ShopifyClient, node: dict[str, Any]) -> RetailerFulfillment:
    """A fulfillment of RetailerOrderFulfillmentState as a RetailerFulfillment, all its lines."""
    return RetailerFulfillment(
        node["id"],
        node.get("status"),
        frozenset(i["number"] for i in node.get("trackingInfo") or [] if i.get("number")),
        tuple(_lines(_fulfillment_lines(client, node))),
    )


def retailer_order_state(store: ShopifyClient, order_id: str) -> RetailerOrder | None:
    """The retailer order's cancellation, fulfillment orders and fulfillments, each read whole,
    or None when the order cannot be read (deleted, or older than the token may see)."""
    state = store.query("RetailerOrderFulfillmentState", {"id": order_id})["order"]
    if state is None:
        return None
    return RetailerOrder(
        state["id"],
        state["name"],
        state.get("cancelledAt") is not None,
        tuple(read_fulfillment_orders(store, state["id"], state["fulfillmentOrders"])),
        tuple(retailer_fulfillment(store, f) for f in state.get("fulfillments") or []),
    )


def retailer_order_by_number(store: ShopifyClient, number: str) -> str | None:
    """The retailer order named ``#<number>`` (orders the old system imported carry only it)."""
    nodes = store.query("RetailerOrderByName", {"query": f"name:{number}"})["orders"]["nodes"]
    return next((n["id"] for n in nodes if n["name"].lstrip("#") == number), None)
