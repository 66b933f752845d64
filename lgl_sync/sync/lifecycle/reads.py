"""Order lifecycle reads: imported retailer orders changed since a mark (search, paged to the
end), and the LGL orders they became (read by id, never through search)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.lifecycle.rules import (
    OPEN_STATUSES,
    RETAILER_HOLD_HANDLE,
    LglLine,
    LglOrderState,
    SourceChange,
)
from lgl_sync.sync.orders.reads import parse_datetime
from lgl_sync.sync.orders.rules import IMPORTED_TAG

IDS_PER_REQUEST = 5  # each order: 1 + 50 lines x 2 + 10 fulfillment orders x 2 by the formula
HOLD_PROBES_PER_REQUEST = 50  # LglOrderHolds: each order 1 + 2 + 10 fulfillment orders


def changed_since(client: ShopifyClient, since: datetime) -> list[SourceChange]:
    """Imported retailer orders whose ``updated_at`` is at or after ``since``."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        SourceChange(
            node["id"],
            node["name"],
            parse_datetime(node["cancelledAt"]) if node.get("cancelledAt") else None,
            node.get("shippingAddress"),
            node.get("displayFulfillmentStatus") == "FULFILLED",
        )
        for node in client.paginate(
            "RetailerChangedOrders",
            {"query": f"tag:{IMPORTED_TAG} updated_at:>='{stamp}'"},
            path="orders",
            page_size=100,
        )
    ]


def _line(node: dict[str, Any]) -> LglLine:
    return LglLine(
        node["id"],
        node.get("sku"),
        (node.get("variant") or {}).get("id"),
        node.get("currentQuantity") or 0,
        node.get("unfulfilledQuantity") or 0,
    )


def _state(
    node: dict[str, Any], fulfillment_orders: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> LglOrderState:
    return LglOrderState(
        id=node["id"],
        name=node["name"],
        cancelled=node.get("cancelledAt") is not None,
        shipped=any(f.get("status") == "SUCCESS" for f in node.get("fulfillments") or []),
        open_fulfillment_orders=tuple(
            fo["id"] for fo in fulfillment_orders if fo.get("status") in OPEN_STATUSES
        ),
        on_hold=any(fo.get("status") == "ON_HOLD" for fo in fulfillment_orders),
        lines=tuple(_line(line) for line in lines),
        retailer_holds=tuple(
            (fo["id"], hold["id"])
            for fo in fulfillment_orders
            for hold in fo.get("fulfillmentHolds") or ()
            if hold.get("handle") == RETAILER_HOLD_HANDLE
        ),
        created_at=parse_datetime(node["createdAt"]) if node.get("createdAt") else None,
    )


def lgl_order_states(lgl: ShopifyClient, ids: list[str]) -> dict[str, LglOrderState]:
    """The LGL orders with these ids, as they are now (an order not found is left out)."""
    found: dict[str, LglOrderState] = {}
    for start in range(0, len(ids), IDS_PER_REQUEST):
        nodes = lgl.query("LglOrderStates", {"ids": ids[start : start + IDS_PER_REQUEST]})
        for node in nodes["nodes"]:
            if node:
                fulfillment_orders = lgl.complete(
                    node["fulfillmentOrders"],
                    "OrderFulfillmentOrders",
                    {"id": node["id"]},
                    path="order.fulfillmentOrders",
                    page_size=10,
                )
                lines = lgl.complete(
                    node["lineItems"],
                    "LglOrderLineItems",
                    {"id": node["id"]},
                    path="order.lineItems",
                    page_size=50,
                )
                found[node["id"]] = _state(node, fulfillment_orders, lines)
    return found


def orders_on_hold(lgl: ShopifyClient, ids: list[str]) -> set[str]:
    """Those of these LGL orders with a fulfillment order on hold, or with more fulfillment
    orders than one page shows (whether one is held is then unknown: read them whole)."""
    held: set[str] = set()
    for start in range(0, len(ids), HOLD_PROBES_PER_REQUEST):
        batch = ids[start : start + HOLD_PROBES_PER_REQUEST]
        for node in lgl.query("LglOrderHolds", {"ids": batch})["nodes"]:
            if not node:
                continue
            page = node["fulfillmentOrders"]
            statuses = {fo.get("status") for fo in page["nodes"]}
            if "ON_HOLD" in statuses or page["pageInfo"]["hasNextPage"]:
                held.add(node["id"])
    return held
