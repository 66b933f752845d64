"""The webhook sensor: the inbox's deliveries become runs of the flows they concern, within
seconds; the schedules stay as the reconciliation that catches what webhooks lose.

- A retailer's order webhooks run its orders flow, with the orders they name read by id.
- The LGL store's fulfillment webhooks run the pushback of the retailer each LGL order came from,
  with those LGL orders read by id.
- The LGL store's inventory webhooks start one ``sync_stock_changes`` run for every retailer
  carrying the items they named, each set for its own items' SKUs (LGL's quantities read again
  by id, once): one run hop, a few requests, one run however many retailers. The sensor's
  cursor keeps, per retailer, the newest stock event its runs were given, so a retailer busy
  syncing gets the events of the meantime in a later run, and none is lost or given twice.
  Past SCOPE_LIMIT items (a bulk adjustment) the whole snapshot runs instead, and every
  retailer follows it (its automation condition).
- ``app/uninstalled`` disables the retailer and tells a person, once per event.

Debounced: a group (retailer and flow) runs once its newest delivery is
LGL_WEBHOOK_DEBOUNCE_SECONDS old (or its oldest five times that), and never while a run of the
same retailer and flow is queued or going: the deliveries that arrive meanwhile wait for one run
after it. A burst becomes one run.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg

from lgl_sync import settings
from lgl_sync.control_plane import inbox, stock_scope
from lgl_sync.control_plane.retailers import (
    RetailerError,
    get_retailer,
    list_retailers,
    set_enabled,
)
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.jobs import (
    import_orders_job,
    inventory_snapshot_job,
    push_fulfillments_job,
)
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.defs.schedules import ACTIVE
from lgl_sync.defs.stock_changes import sync_stock_changes_job
from lgl_sync.flows import RETAILER_FLOW_TAG, Flow
from lgl_sync.notify.notices import webhook_notice

TRIGGER_TAG = "lgl/trigger"
LAG_TAG = "lgl/webhook-lag-s"  # from Shopify's trigger of the oldest delivery to the request
STOCK_RETAILERS_TAG = "lgl/retailers"  # how many retailers a stock-changes run covers
UNINSTALLED = "uninstalled"
STOCK_FEED = "stock"  # the run key of stock events taken into the per-retailer feed
SCOPE_LIMIT = 2_000  # LGL items one scoped run reads at most (8 requests); past it, a snapshot
FEED_LIMIT = 20_000  # stock events read per tick; past it, a snapshot
INVENTORY = dg.AssetKey("retailer_inventory")


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


def _stock_retailers(context, control_plane: ControlPlaneResource) -> list[str]:
    partitions = set(context.instance.get_dynamic_partitions("retailers"))
    return [
        r.id
        for r in list_retailers(control_plane.engine(), enabled_only=True)
        if Flow.INVENTORY.enabled_for(r) and r.id in partitions
    ]


def _syncing(instance: dg.DagsterInstance, retailer_id: str) -> bool:
    """A run of the retailer's inventory is queued or going (a scoped one or the
    automation's full one)."""
    records = instance.get_run_records(
        dg.RunsFilter(tags={"dagster/partition": retailer_id}, statuses=ACTIVE), limit=100
    )
    return any(INVENTORY in (r.dagster_run.asset_selection or ()) for r in records)


def _stock_request(items: dict[str, list[str]], events: list, head: int) -> dg.RunRequest:
    """One run for every retailer concerned, each with its items."""
    return dg.RunRequest(
        run_key=f"webhook:inventory-changes:{head}",
        job_name=sync_stock_changes_job.name,
        run_config={"ops": {"stock_changes": {"config": {"items": items}}}},
        tags={TRIGGER_TAG: "webhook", LAG_TAG: _lag(events), STOCK_RETAILERS_TAG: str(len(items))},
    )


