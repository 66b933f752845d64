"""Schedules with the old system's cadence: orders and fulfillments every 10 minutes,
inventory every 5. One run per enabled retailer whose flag is on, never a second run for a
retailer whose previous run of the same flow is still going."""

import os
from collections.abc import Iterator

import dagster as dg

from lgl_sync import settings
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.defs.jobs import import_orders_job, inventory_snapshot_job, push_fulfillments_job
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.flows import RETAILER_FLOW_TAG, Flow


def default_status(problem: str | None = None) -> dg.DefaultScheduleStatus:
    """``LGL_SCHEDULES=running|stopped``; by default running once the LGL store is configured,
    so production runs on its own and a laptop without credentials does not fail every tick.
    A schedule whose cron variable is bad stays stopped (``problem``)."""
    choice = os.environ.get("LGL_SCHEDULES", "").strip().lower()
    if choice not in ("", "running", "stopped"):
        raise ValueError(f"LGL_SCHEDULES must be 'running' or 'stopped', not {choice!r}")
    if problem is None and (
        choice == "running" or (not choice and os.environ.get("SHOPIFY_LGL_DOMAIN"))
    ):
        return dg.DefaultScheduleStatus.RUNNING
    return dg.DefaultScheduleStatus.STOPPED


def _described(text: str, problem: str | None) -> str:
    return f"STOPPED: {problem}. {text}" if problem else text


ORDERS_CRON, ORDERS_PROBLEM = settings.cron("LGL_ORDERS_CRON")
FULFILLMENTS_CRON, FULFILLMENTS_PROBLEM = settings.cron("LGL_FULFILLMENTS_CRON")
INVENTORY_CRON, INVENTORY_PROBLEM = settings.cron("LGL_INVENTORY_CRON")


ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def retailer_run_requests(
    context: dg.ScheduleEvaluationContext, control_plane: ControlPlaneResource, flow: Flow
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """One request per enabled retailer with the flow's flag on and a partition, unless busy."""
    partitions = set(context.instance.get_dynamic_partitions("retailers"))
    tick = context.scheduled_execution_time.isoformat()
    requested = 0
    for retailer in list_retailers(control_plane.engine(), enabled_only=True):
        if not flow.enabled_for(retailer) or retailer.id not in partitions:
            continue
        tag = f"{retailer.id}:{flow}"
        busy = context.instance.get_run_records(
            dg.RunsFilter(tags={RETAILER_FLOW_TAG: tag}, statuses=ACTIVE), limit=1
        )
        if busy:
            context.log.info(
                "%s: previous %s run still going, not starting another", retailer.id, flow
            )
            continue
        requested += 1
        yield dg.RunRequest(
            run_key=f"{tag}:{tick}", partition_key=retailer.id, tags={RETAILER_FLOW_TAG: tag}
        )
    if not requested:
        yield dg.SkipReason(f"no retailer to run {flow} for")


@dg.schedule(
    job=import_orders_job,
    cron_schedule=ORDERS_CRON,
    default_status=default_status(ORDERS_PROBLEM),
    description=_described(
        "Every 10 minutes, 20 with webhooks (LGL_ORDERS_CRON): import orders for each retailer "
        "with import_orders on.",
        ORDERS_PROBLEM,
    ),
)
def import_orders_schedule(
    context: dg.ScheduleEvaluationContext, control_plane: ControlPlaneResource
):
    """Every 10 minutes: import orders for each retailer with import_orders on."""
    yield from retailer_run_requests(context, control_plane, Flow.ORDERS)


@dg.schedule(
    job=push_fulfillments_job,
    cron_schedule=FULFILLMENTS_CRON,
    default_status=default_status(FULFILLMENTS_PROBLEM),
    description=_described(
        "Every 10 minutes between the order imports, 20 with webhooks (LGL_FULFILLMENTS_CRON): "
        "push shipments.",
        FULFILLMENTS_PROBLEM,
    ),
)
def push_fulfillments_schedule(
    context: dg.ScheduleEvaluationContext, control_plane: ControlPlaneResource
):
    """Every 10 minutes, between the order imports: push shipments for each retailer."""
    yield from retailer_run_requests(context, control_plane, Flow.FULFILLMENTS)


inventory_schedule = dg.ScheduleDefinition(
    job=inventory_snapshot_job,
    cron_schedule=INVENTORY_CRON,
    default_status=default_status(INVENTORY_PROBLEM),
    description=_described(
        "Every 5 minutes, 10 with webhooks (LGL_INVENTORY_CRON): the LGL snapshot; every "
        "retailer's sync follows it.",
        INVENTORY_PROBLEM,
    ),
)
