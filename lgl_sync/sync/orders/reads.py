"""Order import reads: candidate orders from the retailer, variants and earlier imports from
the LGL store, each read to the end and mapped into the typed records of ``rules.py``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lgl_sync.shopify.client import ShopifyClient, raise_user_errors
from lgl_sync.shopify.fulfillment_orders import read_fulfillment_orders
from lgl_sync.shopify.models import (
    FULFILLMENT_SERVICE,
    MERCHANT_MANAGED,
    FulfillmentOrder,
    lgl_share,
)
from lgl_sync.sync.orders.rules import (
    CUSTOM_ID,
    LglVariant,
    SourceOrder,
    assigned_units,
    delivery_of,
    fulfilled_units,
    held_at,
    lgl_lines,
    search_query,
    sku_search,
    source_identifier,
)

ORDERS_PER_PAGE = 18  # EligibleOrders costs 2 + 53 per order: 956 of the 1,000-point cap
SKUS_PER_LOOKUP = 50
SHIP_DATE_KEYS = ("shipDate", "shippedDate", "flareShipDate", "flareShipDateRaw")


def parse_datetime(value: str) -> datetime:
    """Shopify's ``2026-11-24T12:00:00Z`` as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def source_order(
    node: dict[str, Any],
    fulfillment_orders: list[FulfillmentOrder],
    location_id: str,
    model: str = MERCHANT_MANAGED,
) -> SourceOrder:
    """A SourceOrder from an EligibleOrders node whose fulfillment orders are complete; at
    LGL's fulfillment service only the fulfillment orders requested from it count."""
    fulfillment_orders = lgl_share(fulfillment_orders, location_id, model)
    requests = tuple(
        (fo.id, fo.request_status)
        for fo in fulfillment_orders
        if model == FULFILLMENT_SERVICE and fo.location_id == location_id
    )
    ship_date = next((node[k]["value"] for k in SHIP_DATE_KEYS if node.get(k)), None)
    delivery, not_shipped = delivery_of(fulfillment_orders, location_id)
    line = node.get("shippingLine")
    return SourceOrder(
        id=node["id"],
        name=node["name"],
        created_at=parse_datetime(node["createdAt"]),
        financial_status=node.get("displayFinancialStatus"),
        cancelled=node.get("cancelledAt") is not None,
        tags=tuple(node.get("tags") or ()),
        email=node.get("email"),
        phone=node.get("phone"),
        note=node.get("note"),
        shipping_address=node.get("shippingAddress"),
        ship_date=ship_date,
        lines=lgl_lines(fulfillment_orders, location_id),
        assigned=assigned_units(fulfillment_orders, location_id),
        fulfilled=fulfilled_units(fulfillment_orders, location_id),
        held_at_retailer=held_at(fulfillment_orders, location_id),
        requests=requests,
        delivery=delivery,
        shipping_line=(line.get("title"), line.get("code")) if line else None,
        not_shipped=not_shipped,
    )


def lgl_variant(node: dict[str, Any]) -> LglVariant:
    """The LGL variant with its unit price for retailers: ``custom.retailer_cost``, else 0."""
    raw = (node.get("retailerCost") or {}).get("value")
    try:
        cost = Decimal(str(raw)) if raw not in (None, "") else Decimal("0")
    except InvalidOperation:
        cost = Decimal("0")
    return LglVariant(node["id"], node["sku"], cost)


def read_candidates(
    client: ShopifyClient, location_id: str, since: datetime, model: str = MERCHANT_MANAGED
) -> list[SourceOrder]:
    """Every order LGL may have to ship: at a merchant-managed location every paid,
    uncancelled order placed since ``since``; at LGL's fulfillment service every order with a
    request waiting. Fulfillment orders read whole."""
    if model == FULFILLMENT_SERVICE:
        waiting = requested_order_ids(client, location_id, "FULFILLMENT_REQUESTED")
        return read_source_orders_by_id(client, location_id, waiting, model)
    return read_source_orders(client, location_id, search_query(since))


def assigned_fulfillment_orders(
    client: ShopifyClient, location_id: str, status: str
) -> list[dict[str, Any]]:
    """The fulfillment orders at LGL's fulfillment service location with this assignment
    status (FULFILLMENT_REQUESTED, CANCELLATION_REQUESTED, FULFILLMENT_UNSUBMITTED), every
    page."""
    return list(
        client.paginate(
            "AssignedFulfillmentOrders",
            {"status": status, "locationIds": [location_id]},
            path="assignedFulfillmentOrders",
            page_size=100,
        )
    )


def requested_order_ids(client: ShopifyClient, location_id: str, status: str) -> list[str]:
    """The ids of the orders with a fulfillment order in that assignment status, once each."""
    found = assigned_fulfillment_orders(client, location_id, status)
    return list(dict.fromkeys(fo["orderId"] for fo in found if fo.get("orderId")))


