"""Inventory rules: reading stock, the quantity each retailer may sell, and the write plan.

DESIGN.md "Inventory sync — the rules": target = max(0, LGL available - units of that SKU in
paid orders of any retailer not yet imported - the retailer's safety buffer). Units a retailer
sold that have not reached LGL are already gone at the retailer but not at LGL; setting the
retailer back to LGL's number would undo that sale.
"""

from __future__ import annotations

import pandas as pd

from lgl_sync.shopify.client import ShopifyClient

SNAPSHOT_COLUMNS = ["sku", "inventory_item_id", "available", "stocked"]
PAGE_COST = 752  # InventoryItems, 250 items a page


def primary_location_id(client: ShopifyClient) -> str:
    """The store's primary location (``location`` with no id), as Shopify defines it."""
    return client.query("PrimaryLocation")["location"]["id"]


def _row(item: dict, level: dict | None) -> tuple:
    available = next(
        (q["quantity"] for q in (level or {}).get("quantities") or [] if q["name"] == "available"),
        0,
    )
    return (item["sku"], item["id"], available, level is not None)


def read_location_inventory(client: ShopifyClient, *, location_id: str | None) -> pd.DataFrame:
    """Available quantity per SKU at one location: one row per inventory item with a SKU.

    A catalog of one page is read directly; a larger one with one bulk operation instead of
    throttled pages (FACTS.md §2).
    """
    location = location_id or primary_location_id(client)
    first = client.query("InventoryItems", {"first": 250, "locationId": location})
    page = first["inventoryItems"]
    rows = [_row(i, i.get("inventoryLevel")) for i in page["nodes"] if i.get("sku")]
    if page["pageInfo"]["hasNextPage"]:
        # Each further page costs 752 points (7.5 s of a standard bucket's refill); a bulk job
        # costs ~10 points and a few 1-point polls whatever the size, so past one page it wins.
        rows = [
            _row(item, _level_at(item, location))
            for item in client.bulk_query("InventoryLevelsBulk")
            if item.get("sku")
        ]
    return pd.DataFrame(rows, columns=SNAPSHOT_COLUMNS)


def _level_at(item: dict, location_id: str) -> dict | None:
    levels = (item.get("__children") or {}).get("InventoryLevel") or []
    return next((lv for lv in levels if lv["location"]["id"] == location_id), None)


def current_quantities(
    client: ShopifyClient, item_ids: list[str], location_id: str
) -> dict[str, int]:
    """Re-reads ``available`` of some items at a location (250 per request)."""
    found: dict[str, int] = {}
    for start in range(0, len(item_ids), 250):
        nodes = client.query(
            "InventoryItemsByIds", {"ids": item_ids[start : start + 250], "locationId": location_id}
        )["nodes"]
        for node in nodes:
            if node:
                found[node["id"]] = _row(
                    {"sku": node.get("sku"), "id": node["id"]}, node.get("inventoryLevel")
                )[2]
    return found


def pending_units(lines: list[tuple[str, int]]) -> pd.DataFrame:
    """Units per SKU in paid orders not yet imported (from every retailer)."""
    frame = pd.DataFrame(lines, columns=["sku", "units"])
    return frame.groupby("sku", as_index=False)["units"].sum()


def targets(lgl: pd.DataFrame, pending: pd.DataFrame, safety_buffer: int) -> pd.DataFrame:
    """The quantity the retailer may sell, per SKU LGL carries."""
    merged = lgl[["sku", "available"]].merge(pending, on="sku", how="left").fillna({"units": 0})
    merged["target"] = (merged["available"] - merged["units"] - safety_buffer).clip(lower=0)
    return merged[["sku", "target"]].astype({"target": int})


def write_plan(
    retailer: pd.DataFrame, target: pd.DataFrame, *, activate: bool
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Rows to write (inventory_item_id, sku, current, target) and the SKUs reported only.

    SKUs on one side only are reported, never written; an item not stocked at the location
    is written only when the retailer's settings allow activating it.
    """
    merged = retailer.merge(target, on="sku", how="outer", indicator=True)
    only_lgl = sorted(merged.loc[merged["_merge"] == "right_only", "sku"])
    only_retailer = sorted(merged.loc[merged["_merge"] == "left_only", "sku"])
    both = merged[merged["_merge"] == "both"].copy()
    unstocked = sorted(both.loc[~both["stocked"].astype(bool), "sku"])
    if not activate:
        both = both[both["stocked"].astype(bool)]
    both["target"] = both["target"].astype(int)
    both["available"] = both["available"].astype(int)
    changed = both[both["available"] != both["target"]]
    plan = changed.rename(columns={"available": "current"})[
        ["inventory_item_id", "sku", "current", "target"]
    ].reset_index(drop=True)
    report = {
        "only_lgl": only_lgl,
        "only_retailer": only_retailer,
        "not_stocked": [] if activate else unstocked,
    }
    return plan, report


def retarget(target: int, read: int, now: int) -> int:
    """A compare-and-set conflict: the retailer changed from ``read`` to ``now`` meanwhile.
    Units it sold meanwhile are not in LGL's numbers yet, so they come off the target too."""
    return max(0, target - max(0, read - now))
