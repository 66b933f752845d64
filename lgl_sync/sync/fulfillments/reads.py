"""Fulfillment pushback reads: LGL's shipments (typed, from the LGL store), their lines, and the
state of the retailer order they go onto."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.models import fulfillment_order, nodes
from lgl_sync.sync.fulfillments.rules import (
    RetailerFulfillment,
    RetailerOrder,
    Shipment,
    ShippedOrder,
    Tracking,
)

ORDERS_PER_PAGE = 16  # LglShippedOrders costs 2 + 61 per order
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
    lgl: ShopifyClient, retailer_id: str, since: datetime
) -> list[ShippedOrder]:
    """LGL orders imported from the retailer that changed since ``since`` and have shipments."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"tag:'imported-from-{retailer_id}' updated_at:>='{stamp}' "
        "(fulfillment_status:shipped OR fulfillment_status:partial)"
    )
    return [
        shipped_order(node)
        for node in lgl.paginate(
            "LglShippedOrders", {"query": query}, path="orders", page_size=ORDERS_PER_PAGE
        )
    ]


def shipment_lines(lgl: ShopifyClient, fulfillment_ids: list[str]) -> dict[str, list]:
    """(sku, quantity) per LGL fulfillment, several fulfillments per request."""
    found: dict[str, list[tuple[str, int]]] = {}
    for start in range(0, len(fulfillment_ids), LINES_PER_LOOKUP):
        batch = fulfillment_ids[start : start + LINES_PER_LOOKUP]
        for node in lgl.query("FulfillmentLines", {"ids": batch})["nodes"]:
            if node:
                found[node["id"]] = [
                    (i["lineItem"]["sku"], i["quantity"])
                    for i in node["fulfillmentLineItems"]["nodes"]
                ]
    return found


def retailer_fulfillment(node: dict[str, Any]) -> RetailerFulfillment:
    """A fulfillment of RetailerOrderFulfillmentState as a RetailerFulfillment."""
    return RetailerFulfillment(
        node["id"],
        node.get("status"),
        frozenset(i["number"] for i in node.get("trackingInfo") or [] if i.get("number")),
        tuple(
            (item["lineItem"]["sku"], item["quantity"])
            for item in nodes(node.get("fulfillmentLineItems"))
        ),
    )


def retailer_order_state(store: ShopifyClient, order_id: str) -> RetailerOrder | None:
    """The retailer order's cancellation, fulfillment orders (with their lines) and
    fulfillments, or None when the order cannot be read."""
    state = store.query("RetailerOrderFulfillmentState", {"id": order_id})["order"]
    if state is None:
        return None
    return RetailerOrder(
        state["id"],
        state["name"],
        state.get("cancelledAt") is not None,
        tuple(fulfillment_order(fo) for fo in nodes(state["fulfillmentOrders"])),
        tuple(retailer_fulfillment(f) for f in state.get("fulfillments") or []),
    )


def retailer_order_by_number(store: ShopifyClient, number: str) -> str | None:
    """The retailer order named ``#<number>`` (orders the old system imported carry only it)."""
    nodes = store.query("RetailerOrderByName", {"query": f"name:{number}"})["orders"]["nodes"]
    return next((n["id"] for n in nodes if n["name"].lstrip("#") == number), None)