def _stock_requests(
    context, control_plane: ControlPlaneResource, before: int, marks: dict[str, int]
) -> tuple[list[dg.RunRequest], dict[str, int], int]:
    """Per retailer not syncing already, one run for the stock events past its mark; or one
    snapshot for all of them when the events name too many items. (requests, marks, head)."""
    engine = control_plane.engine()
    head = inbox.last_taken(engine, Flow.INVENTORY.value)
    retailers = _stock_retailers(context, control_plane)
    if not retailers:
        return [], {}, head
    marks = {r: marks.get(r, before) for r in retailers}  # a new retailer starts now
    # A retailer never synced in full has nothing a scoped run could read by id (its items
    # are known from its full sync): that first sync covers every change so far. The automation
    # starts it after a snapshot; on a new deployment the first stock change takes one.
    synced = context.instance.get_materialized_partitions(INVENTORY)
    first = head > before and not synced
    marks.update({r: head for r in retailers if r not in synced})
    due = [r for r in retailers if marks[r] < head and not _syncing(context.instance, r)]
    if not due and not first:
        return [], marks, head
    if _busy(context.instance, None, sync_stock_changes_job.name):
        return [], marks, head  # its changes go to the next run, after it
    events = inbox.taken_between(
        engine,
        Flow.INVENTORY.value,
        min(marks[r] for r in due or retailers),
        head,
        limit=FEED_LIMIT,
    )
    items = {e.objects.get("inventory_item_id") for e in events}
    if first or len(events) >= FEED_LIMIT or len(items) > SCOPE_LIMIT:
        if _busy(context.instance, None, inventory_snapshot_job.name):
            return [], marks, head  # the next tick, after it
        request = dg.RunRequest(
            run_key=f"webhook:inventory:{head}",
            job_name=inventory_snapshot_job.name,
            tags={TRIGGER_TAG: "webhook", LAG_TAG: _lag(events)},
        )
        return [request], {**marks, **dict.fromkeys(due, head)}, head
    return _scoped(engine, due, events, marks, head), marks, head


def _scoped(engine, due: list[str], events: list, marks: dict[str, int], head: int) -> list:
    """One run for the due retailers carrying a named item (as their last full sync found
    it), each with its items; every due retailer's mark moves to ``head``."""
    items = {e.objects.get("inventory_item_id") for e in events}
    carried = stock_scope.carriers(engine, items)
    wanted, concerned = {}, []
    for retailer_id in due:
        mine = carried.get(retailer_id, set())
        events_for = [
            e
            for e in events
            if e.id > marks[retailer_id] and e.objects.get("inventory_item_id") in mine
        ]
        if events_for:
            wanted[retailer_id] = sorted({e.objects["inventory_item_id"] for e in events_for})
            concerned += events_for
        marks[retailer_id] = head
    return [_stock_request(wanted, concerned, head)] if wanted else []


def _uninstalled(engine, notifier: NotifierResource, events: list[inbox.Event]) -> None:
    """The retailer disabled, and a person told once per event."""
    for event in events:
        if event.retailer_id is None:
            title, lines = (
                "LGL's store uninstalled LGL Sync's app",
                ["Every flow stops until the app is installed again and the token replaced."],
            )
        else:
            set_enabled(engine, event.retailer_id, False, reason="app_uninstalled")
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
    jobs=[
        import_orders_job,
        push_fulfillments_job,
        inventory_snapshot_job,
        sync_stock_changes_job,
    ],
    description="Shopify's webhooks (the inbox) become runs of the retailer and flow they "
    "concern, a burst one run, never beside a run of the same retailer and flow.",
)
def webhook_sensor(
    context: dg.SensorEvaluationContext,
    control_plane: ControlPlaneResource,
    notifier: NotifierResource,
) -> dg.SensorResult:
    engine, now = control_plane.engine(), datetime.now(UTC)
    debounce = settings.webhook_debounce_seconds()
    cursor = json.loads(context.cursor) if context.cursor else {}
    before = cursor.get("head")
    before = inbox.last_taken(engine, Flow.INVENTORY.value) if before is None else before
    requests, waiting = [], 0
    for (retailer_id, kind), events in _groups(inbox.waiting(engine)).items():
        if kind == UNINSTALLED:
            _uninstalled(engine, notifier, events)
            continue
        flow = Flow(kind)
        if not _settled(events, now, debounce):
            waiting += len(events)
        elif flow == Flow.INVENTORY:  # into the feed; each retailer's runs take it from there
            inbox.take(engine, [e.id for e in events], STOCK_FEED)
        elif not _runnable(context, control_plane, retailer_id, flow):
            inbox.take(engine, [e.id for e in events], "not-running")
        elif _busy(context.instance, {RETAILER_FLOW_TAG: f"{retailer_id}:{flow}"}, None):
            waiting += len(events)
        else:
            request = _retailer_request(retailer_id, flow, events)
            inbox.take(engine, [e.id for e in events], request.run_key)
            requests.append(request)
    stock, marks, head = _stock_requests(context, control_plane, before, cursor.get("stock", {}))
    inbox.prune(engine, timedelta(days=settings.webhook_retention_days()))
    cursor = json.dumps({"head": head, "stock": marks}, sort_keys=True)
    if not requests + stock:
        return dg.SensorResult(
            skip_reason=f"no webhook run to start ({waiting} deliveries waiting)", cursor=cursor
        )
    return dg.SensorResult(run_requests=requests + stock, cursor=cursor)
