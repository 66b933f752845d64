"""Order import assets, one partition per retailer: read the paid orders LGL must ship, create
them in the LGL store exactly once, then apply the retailer's cancellations to them."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from lgl_sync import settings
from lgl_sync.control_plane import inbox, ledger, watermarks
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.partitions import retailer_asset
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
    idle,
    takeover,
)
from lgl_sync.flows import Flow
from lgl_sync.notify.notices import (
    held_notice,
    not_shipped_notice,
    unsubmitted_notice,
    warehouse_notice,
    webhook_notice,
)
from lgl_sync.shopify.models import FULFILLMENT_SERVICE
from lgl_sync.sync.lifecycle.reads import changed_since
from lgl_sync.sync.lifecycle.rules import SourceChange
from lgl_sync.sync.lifecycle.writer import ChangeOutcome, ChangeReconciler, ChangeStatus
from lgl_sync.sync.orders.reads import (
    read_candidates,
    read_source_orders,
    read_source_orders_by_id,
)
from lgl_sync.sync.orders.rules import (
    SourceOrder,
    changed_query,
    ineligibility,
    search_query,
    split_eligible,
)
from lgl_sync.sync.orders.writer import ImportOutcome, ImportStatus, OrderImporter
from lgl_sync.sync.service_requests import (
    Answers,
    answer_cancellation_requests,
    answer_fulfillment_requests,
    unsubmitted,
)

# How long after an order was placed its webhook must have arrived, before polling's finding
# it counts as unannounced.
UNANNOUNCED_GRACE = timedelta(minutes=5)


class OrderImportConfig(dg.Config):
    """Launchpad settings for catch-up runs."""

    lookback_hours: int | None = None
    dry_run: bool = False
    # How stale another run's claim must be to take it over (default LGL_TAKEOVER_SECONDS).
    reconcile_after_seconds: int | None = None
    # Orders named by webhooks (the webhook sensor sets them): read by id, since Shopify's
    # search index lags the webhook.
    order_ids: list[str] = []


class OrderChangesConfig(dg.Config):
    # Orders named by webhooks: read by id as well as through the changes search.
    order_ids: list[str] = []


@retailer_asset(Flow.ORDERS)
def retailer_paid_orders(
    context: dg.AssetExecutionContext,
    config: OrderImportConfig,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
) -> dg.MaterializeResult:
    """Paid, uncancelled orders of one retailer that changed since the last run, with their LGL
    lines.

    Selected by change (``updated_at`` past the retailer's watermark, less
    LGL_WATERMARK_OVERLAP_MINUTES), so an order paid or routed hours after it was placed is
    still found; the first run, and a sweep every LGL_SWEEP_MINUTES, read every order placed
    within the lookback. Orders held, claimed or failed before are re-read by id. One row per
    order; every page is read (the old scripts stopped at 50).
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.ORDERS)
    if retailer is None:
        return idle(context.partition_key, Flow.ORDERS, [])
    engine, client = control_plane.engine(), retailer_stores.client(retailer)
    candidates, read = _read_candidates(engine, client, retailer, config)
    return dg.MaterializeResult(
        value=candidates,
        metadata={
            "dagster/row_count": len(candidates),
            **read,
            **client.metrics.as_metadata("retailer_api"),
        },
    )


def _read_candidates(engine, client, retailer, config: OrderImportConfig):
    """The orders to look at this run, and how they were read (for the metadata)."""
    now = datetime.now(UTC)
    lookback = timedelta(hours=config.lookback_hours or retailer.lookback_hours)
    mark = watermarks.get(engine, retailer.id)
    every = timedelta(minutes=settings.sweep_minutes())
    first = mark is None or mark.mark is None
    sweep = first or bool(config.lookback_hours) or mark.sweep_due(now, every)
    queries = [search_query(now - lookback)] if sweep else []
    if not first:
        queries.append(
            changed_query(mark.mark - timedelta(minutes=settings.watermark_overlap_minutes()))
        )
    location, model = retailer.target_location_id, retailer.location_model
    if model == FULFILLMENT_SERVICE:  # the requests waiting are the whole queue
        found = {o.id: o for o in read_candidates(client, location, now, model)}
    else:
        found = {o.id: o for q in queries for o in read_source_orders(client, location, q)}
    tracked = [link.source_order_id for link in ledger.tracked_orders(engine, retailer.id)]
    by_id = [i for i in dict.fromkeys(tracked + config.order_ids) if i not in found]
    found.update({o.id: o for o in read_source_orders_by_id(client, location, by_id, model)})
    reach = max(lookback, timedelta(hours=settings.max_order_age_hours()))
    horizon = mark.horizon if mark else now - reach
    watermarks.propose(engine, retailer.id, read_at=now, horizon=horizon, swept=sweep)
    read = {
        "read_by": "fulfillment requests"
        if model == FULFILLMENT_SERVICE
        else ", ".join(["created_at"] * sweep + ["updated_at"] * (not first)),
        "changed_since": "(first run)" if first else mark.mark.isoformat(),
        "horizon": horizon.isoformat(),
        "read_by_id": len(by_id),
        "named_by_webhooks": len(config.order_ids),
    }
    return sorted(found.values(), key=lambda o: o.created_at), read


