"""Facts about Dagster runs in business terms — which flow a run or step belongs to, why a step
failed — and running one flow for one retailer in-process. Shared by the alerts, the log
files, `lgl-sync status`, the demo, the chaos run and the benchmarks."""

from __future__ import annotations

from typing import Any

from lgl_sync.shopify import errors

ASSET_FLOWS = {
    "retailer_paid_orders": "orders",
    "imported_lgl_orders": "orders",
    "lgl_shipments": "fulfillments",
    "retailer_fulfillments": "fulfillments",
    "lgl_inventory_snapshot": "inventory",
    "unimported_order_units": "inventory",
    "retailer_inventory": "inventory",
}
JOB_FLOWS = {
    "import_orders": "orders",
    "push_fulfillments": "fulfillments",
    "inventory_snapshot": "inventory",
}
FLOW_JOBS = {"orders": "import_orders", "fulfillments": "push_fulfillments"}
CATEGORY_BY_ERROR = {
    cls.__name__: cls.category
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.ShopifyError)
}


def flow_of(job_name: str | None, step_key: str | None) -> str | None:
    """The flow of a job, or of an asset's step or one of its checks
    (``retailer_fulfillments_fulfillment_lag``)."""
    if job_name in JOB_FLOWS:
        return JOB_FLOWS[job_name]
    matches = [asset for asset in ASSET_FLOWS if step_key and step_key.startswith(asset)]
    return ASSET_FLOWS[max(matches, key=len)] if matches else None


def failure_category(step_failure_data: Any) -> str:
    """The error category of a failed step: the one a ``dg.Failure`` declared, else the one of
    the Shopify error that caused it, else ``code`` (a bug) or ``unknown``."""
    if step_failure_data is None:
        return "unknown"
    declared = step_failure_data.user_failure_data
    if declared and "error_category" in (declared.metadata or {}):
        return str(declared.metadata["error_category"].value)
    cause = step_failure_data.error
    while cause is not None:
        if cause.cls_name in CATEGORY_BY_ERROR:
            return CATEGORY_BY_ERROR[cause.cls_name]
        cause = cause.cause
    return "code" if step_failure_data.error else "unknown"


def run_flow(defs, instance, flow: str, retailer: str | None, run_config: dict | None = None):
    """One flow for one retailer (``snapshot``: the LGL snapshot) as a Dagster run, in-process,
    through the project's own jobs; ``inventory`` materializes ``retailer_inventory``, as the
    automation sensor does after a snapshot."""
    import dagster as dg

    if flow == "inventory":
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            partition_key=retailer,
            asset_selection=[dg.AssetKey("retailer_inventory")],
            raise_on_error=False,
            run_config=run_config,
        )
    job = FLOW_JOBS.get(flow, "inventory_snapshot")
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=retailer, raise_on_error=False, run_config=run_config
    )
