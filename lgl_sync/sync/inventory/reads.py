"""Inventory reads: stock at a location (one page, or one bulk operation past a page),
re-reads after a compare-and-set conflict, and the units of orders not yet in the LGL store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import ledger
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.inventory.rules import SNAPSHOT_COLUMNS
from lgl_sync.sync.orders.reads import read_candidates, read_source_orders_by_id
from lgl_sync.sync.orders.rules import ineligibility

# Each item costs 4 by the documented formula (item, level, two quantities): 200 items are
# 802 points, under the 1,000-point cap of one query.
ITEMS_PER_PAGE = 200


def primary_location_id(client: ShopifyClient) -> str:
    """The store's primary location (``location`` with no id), as Shopify defines it."""
    return client.query("PrimaryLocation")["location"]["id"]


def _row(item: dict, level: dict | None) -> tuple:
    """(sku, item id, available, stocked, committed). ``available`` is None when a stocked level
    came back without it (null quantities): unknown, never taken for 0. ``committed`` is the
    units of placed orders not yet fulfilled there (0 when not given)."""
    if level is None:
        return (item["sku"], item["id"], 0, False, 0)
    quantities = {q.get("name"): q.get("quantity") for q in level.get("quantities") or []}
    return (
        item["sku"],
        item["id"],
        quantities.get("available"),
        True,
        quantities.get("committed") or 0,
    )


# LGL's page also reads each item's product status (2 more points an item): 150 are 902.
LGL_ITEMS_PER_PAGE = 150


def read_location_inventory(
    client: ShopifyClient,
    *,
    location_id: str | None,
    with_status: bool = False,
    expected_items: int | None = None,
) -> pd.DataFrame:
    """Available quantity per SKU at one location: one row per inventory item with a SKU.

    A catalog of one page is read directly; a larger one with one bulk operation instead of
    throttled pages (FACTS.md §2). ``with_status`` (the LGL store) adds each item's product
    status (``ACTIVE``, ``DRAFT``, ``ARCHIVED``) as a ``product_status`` column.
    ``expected_items``: how many the last read found; past one page, the bulk operation starts
    at once, without a first page read only to learn there is more (up to 902 points).
    """
    location = location_id or primary_location_id(client)
    name, size = (
        ("LglInventoryItems", LGL_ITEMS_PER_PAGE)
        if with_status
        else ("InventoryItems", ITEMS_PER_PAGE)
    )
    more, rows, statuses = True, [], []
    if expected_items is None or expected_items <= size:
        page = client.query(name, {"first": size, "locationId": location})["inventoryItems"]
        items = [i for i in page["nodes"] if i.get("sku")]
        rows = [_row(item, item.get("inventoryLevel")) for item in items]
        statuses = [_status(item) for item in items]
        more = page["pageInfo"]["hasNextPage"]
    if more:
        # Each further page costs 802 points (7.5 s of a standard bucket's refill); a bulk job
        # costs ~10 points and a few 1-point polls whatever the size, so past one page it wins.
        bulk = "LglInventoryLevelsBulk" if with_status else "InventoryLevelsBulk"
        # An item's line and its level's: about twice the items the last read found.
        expected = 2 * expected_items if expected_items else None
        rows, statuses = _bulk_rows(client, bulk, location, expected)
    frame = pd.DataFrame(rows, columns=SNAPSHOT_COLUMNS)
    if with_status:
        frame["product_status"] = statuses
    return frame


def _status(item: dict) -> str | None:
    return ((item.get("variant") or {}).get("product") or {}).get("status")


def _bulk_rows(
    client: ShopifyClient, name: str, location: str, expected: int | None = None
) -> tuple[list, list]:
    """``_row`` of every item with a SKU, and its product status, from a bulk read streamed
    line by line: of each line only the few fields a row needs are kept (a 100,000-item
    catalog as whole objects took hundreds of MB). Levels may come before their item."""
    items: dict[str, tuple[str, str | None]] = {}
    levels: dict[str, tuple[int | None, int]] = {}
    for obj in client.bulk_objects(name, expected_objects=expected):
        parent = obj.get("__parentId")
        if parent is None:
            if obj.get("sku"):
                items[obj["id"]] = (obj["sku"], _status(obj))
        elif (obj.get("location") or {}).get("id") == location:
            quantities = {q.get("name"): q.get("quantity") for q in obj.get("quantities") or []}
            levels[parent] = (quantities.get("available"), quantities.get("committed") or 0)
    rows, statuses = [], []
    for item_id, (sku, status) in items.items():
        level = levels.pop(item_id, None)
        rows.append(
            (sku, item_id, 0, False, 0)
            if level is None
            else (sku, item_id, level[0], True, level[1])
        )
        statuses.append(status)
    return rows, statuses


def _rows_by_id(client: ShopifyClient, item_ids: list[str], location_id: str) -> list[tuple]:
    """``_row`` of each item that exists, read by id (250 per request)."""
    rows = []
    for start in range(0, len(item_ids), 250):
        nodes = client.query(
            "InventoryItemsByIds", {"ids": item_ids[start : start + 250], "locationId": location_id}
        )["nodes"]
        rows += [
            _row({"sku": node.get("sku"), "id": node["id"]}, node.get("inventoryLevel"))
            for node in nodes
            if node
        ]
    return rows


def read_items_by_id(client: ShopifyClient, item_ids: list[str], location_id: str) -> pd.DataFrame:
    """Some items' rows at a location, read by id: what a run scoped to a webhook's SKUs needs,
    never through search (its index lags). Items gone from the store are left out."""
    rows = [row for row in _rows_by_id(client, item_ids, location_id) if row[0]]
    return pd.DataFrame(rows, columns=SNAPSHOT_COLUMNS)


def current_quantities(
    client: ShopifyClient, item_ids: list[str], location_id: str
) -> dict[str, int]:
    """Re-reads ``available`` of some items at a location."""
    return {row[1]: row[2] for row in _rows_by_id(client, item_ids, location_id)}


HELD = (ledger.LinkStatus.HELD,)


def unimported_units(
    retailer: Retailer, client: ShopifyClient, engine: Engine
) -> list[tuple[str, int]]:
    """(sku, units) of one retailer's paid orders that have not reached the LGL store."""
    since = datetime.now(UTC) - timedelta(hours=retailer.lookback_hours)
    model = retailer.location_model
    found = read_candidates(client, retailer.target_location_id, since, model)
    # Held orders stay sold however old they get: read by id, whatever search shows.
    held = [link.source_order_id for link in ledger.tracked_orders(engine, retailer.id, HELD)]
    seen = {o.id for o in found}
    found += read_source_orders_by_id(
        client, retailer.target_location_id, [i for i in held if i not in seen], model
    )
    oldest = datetime.min.replace(tzinfo=UTC)
    eligible = [
        order
        for order in found
        if ineligibility(order, oldest if order.id in held else since) is None
    ]
    # Orders already in the LGL store are already in LGL's available quantity.
    imported = ledger.imported_orders(engine, retailer.id, [o.id for o in eligible])
    return [
        (line.sku, line.quantity)
        for order in eligible
        if order.id not in imported
        for line in order.lines
        if line.sku
    ]