def read_source_orders(
    client: ShopifyClient, location_id: str, query: str, model: str = MERCHANT_MANAGED
) -> list[SourceOrder]:
    """Every order a search finds, with its fulfillment orders read to the end."""
    return [
        source_order(
            node,
            read_fulfillment_orders(client, node["id"], node["fulfillmentOrders"]),
            location_id,
            model,
        )
        for node in client.paginate(
            "EligibleOrders", {"query": query}, path="orders", page_size=ORDERS_PER_PAGE
        )
    ]


def read_source_orders_by_id(
    client: ShopifyClient, location_id: str, ids: list[str], model: str = MERCHANT_MANAGED
) -> list[SourceOrder]:
    """Orders read by id (not through search), ``ORDERS_PER_PAGE`` per request; an id that no
    longer reads (deleted, or past the 60-day window without read_all_orders) is left out."""
    found = []
    for start in range(0, len(ids), ORDERS_PER_PAGE):
        batch = ids[start : start + ORDERS_PER_PAGE]
        for node in client.query("SourceOrdersByIds", {"ids": batch})["nodes"]:
            if node:
                fulfillment_orders = read_fulfillment_orders(
                    client, node["id"], node["fulfillmentOrders"]
                )
                found.append(source_order(node, fulfillment_orders, location_id, model))
    return found


def lookup_variants(client: ShopifyClient, skus: set[str]) -> dict[str, list[LglVariant]]:
    """LGL variants by exact SKU, one search per batch of SKUs (not one per line)."""
    found: dict[str, list[LglVariant]] = {sku: [] for sku in skus}
    ordered = sorted(skus)
    for start in range(0, len(ordered), SKUS_PER_LOOKUP):
        batch = ordered[start : start + SKUS_PER_LOOKUP]
        for node in client.paginate(
            "VariantsBySku", {"query": sku_search(batch)}, path="productVariants", page_size=100
        ):
            if node.get("sku") in found:  # exact, case-sensitive: search is looser
                found[node["sku"]].append(lgl_variant(node))
    return found


def custom_id_lookup(lgl: ShopifyClient, retailer_id: str, source_order_id: str) -> str | None:
    """The LGL order carrying this source order's custom ID, read by identifier."""
    namespace, key = CUSTOM_ID
    found = lgl.query(
        "LglOrderByCustomId",
        {
            "namespace": namespace,
            "key": key,
            "value": source_identifier(retailer_id, source_order_id),
        },
    )["orderByIdentifier"]
    return found["id"] if found else None


def find_lgl_order(lgl: ShopifyClient, retailer_id: str, source_order_id: str) -> str | None:
    """The LGL order created earlier for this source order: by its custom ID first (a read by
    identifier), then by ``sourceIdentifier`` through search (orders made before custom IDs)."""
    identifier = source_identifier(retailer_id, source_order_id)
    found = custom_id_lookup(lgl, retailer_id, source_order_id)
    if found:
        return found
    for node in lgl.paginate(
        "LglOrdersBySource",
        {"query": f"source_identifier:'{identifier}'"},
        path="orders",
        page_size=5,
    ):
        if node.get("sourceIdentifier") == identifier:
            return node["id"]
    return None


def custom_id_defined(lgl: ShopifyClient) -> bool:
    """Does the LGL store have the custom ID's metafield definition on orders?"""
    namespace, key = CUSTOM_ID
    found = lgl.query("CustomIdDefinitions", {"namespace": namespace, "key": key})
    return bool(found["metafieldDefinitions"]["nodes"])


def ensure_custom_id_definition(lgl: ShopifyClient) -> bool:
    """Creates the custom ID's metafield definition on orders when the LGL store lacks it
    (an id metafield is refused without one); a no-op, one cheap read, when it exists.
    True when this call created it."""
    namespace, key = CUSTOM_ID
    if custom_id_defined(lgl):
        return False
    data = lgl.mutate(
        "CustomIdDefinitionCreate",
        {
            "definition": {
                "name": "LGL Sync source order",
                "namespace": namespace,
                "key": key,
                "type": "id",
                "ownerType": "ORDER",
            }
        },
        idempotent=True,  # a second create is refused as TAKEN, which is the same end state
    )
    errors = data["metafieldDefinitionCreate"]["userErrors"]
    if errors and errors[0].get("code") != "TAKEN":
        raise_user_errors(data, "metafieldDefinitionCreate")
    return not errors


def shop_currency(lgl: ShopifyClient) -> str:
    """The LGL store's currency, the one its orders are priced in."""
    return lgl.query("Shop")["shop"]["currencyCode"]
