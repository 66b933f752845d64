"""Reading an order's fulfillment orders whole, on any store: both the order import (which lines
LGL must ship) and the pushback (where a shipment goes) decide on them (FACTS.md §4.2)."""

from __future__ import annotations

from typing import Any

from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.models import FulfillmentOrder, fulfillment_order


def read_fulfillment_orders(
    client: ShopifyClient, order_id: str, connection: dict[str, Any]
) -> list[FulfillmentOrder]:
    """The order's fulfillment orders with all their lines, from the first page that came
    with the order (``...FulfillmentOrderWithLines``), paging both levels to the end."""
    nodes = client.complete(
        connection,
        "OrderFulfillmentOrders",
        {"id": order_id},
        path="order.fulfillmentOrders",
        page_size=10,
    )
    return [fulfillment_order({**fo, "lineItems": _all_lines(client, fo)}) for fo in nodes]


def _all_lines(client: ShopifyClient, fo: dict[str, Any]) -> list[dict[str, Any]]:
    return client.complete(
        fo["lineItems"], "FulfillmentOrderLineItems", {"id": fo["id"]}, path="node.lineItems"
    )
