"""Inventory assets: what LGL can ship, per SKU."""

import dagster as dg
import pandas as pd

from lgl_sync.defs.resources import ShopifyStoreResource
from lgl_sync.sync.inventory import read_location_inventory


@dg.asset(group_name="inventory", kinds={"shopify", "pandas"})
def lgl_inventory_snapshot(
    context: dg.AssetExecutionContext, lgl_shopify: ShopifyStoreResource
) -> dg.MaterializeResult:
    """The LGL store's available quantity per SKU at its warehouse location.

    One row per SKU: sku, inventory_item_id, available. Read once per cycle and shared by every
    retailer's inventory sync.
    """
    client = lgl_shopify.get_client()
    snapshot = read_location_inventory(client, location_id=lgl_shopify.location_id)
    context.log.info("LGL snapshot: %d SKUs", len(snapshot))
    return dg.MaterializeResult(
        value=snapshot,
        metadata={
            "dagster/row_count": len(snapshot),
            "units_available": int(snapshot["available"].sum()) if len(snapshot) else 0,
            "preview": dg.MetadataValue.md(_preview(snapshot)),
            **client.metrics.as_metadata(),
        },
    )


def _preview(frame: pd.DataFrame, rows: int = 10) -> str:
    return frame.head(rows).to_markdown(index=False) if len(frame) else "(empty)"
