"""The old Node scripts' algorithms, reimplemented faithfully for side-by-side benchmarks.

What they did (from the issue history): one `first: 50` page of paid orders (orders past the
first 50 were never seen), a SKU lookup per line item, `orderCreate` then a tag; per-SKU
lookups and an absolute write per SKU for inventory (no compare-and-set: sales in between were
overwritten); pushback of the first shipment only. Plain HTTP, no cost accounting: a THROTTLED
answer is waited out for a second and retried, as they did. The mutations are written the way
API 2026-10 accepts them (@idempotent, changeFromQuantity: null), which the old scripts
predate; the request pattern is theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from lgl_sync.sync.orders.rules import IMPORTED_TAG

API = "2026-10"

PAID_ORDERS = """
query OldPaidOrders($query: String!) {
  orders(first: 50, query: $query) {
    nodes {
      id name email
      shippingAddress { firstName lastName address1 city provinceCode zip countryCodeV2 }
      lineItems(first: 10) { nodes { sku quantity } }
    }
  }
}"""
VARIANT_BY_SKU = """
query OldVariantBySku($query: String!) {
  productVariants(first: 1, query: $query) { nodes { id sku inventoryItem { id } } }
}"""
LEVEL_BY_SKU = """
query OldLevelBySku($query: String!, $location: ID!) {
  productVariants(first: 1, query: $query) {
    nodes { sku inventoryItem { inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } } }
  }
}"""
CATALOG_PAGE = """
query OldCatalog($after: String) {
  productVariants(first: 50, after: $after) {
    nodes { sku }
    pageInfo { hasNextPage endCursor }
  }
}"""
ORDER_CREATE = """
mutation OldOrderCreate($order: OrderCreateOrderInput!) {
  orderCreate(order: $order) { order { id } userErrors { field message } }
}"""
TAGS_ADD = """
mutation OldTagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
SET_QUANTITY = """
mutation OldSet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    userErrors { field message }
  }
}"""
SHIPPED_LGL_ORDERS = """
query OldShipped($query: String!) {
  orders(first: 50, query: $query) {
    nodes { sourceIdentifier fulfillments(first: 1) { trackingInfo { company number url } } }
  }
}"""
RETAILER_FOS = """
query OldFos($id: ID!) {
  order(id: $id) { fulfillmentOrders(first: 10) { nodes { id status assignedLocation {
    location { id } } } } }
}"""
FULFILL = """
mutation OldFulfill($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id } userErrors { message } }
}"""


@dataclass
class OldClient:
    """The old scripts' fetch: POST, wait a second on THROTTLED, count requests."""

    base: str
    token: str
    sleep: object  # the sandbox clock's sleep, so a wait costs simulated, not real, time
    requests: int = 0

    def call(self, query: str, variables: dict) -> dict:
        while True:
            self.requests += 1
            response = requests.post(
                f"{self.base}/admin/api/{API}/graphql.json",
                json={"query": query, "variables": variables},
                headers={"X-Shopify-Access-Token": self.token},
                timeout=30,
            )
            body = response.json()
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                self.sleep(1.0)
                continue
            if errors:
                raise RuntimeError(f"old script error: {errors[0].get('message')}")
            return body["data"]


def _address(address: dict | None) -> dict | None:
    if not address:
        return None
    fields = {k: v for k, v in address.items() if k != "countryCodeV2"}
    return {**fields, "countryCode": address.get("countryCodeV2")}


def import_orders(
    retailer: OldClient, lgl: OldClient, retailer_id: str, lookback_hours: int = 6
) -> int:
    """One page of 50 paid orders; per line a SKU lookup; orderCreate; tag. Returns imports."""
    since = (datetime.now(UTC) - timedelta(hours=lookback_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = retailer.call(
        PAID_ORDERS,
        {"query": f"financial_status:paid -tag:{IMPORTED_TAG} status:open created_at:>={since}"},
    )
    imported = 0
    for order in data["orders"]["nodes"]:
        lines = []
        for line in order["lineItems"]["nodes"]:
            found = lgl.call(VARIANT_BY_SKU, {"query": f"sku:{line['sku']}"})
            variants = found["productVariants"]["nodes"]
            if variants:
                lines.append({"variantId": variants[0]["id"], "quantity": line["quantity"]})
        if not lines:
            continue
        lgl.call(
            ORDER_CREATE,
            {
                "order": {
                    "lineItems": lines,
                    "email": order["email"],
                    "shippingAddress": _address(order["shippingAddress"]),
                    "sourceIdentifier": f"{retailer_id}:{order['id'].rsplit('/', 1)[1]}",
                    "tags": ["old-script"],
                }
            },
        )
        retailer.call(TAGS_ADD, {"id": order["id"], "tags": [IMPORTED_TAG]})
        imported += 1
    return imported


def sync_inventory(
    lgl: OldClient, retailer: OldClient, lgl_location: str, location: str, limit: int | None = None
) -> int:
    """Every LGL SKU: its LGL level, the retailer's item, an absolute write. Returns writes.
    ``limit`` stops after that many SKUs (a sample, for the largest benchmark)."""
    skus, after = [], None
    while limit is None or len(skus) < limit:
        page = lgl.call(CATALOG_PAGE, {"after": after})["productVariants"]
        skus += [n["sku"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    writes = 0
    for sku in skus[:limit]:
        level = lgl.call(LEVEL_BY_SKU, {"query": f"sku:{sku}", "location": lgl_location})
        nodes = level["productVariants"]["nodes"]
        at_lgl = nodes and nodes[0]["inventoryItem"]["inventoryLevel"]
        quantity = at_lgl["quantities"][0]["quantity"] if at_lgl else 0
        found = retailer.call(VARIANT_BY_SKU, {"query": f"sku:{sku}"})["productVariants"]["nodes"]
        if not found:
            continue
        retailer.call(
            SET_QUANTITY,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "quantities": [
                        {
                            "inventoryItemId": found[0]["inventoryItem"]["id"],
                            "locationId": location,
                            "quantity": quantity,
                            "changeFromQuantity": None,
                        }
                    ],
                },
                "key": str(uuid.uuid4()),
            },
        )
        writes += 1
    return writes


def push_first_shipments(lgl: OldClient, retailer: OldClient, retailer_id: str, location: str):
    """One page of shipped LGL orders; the first shipment of each pushed whole."""
    data = lgl.call(SHIPPED_LGL_ORDERS, {"query": "fulfillment_status:shipped,partial"})
    pushed = 0
    for order in data["orders"]["nodes"]:
        source = order.get("sourceIdentifier") or ""
        if not source.startswith(f"{retailer_id}:") or not order["fulfillments"]:
            continue
        source_gid = "gid://shopify/Order/" + source.split(":", 1)[1]
        fos = retailer.call(RETAILER_FOS, {"id": source_gid})["order"]["fulfillmentOrders"]
        for fo in fos["nodes"]:
            if fo["status"] != "OPEN" or fo["assignedLocation"]["location"]["id"] != location:
                continue
            tracking = order["fulfillments"][0]["trackingInfo"][:1]
            retailer.call(
                FULFILL,
                {
                    "fulfillment": {
                        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}],
                        "trackingInfo": {
                            "company": tracking[0]["company"],
                            "number": tracking[0]["number"],
                        }
                        if tracking
                        else None,
                    }
                },
            )
            pushed += 1
    return pushed
