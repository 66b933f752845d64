"""Jobs the schedules launch: one flow for one retailer partition per run."""

import dagster as dg

from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments, retailer_returns
from lgl_sync.defs.inventory import (
    inventory_drift,
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.orders import (
    imported_lgl_orders,
    retailer_order_changes,
    retailer_paid_orders,
)
from lgl_sync.flows import Flow

import_orders_job = dg.define_asset_job(
    Flow.ORDERS.job,
    selection=[retailer_paid_orders, imported_lgl_orders, retailer_order_changes],
    description="Import one retailer's paid orders into the LGL store and apply its "
    "cancellations to the orders imported before.",
)
push_fulfillments_job = dg.define_asset_job(
    Flow.FULFILLMENTS.job,
    selection=[lgl_shipments, retailer_fulfillments, retailer_returns],
    description="Push LGL's shipments to one retailer's store; mirror its returns of them.",
)
inventory_snapshot_job = dg.define_asset_job(
    Flow.INVENTORY.job,
    selection=[lgl_inventory_snapshot, unimported_order_units],
    description="LGL's stock and every retailer's unimported units; retailer syncs follow.",
)
sync_inventory_job = dg.define_asset_job(
    "sync_inventory",
    # Not the drift check: it re-reads every SKU, the very cost a scoped run saves.
    selection=dg.AssetSelection.assets(retailer_inventory)
    - dg.AssetSelection.checks(inventory_drift),
    description="Set one retailer's stock of the SKUs LGL's stock webhooks named (the "
    "lgl_inventory_item_ids config), read again by id; empty config: every SKU.",
)
