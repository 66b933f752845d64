"""The one Definitions object of LGL Sync: everything is imported here, nothing defined."""

import os

import dagster as dg

import lgl_sync.ops.logs  # noqa: F401 - its warning filter, in every process that loads these
from lgl_sync.defs.alerts import (
    NotifierResource,
    activity_alerts,
    daily_digest,
    daily_digest_schedule,
    failure_alerts,
)
from lgl_sync.defs.checks import one_lgl_order_per_source_order
from lgl_sync.defs.fulfillments import (
    fulfillment_lag,
    lgl_shipments,
    retailer_fulfillments,
    retailer_returns,
)
from lgl_sync.defs.handoff import ControlPlaneIOManager
from lgl_sync.defs.history import sync_jobs_mirror
from lgl_sync.defs.inventory import (
    inventory_drift,
    lgl_inventory_snapshot,
    retailer_inventory,
    unimported_order_units,
)
from lgl_sync.defs.jobs import (
    import_orders_job,
    inventory_snapshot_job,
    push_fulfillments_job,
    sync_inventory_job,
)
from lgl_sync.defs.orders import (
    imported_lgl_orders,
    retailer_order_changes,
    retailer_paid_orders,
)
from lgl_sync.defs.reports import (
    monthly_usage,
    monthly_usage_job,
    monthly_usage_schedule,
    order_anomalies,
    order_anomalies_job,
    order_anomalies_schedule,
    stock_insight,
    stock_insight_job,
    stock_insight_schedule,
)
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
)
from lgl_sync.defs.schedules import (
    import_orders_schedule,
    inventory_schedule,
    push_fulfillments_schedule,
)
from lgl_sync.defs.sensors import inventory_automation, retailer_partitions_sensor
from lgl_sync.defs.stock_changes import sync_stock_changes_job
from lgl_sync.defs.tokens import token_upkeep, token_upkeep_schedule
from lgl_sync.defs.webhooks import webhook_sensor
from lgl_sync.shopify.client import DEFAULT_API_VERSION

defs = dg.Definitions(
    # Every run, whatever launched it (schedule, sensor, UI, backfill, automation), runs its
    # steps in its own process: one process per run instead of one per step (a step's start-up
    # costs about 3 CPU-seconds, more than the work of a quiet sync).
    executor=dg.in_process_executor,
    assets=[
        lgl_inventory_snapshot,
        unimported_order_units,
        retailer_inventory,
        retailer_paid_orders,
        imported_lgl_orders,
        retailer_order_changes,
        lgl_shipments,
        retailer_fulfillments,
        retailer_returns,
        monthly_usage,
        stock_insight,
        order_anomalies,
    ],
    asset_checks=[
        one_lgl_order_per_source_order,
        fulfillment_lag,
        inventory_drift,
    ],
    jobs=[
        import_orders_job,
        push_fulfillments_job,
        inventory_snapshot_job,
        sync_inventory_job,
        sync_stock_changes_job,
        daily_digest,
        token_upkeep,
        monthly_usage_job,
        stock_insight_job,
        order_anomalies_job,
    ],
    schedules=[
        import_orders_schedule,
        push_fulfillments_schedule,
        inventory_schedule,
        daily_digest_schedule,
        token_upkeep_schedule,
        monthly_usage_schedule,
        stock_insight_schedule,
        order_anomalies_schedule,
    ],
    sensors=[
        retailer_partitions_sensor,
        sync_jobs_mirror,
        inventory_automation,
        failure_alerts,
        activity_alerts,
        webhook_sensor,
    ],
    resources={
        "lgl_shopify": ShopifyStoreResource(
            domain=dg.EnvVar("SHOPIFY_LGL_DOMAIN"),
            # A static token, or LGL's own app by the client-credentials grant (secrets stay
            # in the environment: EnvVar keeps them out of the run config and the UI).
            **(
                {
                    "client_id": dg.EnvVar("SHOPIFY_LGL_CLIENT_ID"),
                    "client_secret": dg.EnvVar("SHOPIFY_LGL_CLIENT_SECRET"),
                }
                if os.environ.get("SHOPIFY_LGL_CLIENT_ID")
                else {"token": dg.EnvVar("SHOPIFY_LGL_TOKEN")}
            ),
            api_version=os.environ.get("SHOPIFY_API_VERSION", DEFAULT_API_VERSION),
            location_id=os.environ.get("SHOPIFY_LGL_LOCATION_ID") or None,
        ),
        "control_plane": ControlPlaneResource(),
        # Asset values in the control plane, never pickles under DAGSTER_HOME (defs/handoff.py).
        "io_manager": ControlPlaneIOManager(),
        "retailer_stores": RetailerStoresResource(),
        # Not secrets: the transport's keys are read from the environment when sending.
        "notifier": NotifierResource(
            email_from=os.environ.get("EMAIL_FROM", "LGL Sync <lgl-sync@localhost>"),
            email_to=os.environ.get("EMAIL_TO", ""),
            ui_base_url=os.environ.get("DAGSTER_UI_URL", "http://127.0.0.1:3000"),
        ),
    },
)
