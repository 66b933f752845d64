"""The webhook sensor: the inbox's deliveries become runs of the flows they concern, within
seconds; the schedules stay as the reconciliation that catches what webhooks lose.

- A retailer's order webhooks run its orders flow, with the orders they name read by id.
- The LGL store's fulfillment webhooks run the pushback of the retailer each LGL order came from,
  with those LGL orders read by id.
- The LGL store's inventory webhooks run the inventory snapshot, after which every retailer's
  inventory syncs (its automation condition). A delivery triggered before the last snapshot run
  started is already covered by it and starts nothing.
- ``app/uninstalled`` disables the retailer and tells a person, once per event.

Debounced: a group (retailer and flow) runs once its newest delivery is
LGL_WEBHOOK_DEBOUNCE_SECONDS old (or its oldest five times that), and never while a run of the
same retailer and flow is queued or going: the deliveries that arrive meanwhile wait for one run
after it. A burst becomes one run.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg

from lgl_sync import settings
from lgl_sync.control_plane import inbox
from lgl_sync.control_plane.retailers import RetailerError, get_retailer, set_enabled
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.jobs import import_orders_job, inventory_snapshot_job, push_fulfillments_job
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.defs.schedules import ACTIVE
from lgl_sync.flows import RETAILER_FLOW_TAG, Flow
from lgl_sync.notify.notices import webhook_notice

TRIGGER_TAG = "lgl/trigger"
LAG_TAG = "lgl/webhook-lag-s"  # from Shopify's trigger of the oldest delivery to the request
UNINSTALLED = "uninstalled"
COVER_MARGIN = timedelta(seconds=5)


def _settled(events: list[inbox.Event], now: datetime, debounce: float) -> bool:
    newest = max(e.received_at for e in events)
    oldest = min(e.received_at for e in events)
    return (now - newest).total_seconds() >= debounce or (
        now - oldest
    ).total_seconds() >= 5 * debounce


def _ids(events: Iterable[inbox.Event], key: str) -> list[str]:
    return sorted({i for e in events for i in e.objects.get(key) or [] if i})


def _busy(instance: dg.DagsterInstance, tags: dict[str, str] | None, job: str | None) -> bool:
    runs = dg.RunsFilter(tags=tags, statuses=ACTIVE) if tags else None
    runs = runs or dg.RunsFilter(job_name=job, statuses=ACTIVE)
    return bool(instance.get_run_records(runs, limit=1))


def _last_snapshot_start(instance: dg.DagsterInstance) -> datetime | None:
    records = instance.get_run_records(
        dg.RunsFilter(
            job_name=inventory_snapshot_job.name,
            statuses=[dg.DagsterRunStatus.SUCCESS, *ACTIVE],
        ),
        limit=1,
    )
    start = records[0].start_time if records else None
    return datetime.fromtimestamp(start, UTC) if start else None


def _lag(events: list[inbox.Event]) -> str:
    triggered = [e.triggered_at for e in events if e.triggered_at]
    if not triggered:
        return "unknown"
    return f"{(datetime.now(UTC) - min(triggered)).total_seconds():.1f}"


def _retailer_request(retailer_id: str, flow: Flow, events: list[inbox.Event]) -> dg.RunRequest:
    tag = f"{retailer_id}:{flow}"
    if flow == Flow.ORDERS:
        ids = {"order_ids": _ids(events, "order_ids")}
        ops = {"retailer_paid_orders": ids, "retailer_order_changes": ids}
        job = import_orders_job.name
    else:
        ops = {"lgl_shipments": {"lgl_order_ids": _ids(events, "lgl_order_ids")}}
        job = push_fulfillments_job.name
    return dg.RunRequest(
        run_key=f"webhook:{tag}:{max(e.id for e in events)}",
        job_name=job,
        partition_key=retailer_id,
        run_config={"ops": {op: {"config": config} for op, config in ops.items()}},
        tags={RETAILER_FLOW_TAG: tag, TRIGGER_TAG: "webhook", LAG_TAG: _lag(events)},
    )


def _inventory_request(
    instance: dg.DagsterInstance, engine, events: list[inbox.Event]
) -> dg.RunRequest | None:
    """One snapshot run for the deliveries no snapshot has covered yet."""
    started = _last_snapshot_start(instance)
    # A margin for Shopify's clock against ours: a delivery near the start is not "covered".
    edge = started - COVER_MARGIN if started else None
    covered = [e for e in events if edge and e.triggered_at and e.triggered_at < edge]
    if covered:
        inbox.take(engine, [e.id for e in covered], "covered")
    fresh = [e for e in events if e not in covered]
    if not fresh:
        return None
    return dg.RunRequest(
        run_key=f"webhook:inventory:{max(e.id for e in fresh)}",
        job_name=inventory_snapshot_job.name,
        tags={TRIGGER_TAG: "webhook", LAG_TAG: _lag(fresh)},
    )


def _uninstalled(engine, notifier: NotifierResource, events: list[inbox.Event]) -> None:
    """The retailer disabled, and a person told once per event."""
    for event in events:
        if event.retailer_id is None:
            title, lines = (
                "LGL's store uninstalled LGL Sync's app",
                ["Every flow stops until the app is installed again and the token replaced."],
            )
        else:
            set_enabled(engine, event.retailer_id, False)
            retailer = get_retailer(engine, event.retailer_id)
            name = retailer.name if retailer else event.retailer_id
            title = f"{name} uninstalled LGL Sync's app: the retailer is disabled"
            lines = [
                f"Store: {event.shop}",
                "No orders are imported and nothing is pushed until it is installed again "
                f"and enabled (lgl-sync retailer enable {event.retailer_id}).",
            ]
        notice = webhook_notice(
            title=title,
            lines=lines,
            retailer_id=event.retailer_id,
            dedupe_key=f"uninstalled:{event.event_id}",
        )
        notifier.notifier(engine).notify(notice)
        inbox.take(engine, [event.id], UNINSTALLED)


def _groups(events: list[inbox.Event]) -> dict[tuple[str | None, str], list[inbox.Event]]:
    groups: dict[tuple[str | None, str], list[inbox.Event]] = {}
    for event in events:
        if event.flow:
            groups.setdefault((event.retailer_id, event.flow), []).append(event)
    return groups


def _runnable(context, control_plane: ControlPlaneResource, retailer_id: str, flow: Flow) -> bool:
    try:
        retailer = get_retailer(control_plane.engine(), retailer_id)
    except RetailerError:
        return False
    partitions = context.instance.get_dynamic_partitions("retailers")
    return bool(
        retailer and retailer.enabled and flow.enabled_for(retailer) and retailer_id in partitions
    )


@dg.sensor(
    minimum_interval_seconds=3,
    default_status=dg.DefaultSensorStatus.RUNNING,
    jobs=[import_orders_job, push_fulfillments_job, inventory_snapshot_job],
    description="Shopify's webhooks (the inbox) become runs of the retailer and flow they "
    "concern, a burst one run, never beside a run of the same retailer and flow.",
)
def webhook_sensor(
    context: dg.SensorEvaluationContext,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> dg.SensorResult | dg.SkipReason:
    engine, now = control_plane.engine(), datetime.now(UTC)
    debounce = settings.webhook_debounce_seconds()
    requests, waiting = [], 0
    for (retailer_id, kind), events in _groups(inbox.waiting(engine)).items():
        if kind == UNINSTALLED:
            _uninstalled(engine, notifier, events)
            continue
        flow = Flow(kind)
        if not _settled(events, now, debounce):
            waiting += len(events)
            continue
        if flow == Flow.INVENTORY:
            if _busy(context.instance, None, inventory_snapshot_job.name):
                waiting += len(events)
                continue
            request = _inventory_request(context.instance, engine, events)
        elif not _runnable(context, control_plane, retailer_id, flow):
            inbox.take(engine, [e.id for e in events], "not-running")
            continue
        elif _busy(context.instance, {RETAILER_FLOW_TAG: f"{retailer_id}:{flow}"}, None):
            waiting += len(events)
            continue
        else:
            request = _retailer_request(retailer_id, flow, events)
        if request is not None:
            inbox.take(engine, [e.id for e in events], request.run_key)
            requests.append(request)
    inbox.prune(engine, timedelta(days=settings.webhook_retention_days()))
    if not requests:
        return dg.SkipReason(f"no webhook run to start ({waiting} deliveries waiting)")
    return dg.SensorResult(run_requests=requests)