@retailer_asset(Flow.ORDERS)
def imported_lgl_orders(
    context: dg.AssetExecutionContext,
    config: OrderImportConfig,
    retailer_paid_orders: list[SourceOrder],
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Each eligible order created once in the LGL store and tagged at the retailer.

    One row per eligible order with its outcome: imported, already imported, held (with the
    reason, e.g. unknown_sku) or failed. The run fails after all orders are processed if any
    failed for a reason other than a hold.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.ORDERS)
    if retailer is None:
        return idle(context.partition_key, Flow.ORDERS, [])
    source, lgl = retailer_stores.client(retailer), lgl_shopify.get_client()
    importer = OrderImporter(
        retailer=retailer,
        source=source,
        lgl=lgl,
        engine=control_plane.engine(),
        run_id=context.run_id,
        dry_run=config.dry_run,
        reconcile_after=timedelta(seconds=takeover(config.reconcile_after_seconds)),
    )
    engine = control_plane.engine()
    tracked = frozenset(o.source_order_id for o in ledger.tracked_orders(engine, retailer.id))
    horizon = _horizon(engine, retailer, config)
    eligible, skipped = split_eligible(retailer_paid_orders, horizon, tracked)
    answers = Answers()
    with control_plane.flow_lock(retailer.id, Flow.ORDERS):
        outcomes = importer.run(eligible)
        if retailer.location_model == FULFILLMENT_SERVICE and not config.dry_run:
            answers = _answer_requests(source, engine, retailer, retailer_paid_orders, outcomes)
    if not config.dry_run:
        settled = not any(o.status == ImportStatus.FAILED for o in outcomes)
        _settle_read(engine, retailer.id, retailer_paid_orders, eligible, move_mark=settled)
    paid = {o.id: o.financial_status or "" for o in retailer_paid_orders}
    metadata = _metadata(outcomes, skipped, source, lgl, paid) | answers.as_metadata()
    metadata |= _tell(engine, retailer, config, retailer_paid_orders, outcomes, notifier)
    _fail_if_any(outcomes, answers, metadata)
    context.log.info(
        "orders: %s", {str(k): n for k, n in Counter(o.status for o in outcomes).items()}
    )
    return dg.MaterializeResult(value=outcomes, metadata=metadata)


def _tell(engine, retailer, config, read: list[SourceOrder], outcomes, notifier) -> dict:
    """What a person must hear of this run: orders LGL does not ship, and, after a polling
    run, webhooks that stopped announcing orders."""
    if not config.dry_run:
        _not_shipped(engine, retailer, read, notifier)
    if config.order_ids:  # a webhook's run: webhooks announced what it read
        return {}
    return _unannounced(engine, retailer, read, outcomes, notifier)


def _not_shipped(engine, retailer, read: list[SourceOrder], notifier) -> None:
    """Paid orders whose items at the LGL location are a pickup or a local delivery: never
    imported, and a person is told once per order."""
    orders = [
        {"id": o.id, "order": o.name, "method": o.not_shipped[0]}
        for o in read
        if o.not_shipped and not o.lines and not o.cancelled
    ]
    for order in orders:  # one notice per order, so a new one never repeats the others
        notice = not_shipped_notice(
            retailer_id=retailer.id, retailer_name=retailer.name, orders=[order]
        )
        notifier.notifier(engine).notify(notice)


