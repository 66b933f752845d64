"""The old Node scripts' algorithms, reimplemented faithfully for side-by-side benchmarks.

What they did (DESIGN.md and the issue history): one `first: 50` page of paid orders (orders
past the first 50 were never seen) with a query Shopify refuses as too costly (shown refused,
then a cheaper stand-in with the same pattern runs), a SKU lookup per line item, `orderCreate`
then two tags; for inventory two reads per SKU and an absolute write where they differ (no
compare-and-set: sales in between were overwritten), 1.5 s of sleep per 5 SKUs; pushback of the
first shipment only. Plain HTTP, no cost accounting: a THROTTLED
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
# The scripts' own orders query (DESIGN.md: 50 orders, 50 line items each, with what they read
# of each line). Shopify refuses it before running it: over the 1,000-point cap of one query
# (MAX_COST_EXCEEDED), so the benchmark shows it refused and runs PAID_ORDERS in its place, the
# same pattern at a cost Shopify accepts.
THEIR_PAID_ORDERS = """
query OldPaidOrdersAsWritten($query: String!) {
  orders(first: 50, query: $query) {
    nodes {
      id name email
      shippingAddress { firstName lastName address1 city provinceCode zip countryCodeV2 }
      lineItems(first: 50) {
        nodes {
          sku quantity
          variant { id inventoryItem { id } product { id title } }
          originalUnitPriceSet { shopMoney { amount } }
        }
      }
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
    nodes { sku inventoryItem { id inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } } }
  }
}"""
BATCH = 5  # SKUs between the scripts' sleeps
BATCH_SLEEP = 1.5  # seconds (DESIGN.md: batches of 5 with 1.5 s sleeps)
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

    def refused_cost(self, query: str, variables: dict) -> int | None:
        """Sends ``query`` once; the cost Shopify names when it refuses it as too costly."""
        self.requests += 1
        body = requests.post(
            f"{self.base}/admin/api/{API}/graphql.json",
            json={"query": query, "variables": variables},
            headers={"X-Shopify-Access-Token": self.token},
            timeout=30,
        ).json()
        for error in body.get("errors") or []:
            extensions = error.get("extensions") or {}
            if extensions.get("code") == "MAX_COST_EXCEEDED":
                return int(extensions.get("cost") or 0)
        return None

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
    retailer: OldClient,
    lgl: OldClient,
    retailer_id: str,
    lookback_hours: int = 6,
    refused: list[int] | None = None,
) -> int:
    """One page of 50 paid orders; per line a SKU lookup; orderCreate; two tags (the source
    order, then the LGL order). Returns imports; the cost at which Shopify refused the scripts'
    own query goes to ``refused``."""
    since = (datetime.now(UTC) - timedelta(hours=lookback_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = {"query": f"financial_status:paid -tag:{IMPORTED_TAG} status:open created_at:>={since}"}
    cost = retailer.refused_cost(THEIR_PAID_ORDERS, query)
    if refused is not None and cost:
        refused.append(cost)
    data = retailer.call(PAID_ORDERS, query)
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
        created = lgl.call(
            ORDER_CREATE,
            {
                "order": {
                    "lineItems": lines,
                    "email": order["email"],
                    "shippingAddress": _address(order["shippingAddress"]),
                    "sourceIdentifier": f"{retailer_id}:{order['id'].rsplit('/', 1)[1]}",
                }
            },
        )
        retailer.call(TAGS_ADD, {"id": order["id"], "tags": [IMPORTED_TAG]})
        lgl_order = (created["orderCreate"].get("order") or {}).get("id")
        if lgl_order:
            lgl.call(TAGS_ADD, {"id": lgl_order, "tags": ["old-script", retailer_id]})
        imported += 1
    return imported


def sync_inventory(
    lgl: OldClient, retailer: OldClient, lgl_location: str, location: str, limit: int | None = None
) -> int:
    """Every LGL SKU: its LGL level, then the retailer's item and level (two reads), and an
    absolute write when they differ; 1.5 s of sleep after every 5 SKUs. Returns writes.
    ``limit`` stops after that many SKUs (a sample, for the largest benchmark)."""
    skus, after = [], None
    while limit is None or len(skus) < limit:
        page = lgl.call(CATALOG_PAGE, {"after": after})["productVariants"]
        skus += [n["sku"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    writes = 0
    for done, sku in enumerate(skus[:limit], start=1):
        quantity = _level(lgl, sku, lgl_location)[1]
        item, current = _level(retailer, sku, location)
        if item is not None and current != quantity:
            _set(retailer, item, location, quantity)
            writes += 1
        if done % BATCH == 0:
            retailer.sleep(BATCH_SLEEP)
    return writes


def _level(client: OldClient, sku: str, location: str) -> tuple[str | None, int]:
    """(inventory item id, available at the location; 0 when not stocked there)."""
    found = client.call(LEVEL_BY_SKU, {"query": f"sku:{sku}", "location": location})
    nodes = found["productVariants"]["nodes"]
    if not nodes:
        return None, 0
    item = nodes[0]["inventoryItem"]
    level = item.get("inventoryLevel")
    return item["id"], level["quantities"][0]["quantity"] if level else 0


def _set(retailer: OldClient, item: str, location: str, quantity: int) -> None:
    retailer.call(
        SET_QUANTITY,
        {
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [
                    {
                        "inventoryItemId": item,
                        "locationId": location,
                        "quantity": quantity,
                        "changeFromQuantity": None,
                    }
                ],
            },
            "key": str(uuid.uuid4()),
        },
    )


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
