"""A store's full state as plain JSON, for tests that assert on what Shopify would hold."""

from __future__ import annotations

from typing import Any

from shopify_sandbox.models import gid
from shopify_sandbox.state import Store


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def dump_store(store: Store) -> dict[str, Any]:
    """Every location, variant, inventory level, order, fulfillment order and fulfillment."""
    with store.lock:
        return {
            "handle": store.handle,
            "locations": [
                {"id": gid("Location", loc.id), "name": loc.name}
                for loc in store.locations.values()
            ],
            "variants": [_variant(store, v) for v in store.variants.values()],
            "inventory": [
                {
                    "inventory_item_id": gid("InventoryItem", item.id),
                    "sku": item.sku,
                    "location_id": gid("Location", level.location_id),
                    **level.quantities,
                }
                for item in store.inventory_items.values()
                for level in item.levels.values()
            ],
            "orders": [_order(store, o) for o in store.orders.values()],
        }


def _variant(store: Store, variant: Any) -> dict[str, Any]:
    return {
        "id": gid("ProductVariant", variant.id),
        "sku": variant.sku,
        "product": store.products[variant.product_id].title,
        "price": str(variant.price),
        "inventory_item_id": gid("InventoryItem", variant.inventory_item_id),
        "metafields": {f"{ns}.{key}": m.value for (ns, key), m in variant.metafields.items()},
    }


def _order(store: Store, order: Any) -> dict[str, Any]:
    return {
        "id": gid("Order", order.id),
        "name": order.name,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "cancelled_at": _iso(order.cancelled_at),
        "financial_status": order.financial_status,
        "fulfillment_status": store.fulfillment_status(order),
        "email": order.email,
        "note": order.note,
        "tags": list(order.tags),
        "source_identifier": order.source_identifier,
        "custom_attributes": dict(order.custom_attributes),
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "metafields": {f"{ns}.{key}": m.value for (ns, key), m in order.metafields.items()},
        "line_items": [
            {
                "id": gid("LineItem", li.id),
                "sku": li.sku,
                "quantity": li.quantity,
                "current_quantity": li.current_quantity,
                "price": str(li.price),
                "variant_id": gid("ProductVariant", li.variant_id) if li.variant_id else None,
            }
            for li in order.line_items
        ],
        "fulfillment_orders": [
            {
                "id": gid("FulfillmentOrder", fo.id),
                "status": fo.status,
                "location_id": gid("Location", fo.location_id),
                "line_items": [
                    {
                        "id": gid("FulfillmentOrderLineItem", fl.id),
                        "sku": store.line_items[fl.line_item_id].sku,
                        "total_quantity": fl.total_quantity,
                        "remaining_quantity": fl.remaining_quantity,
                    }
                    for fl in fo.line_items
                ],
            }
            for fo in (store.fulfillment_orders[i] for i in order.fulfillment_order_ids)
        ],
        "fulfillments": [
            {
                "id": gid("Fulfillment", f.id),
                "status": f.status,
                "created_at": _iso(f.created_at),
                "notify_customer": f.notify_customer,
                "tracking": [
                    {"company": t.company, "number": t.number, "url": t.url}
                    for t in f.tracking_info
                ],
                "line_items": [
                    {"sku": store.line_items[li.line_item_id].sku, "quantity": li.quantity}
                    for li in f.line_items
                ],
            }
            for f in (store.fulfillments[i] for i in order.fulfillment_ids)
        ],
    }