def _unannounced(engine, retailer, read: list[SourceOrder], outcomes, notifier) -> dict:
    """Orders this polling run imported that no webhook named although the retailer's store
    sends webhooks. When nothing at all arrived from the store since the oldest of them was
    placed, its webhooks have stopped: a person is told once per outage."""
    last = inbox.last_delivery(engine, retailer.id)
    if last is None:  # no webhooks from this store: polling is the only path
        return {}
    placed = {o.id: o.created_at for o in read}
    cutoff = datetime.now(UTC) - UNANNOUNCED_GRACE
    imported = [o.source_order_id for o in outcomes if o.status == ImportStatus.IMPORTED]
    named = inbox.announced(engine, retailer.id, cutoff - timedelta(days=2))
    missed = [i for i in imported if i not in named and placed.get(i, cutoff) < cutoff]
    if missed and last < min(placed[i] for i in missed):
        lines = [
            f"{len(missed)} order(s) were found by polling that no webhook announced; the last "
            f"webhook from {retailer.name} arrived {last:%Y-%m-%d %H:%M} UTC.",
            "Orders still arrive, every LGL_ORDERS_CRON tick instead of within seconds.",
            "Check and repair the subscriptions: lgl-sync webhooks status --repair",
        ]
        notifier.notifier(engine).notify(
            webhook_notice(
                title=f"[{retailer.name}] webhooks stopped arriving",
                lines=lines,
                retailer_id=retailer.id,
                dedupe_key=f"webhooks-stopped:{retailer.id}:{last.isoformat()}",
            )
        )
    return {"orders_no_webhook_announced": len(missed)}


def _fail_if_any(outcomes: list[ImportOutcome], answers: Answers, metadata: dict) -> None:
    """The run fails, once every order was tried, if an order failed or a request could not
    be answered (both are tried again next run)."""
    failed = [o for o in outcomes if o.status == ImportStatus.FAILED]
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(outcomes)} orders failed to import; the first "
            f"({failed[0].source_order_name}): "
            f"{failed[0].detail or failed[0].reason}",
            metadata={**metadata, "error_category": failed[0].reason or "server"},
        )
    if answers.failed:
        raise dg.Failure(
            f"{len(answers.failed)} fulfillment requests could not be answered (asked again "
            f"next run); the first: {answers.failed[0]}",
            metadata={**metadata, "error_category": "request_answer"},
        )


def _answer_requests(source, engine, retailer, read: list[SourceOrder], outcomes) -> Answers:
    """At LGL's fulfillment service: accepts the requests of the orders now imported, rejects
    those whose SKUs LGL does not stock (the SKUs named)."""
    rejects = {
        o.source_order_id: o.detail or "unknown SKU"
        for o in outcomes
        if o.status == ImportStatus.HELD and o.reason == "unknown_sku"
    }
    return answer_fulfillment_requests(source, engine, retailer, read, rejects)


def _horizon(engine, retailer, config: OrderImportConfig) -> datetime:
    """The oldest order this run may import: the retailer's horizon (its first run less
    LGL_MAX_ORDER_AGE_HOURS), or a catch-up run's own lookback."""
    if config.lookback_hours:
        return datetime.now(UTC) - timedelta(hours=config.lookback_hours)
    mark = watermarks.get(engine, retailer.id)
    reach = max(retailer.lookback_hours, settings.max_order_age_hours())
    return mark.horizon if mark else datetime.now(UTC) - timedelta(hours=reach)


def _settle_read(
    engine,
    retailer_id: str,
    read: list[SourceOrder],
    eligible: list[SourceOrder],
    *,
    move_mark: bool,
) -> None:
    """The read is done: held orders that ended their own hold (cancelled, refunded, shipped
    from elsewhere) stop being tracked, and, when no order failed (a failure before its claim
    leaves no ledger row to re-read it by), the watermark moves to the read's start."""
    if move_mark:
        watermarks.commit(engine, retailer_id)
    chosen = {o.id for o in eligible}
    horizon = datetime.min.replace(tzinfo=UTC)
    ended = {o.id: f"ended: {ineligibility(o, horizon)}" for o in read if o.id not in chosen}
    ledger.end_holds(engine, retailer_id, ended)


def _metadata(
    outcomes: list[ImportOutcome], skipped: Counter, source, lgl, paid: dict[str, str]
) -> dict:
    counts = Counter(o.status for o in outcomes)
    holds = Counter(o.reason for o in outcomes if o.status == ImportStatus.HELD)
    table = pd.DataFrame(
        [
            {
                "order": o.source_order_name,
                "outcome": o.status,
                "financial_status": paid.get(o.source_order_id, ""),
                "reason": o.reason or "",
                "detail": (o.detail or "")[:80],
                "lgl_order": o.lgl_order_id or "",
            }
            for o in outcomes
        ]
    )
    interesting = table[table["outcome"] != ImportStatus.ALREADY_IMPORTED] if len(table) else table
    return {
        "dagster/row_count": len(outcomes),
        "eligible": len(outcomes),
        **{name.value: counts.get(name, 0) for name in ImportStatus},
        **{f"held_{reason}": n for reason, n in holds.items()},
        **{f"skipped_{reason}": n for reason, n in skipped.items()},
        "orders": dg.MetadataValue.md(
            interesting.head(50).to_markdown(index=False)
            if len(interesting)
            else "(nothing to report)"
        ),
        **source.metrics.as_metadata("retailer_api"),
        **lgl.metrics.as_metadata("lgl_api"),
    }


