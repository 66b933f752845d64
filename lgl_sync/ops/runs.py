"""Facts about Dagster runs in business terms — which flow a run or step belongs to, why a step
failed — and running one flow for one retailer in-process. Shared by the alerts, the log
files, `lgl-sync status`, the demo, the chaos run and the benchmarks."""

from __future__ import annotations

import re
from typing import Any

from lgl_sync.flows import Flow
from lgl_sync.ops.redaction import redact
from lgl_sync.shopify import errors

CATEGORY_BY_ERROR = {
    cls.__name__: cls.category
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.ShopifyError)
}


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


def root_cause(step_failure_data: Any) -> str:
    """What went wrong, in words a person can act on: the innermost error of a failed step
    (``EligibleOrders: HTTP 401: [API] Invalid API key or access token ...``), not Dagster's
    wrapper ("Error occurred while executing op ..."); redacted, one line, at most 500 chars."""
    error = getattr(step_failure_data, "error", None)
    if error is None:
        return "the step failed without an error"
    while error.cause is not None:
        error = error.cause
    lines = [line for line in (error.message or "").strip().splitlines() if line.strip()]
    text = re.sub(rf"^[\w.]*{re.escape(error.cls_name or '')}: ", "", lines[0] if lines else "")
    if error.cls_name in CATEGORY_BY_ERROR:  # "auth [Shop]: ..." -> "Shop: ..."
        text = re.sub(r"^\w+ \[(\w+)\]: ", r"\1: ", text)
    elif error.cls_name not in ("Failure", None):  # a dg.Failure speaks for itself
        text = f"{error.cls_name}: {text}"
    return redact(text)[:500]


def run_flow(defs, instance, flow: str, retailer: str | None, run_config: dict | None = None):
    """One flow for one retailer (``snapshot``: the LGL snapshot) as a Dagster run, in-process,
    through the project's own jobs; ``inventory`` materializes ``retailer_inventory``, as the
    automation sensor does after a snapshot."""
    import dagster as dg

    if flow == Flow.INVENTORY:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            partition_key=retailer,
            asset_selection=[dg.AssetKey("retailer_inventory")],
            raise_on_error=False,
            run_config=run_config,
        )
    job = Flow(flow).job if flow != "snapshot" else Flow.INVENTORY.job
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=retailer, raise_on_error=False, run_config=run_config
    )
