"""Inventory rules: reading a location's stock into a table (no Dagster here)."""

from __future__ import annotations

import pandas as pd

from lgl_sync.shopify.client import ShopifyClient

SNAPSHOT_COLUMNS = ["sku", "inventory_item_id", "available"]


def primary_location_id(client: ShopifyClient) -> str:
    """The store's primary location (``location`` with no id), as Shopify defines it."""
    return client.query("PrimaryLocation")["location"]["id"]


def read_location_inventory(client: ShopifyClient, *, location_id: str | None) -> pd.DataFrame:
    """Available quantity per SKU at one location, every page read.

    Items without a SKU cannot be matched across stores and are left out; items not stocked at
    the location count as 0 available.
    """
    location = location_id or primary_location_id(client)
    rows = []
    for item in client.paginate("InventoryItems", {"locationId": location}, path="inventoryItems"):
        if not item.get("sku"):
            continue
        level = item.get("inventoryLevel") or {}
        available = next(
            (q["quantity"] for q in level.get("quantities") or [] if q["name"] == "available"), 0
        )
        rows.append((item["sku"], item["id"], available))
    return pd.DataFrame(rows, columns=SNAPSHOT_COLUMNS)