@retailer_asset(Flow.ORDERS, deps=[imported_lgl_orders])
def retailer_order_changes(
    context: dg.AssetExecutionContext,
    config: OrderChangesConfig,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Imported orders the retailer changed since the last run, applied to their LGL orders.

    One row per change: lines edited to match the retailer's LGL lines after an edit, a refund
    or a move (or, where LGL shipped already, a person told the difference once), a retailer's
    hold mirrored or released, shipping address updated, LGL order cancelled (restocked, no
    customer notice; the warehouse emailed at once when the order was open longer than
    LGL_PICK_WINDOW_MINUTES), cancel requested (Shopify's job not done yet), held after a
    partial shipment or shipped in full before the cancellation (a person decides), or
    failed. Changes are read from the last run's start less LGL_WATERMARK_OVERLAP_MINUTES (the
    first time, over the retailer's ``fulfillment_lookback_hours``); the mark moves only when
    nothing failed. Held orders are reminded at each LGL_HELD_REMINDER_HOURS step.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.ORDERS)
    if retailer is None:
        return idle(context.partition_key, Flow.ORDERS, [])
    source, lgl = retailer_stores.client(retailer), lgl_shopify.get_client()
    engine, now = control_plane.engine(), datetime.now(UTC)
    mark = watermarks.changes_mark(engine, retailer.id)
    overlap = timedelta(minutes=settings.watermark_overlap_minutes())
    since = mark - overlap if mark else now - timedelta(hours=retailer.fulfillment_lookback_hours)
    with control_plane.flow_lock(retailer.id, Flow.ORDERS):
        named = ledger.imported_orders(engine, retailer.id, config.order_ids)
        outcomes, answers = _reconcile(source, lgl, engine, retailer, since, sorted(named))
    failed = [o for o in outcomes if o.status == ChangeStatus.FAILED]
    if not failed and not answers.failed:
        watermarks.set_changes_mark(engine, retailer.id, now)
    told = _tell_people(context, engine, retailer, outcomes, notifier)
    metadata = _change_metadata(outcomes, source, lgl) | told | answers.as_metadata()
    if retailer.location_model == FULFILLMENT_SERVICE:
        metadata |= _report_unsubmitted(context, engine, retailer, source, notifier)
    _fail_changes(failed, answers, metadata)
    return dg.MaterializeResult(value=outcomes, metadata=metadata)


def _fail_changes(failed: list[ChangeOutcome], answers: Answers, metadata: dict) -> None:
    if failed:
        raise dg.Failure(
            f"{len(failed)} changes could not be applied; the first "
            f"({failed[0].source_order_name}): {failed[0].detail}",
            metadata={**metadata, "error_category": "order_change"},
        )
    if answers.failed:
        raise dg.Failure(
            f"{len(answers.failed)} cancellation requests could not be answered (asked again "
            f"next run); the first: {answers.failed[0]}",
            metadata={**metadata, "error_category": "request_answer"},
        )


def _reconcile(source, lgl, engine, retailer, since: datetime, named: list[str]):
    """The changes applied; at LGL's fulfillment service the requests to cancel answered
    first, so an accepted one cancels its LGL order in this run."""
    reconciler = ChangeReconciler(
        retailer=retailer,
        source=source,
        lgl=lgl,
        engine=engine,
        pick_window=timedelta(minutes=settings.pick_window_minutes()),
    )
    answers = Answers()
    changes = changed_since(source, since)
    changes += _also_read(source, retailer, changes, named)
    if retailer.location_model == FULFILLMENT_SERVICE:
        answers = answer_cancellation_requests(source, lgl, engine, retailer)
        changes += _also_read(source, retailer, changes, answers.cancellations_accepted)
    return reconciler.run(changes), answers


def _also_read(source, retailer, changes, order_ids: list[str]) -> list[SourceChange]:
    """Orders the changes search did not list (its index lags) but that LGL knows changed: a
    cancellation LGL accepted, or a webhook named them. Read by id, so their changes are
    applied in this run."""
    listed = {c.id for c in changes}
    wanted = [i for i in dict.fromkeys(order_ids) if i not in listed]
    location, model = retailer.target_location_id, retailer.location_model
    return [
        SourceChange(o.id, o.name, datetime.now(UTC) if o.cancelled else None, o.shipping_address)
        for o in read_source_orders_by_id(source, location, wanted, model)
    ]


def _report_unsubmitted(context, engine, retailer, source, notifier: NotifierResource) -> dict:
    """Paid orders at LGL's service nobody asked LGL to ship for LGL_UNSUBMITTED_HOURS: a
    person is told (once per set of orders); their count goes to the metadata."""
    hours = settings.unsubmitted_hours()
    waiting = unsubmitted(source, retailer, hours)
    if waiting:
        notifier.notifier(engine).notify(
            unsubmitted_notice(
                retailer_id=retailer.id,
                retailer_name=retailer.name,
                orders=waiting[:100],
                hours=f"{hours:g} h",
                run_id=context.run_id,
                run_url=notifier.run_url(context.run_id),
            )
        )
    return {"unsubmitted_paid_orders": len(waiting)}


def _change_metadata(outcomes: list[ChangeOutcome], source, lgl) -> dict:
    counts = Counter(o.status for o in outcomes)
    table = pd.DataFrame([vars(o) for o in outcomes])
    return {
        "dagster/row_count": len(outcomes),
        **{status.value: counts.get(status, 0) for status in ChangeStatus},
        "changes": dg.MetadataValue.md(
            table.head(50).to_markdown(index=False) if len(table) else "(no changes)"
        ),
        # For the activity email: each order changed, what became of it and why (first 50).
        "changed_orders": dg.MetadataValue.json(
            [
                {
                    "order": o.source_order_name,
                    "lgl_order": o.lgl_order_name or o.lgl_order_id or "",
                    "outcome": o.status.value,
                    "detail": (o.detail or "")[:200],
                }
                for o in outcomes[:50]
            ]
        ),
        **source.metrics.as_metadata("retailer_api"),
        **lgl.metrics.as_metadata("lgl_api"),
    }


def _tell_people(context, engine, retailer, outcomes, notifier: NotifierResource) -> dict:
    """The warehouse at once about late cancellations; a person at each reminder step about
    orders still held. Returns what was sent, for the metadata."""
    run_url = notifier.run_url(context.run_id)
    late = [
        {
            "lgl_order": o.lgl_order_name or o.lgl_order_id or "",
            "order": o.source_order_name,
            "what": o.detail or "",
        }
        for o in outcomes
        if o.warehouse
    ]
    told: dict = {"warehouse_told": len(late), "held_reminders": 0}
    if late:
        window = f"{settings.pick_window_minutes():g} minutes"
        floor = notifier.notifier(engine, recipients=settings.warehouse_emails())
        floor.notify(
            warehouse_notice(
                retailer_id=retailer.id,
                retailer_name=retailer.name,
                orders=late,
                window=window,
                run_id=context.run_id,
                run_url=run_url,
            )
        )
    for step, orders in held_reminders(engine, retailer.id, datetime.now(UTC)).items():
        notifier.notifier(engine).notify(
            held_notice(
                retailer_id=retailer.id,
                retailer_name=retailer.name,
                orders=orders,
                step=step,
                run_id=context.run_id,
                run_url=run_url,
            )
        )
        told["held_reminders"] += len(orders)
    return told


def held_reminders(engine, retailer_id: str, now: datetime) -> dict[str, list[dict]]:
    """Held orders that reached a reminder step they were not reminded of, by step (each
    claimed in the ledger first, so a step is sent once however many runs see it)."""
    steps = settings.held_reminder_hours()
    due: dict[str, list[dict]] = {}
    for held in ledger.held_orders(engine, retailer_id):
        age = (now - held.held_since).total_seconds() / 3600
        reached = sum(1 for hours in steps if age >= hours)
        if reached <= held.reminded or not ledger.mark_reminded(engine, retailer_id, held, reached):
            continue
        label = f"{steps[reached - 1]:g} h"
        due.setdefault(label, []).append(
            {
                "id": held.source_order_id,
                "order": held.name or held.source_order_id,
                "reason": (held.reason or "held").replace("_", " "),
                "detail": "",
                "since": held.held_since.strftime("%Y-%m-%d %H:%M UTC"),
            }
        )
    return due
