"""Fulfillment pushback assets, one partition per retailer: LGL's shipments, then the same
shipments with tracking on the retailer's orders."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from lgl_sync import settings
from lgl_sync.control_plane import ledger, read_marks, records
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.partitions import retailer_asset, retailers
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
    idle,
    takeover,
)
from lgl_sync.flows import Flow
from lgl_sync.notify.notices import overdue_notice, returns_notice, returns_scope_notice
from lgl_sync.shopify.errors import AuthError
from lgl_sync.sync.fulfillments.reads import read_shipped_orders
from lgl_sync.sync.fulfillments.rules import ShippedOrder, late_shipments, shipment_rows
from lgl_sync.sync.fulfillments.writer import FulfillmentPusher, PushOutcome, PushStatus
from lgl_sync.sync.returns import ReturnMirror, ReturnOutcome, read_retailer_returns


class PushbackConfig(dg.Config):
    lookback_hours: int | None = None
    # LGL orders named by fulfillment webhooks (the webhook sensor sets them): read by id,
    # since Shopify's search index lags the webhook.
    lgl_order_ids: list[str] = []
    # How stale another run's claim must be to take it over (default LGL_TAKEOVER_SECONDS).
    reconcile_after_seconds: int | None = None


@retailer_asset(Flow.FULFILLMENTS)
def lgl_shipments(
    context: dg.AssetExecutionContext,
    config: PushbackConfig,
    control_plane: ControlPlaneResource,
    lgl_shopify: ShopifyStoreResource,
) -> dg.MaterializeResult:
    """LGL orders imported from this retailer that shipped within its fulfillment lookback.

    One row per LGL order, with its fulfillments and tracking.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.FULFILLMENTS)
    if retailer is None:
        return idle(context.partition_key, Flow.FULFILLMENTS, [])
    lgl, engine = lgl_shopify.get_client(), control_plane.engine()
    read = _read_plan(engine, retailer, config)
    start = read.since if read.full else _lookback_start(retailer, config)
    # Pushed orders are re-read by id on a full read (a void of their last shipment); shipments
    # not settled (a failed or interrupted push) on every read, changed or not.
    pushed = ledger.pushed_lgl_orders(engine, retailer.id, start) if read.full else ()
    unsettled = ledger.unsettled_lgl_orders(engine, retailer.id, start)
    by_id = pushed + unsettled + tuple(config.lgl_order_ids)
    expected = ledger.imported_since(engine, retailer.id, read.since) if read.full else None
    orders = read_shipped_orders(
        lgl, retailer.id, read.since, by_id, changes_only=not read.full, expected=expected
    )
    shipments = sum(len(o.shipments) for o in orders)
    return dg.MaterializeResult(
        value=orders,
        metadata={
            "dagster/row_count": len(orders),
            "shipments": shipments,
            "read": "full lookback" if read.full else f"changes since {read.since:%Y-%m-%d %H:%M}",
            **lgl.metrics.as_metadata("lgl_api"),
        },
    )


def _lookback_start(retailer, config: PushbackConfig) -> datetime:
    hours = config.lookback_hours or retailer.fulfillment_lookback_hours
    return datetime.now(UTC) - timedelta(hours=hours)


def _read_plan(engine, retailer, config: PushbackConfig) -> read_marks.ReadPlan:
    """Changes since the last read, or the whole lookback when a full read is due (every
    LGL_FULL_READ_HOURS) or asked for (``lookback_hours`` in the run's config)."""
    every = 0 if config.lookback_hours else settings.full_read_hours()
    return read_marks.plan(
        engine,
        retailer.id,
        read_marks.PUSHBACK,
        now=datetime.now(UTC),
        start=_lookback_start(retailer, config),
        overlap=timedelta(minutes=settings.watermark_overlap_minutes()),
        full_every=timedelta(hours=every),
    )


@retailer_asset(Flow.FULFILLMENTS)
def retailer_fulfillments(
    context: dg.AssetExecutionContext,
    config: PushbackConfig,
    lgl_shipments: list[ShippedOrder],
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Each LGL shipment pushed once onto the retailer's order, with every tracking number.

    One row per LGL fulfillment with its outcome: pushed, already pushed, tracking updated,
    skipped (with the reason, e.g. retailer_order_cancelled) or failed.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.FULFILLMENTS)
    if retailer is None:
        return idle(context.partition_key, Flow.FULFILLMENTS, [])
    store, lgl = retailer_stores.client(retailer), lgl_shopify.get_client()
    pusher = FulfillmentPusher(
        retailer=retailer,
        retailer_store=store,
        lgl=lgl,
        engine=control_plane.engine(),
        run_id=context.run_id,
        reconcile_after=timedelta(seconds=takeover(config.reconcile_after_seconds)),
    )
    with control_plane.flow_lock(retailer.id, Flow.FULFILLMENTS):
        outcomes = pusher.run(lgl_shipments)
    records.record_shipments(control_plane.engine(), retailer.id, shipment_rows(lgl_shipments))
    # Every shipment read is pushed, reported or recorded unsettled (read again by id): the next
    # run may read only what changes after this run's read began.
    read_marks.commit(control_plane.engine(), retailer.id, read_marks.PUSHBACK)
    _tell_overdue(notifier, control_plane.engine(), retailer)
    metadata = _metadata(outcomes, store, lgl)
    failed = [o for o in outcomes if o.status == PushStatus.FAILED]
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(outcomes)} shipments failed to push; the first "
            f"({failed[0].lgl_order_name}): "
            f"{failed[0].detail or failed[0].reason}",
            metadata={**metadata, "error_category": failed[0].reason or "server"},
        )
    return dg.MaterializeResult(value=outcomes, metadata=metadata)


def _tell_overdue(notifier: NotifierResource, engine, retailer) -> None:
    """Orders past the retailer's fulfill-by date with nothing shipped: each told once."""
    overdue = ledger.overdue_orders(engine, retailer.id, datetime.now(UTC))
    if overdue:
        notice = overdue_notice(
            retailer_id=retailer.id, retailer_name=retailer.name, orders=overdue
        )
        notifier.notifier(engine).notify(notice)
        ledger.mark_overdue_told(engine, retailer.id, [o["source_order_id"] for o in overdue])


def _metadata(outcomes: list[PushOutcome], store, lgl) -> dict:
    counts = Counter(o.status for o in outcomes)
    skipped = Counter(o.reason for o in outcomes if o.status == PushStatus.SKIPPED)
    table = pd.DataFrame(
        [
            {
                "order": o.lgl_order_name,
                "fulfillment": o.lgl_fulfillment_id,
                "outcome": o.status,
                "reason": o.reason or "",
                "detail": (o.detail or "")[:80],
            }
            for o in outcomes
            if o.status != PushStatus.ALREADY_PUSHED
        ]
    )
    return {
        "dagster/row_count": len(outcomes),
        **{name.value: counts.get(name, 0) for name in PushStatus},
        **{f"skipped_{reason}": n for reason, n in skipped.items()},
        "shipments": dg.MetadataValue.md(
            table.head(50).to_markdown(index=False) if len(table) else "(nothing new)"
        ),
        **store.metrics.as_metadata("retailer_api"),
        **lgl.metrics.as_metadata("lgl_api"),
    }


@retailer_asset(Flow.FULFILLMENTS, deps=[retailer_fulfillments])
def retailer_returns(
    context: dg.AssetExecutionContext,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Returns the retailer opened for goods LGL shipped, each mirrored once onto the LGL order
    as an expected receipt; those LGL's warehouse has taken in, told to the retailer once.

    Reads the imported orders with a return changed since the last read (the whole
    LGL_RETURNS_LOOKBACK_DAYS every LGL_FULL_READ_HOURS). Writes no stock: LGL's goes back
    up when the warehouse restocks the return in Shopify, and the inventory sync follows.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.FULFILLMENTS)
    if retailer is None:
        return idle(context.partition_key, Flow.FULFILLMENTS, {})
    engine, lgl = control_plane.engine(), lgl_shopify.get_client()
    store = retailer_stores.client(retailer)
    read = _returns_read(engine, retailer)
    found = _retailer_returns(store, read, notifier, engine, retailer)
    if found is None:
        return dg.MaterializeResult(value={}, metadata={"skipped": "the token lacks read_returns"})
    mirror = ReturnMirror(
        retailer=retailer,
        lgl=lgl,
        engine=engine,
        run_id=context.run_id,
        reconcile_after=timedelta(seconds=takeover(None)),
    )
    with control_plane.flow_lock(retailer.id, Flow.FULFILLMENTS):
        report = mirror.run(found)
    _tell_returns(notifier, engine, retailer, report.received)
    if not report.outcomes[ReturnOutcome.FAILED]:
        read_marks.commit(engine, retailer.id, read_marks.RETURNS)
    metadata = {
        **{o.value: report.outcomes.get(o, 0) for o in ReturnOutcome},
        "read": "full lookback" if read.full else f"changes since {read.since:%Y-%m-%d %H:%M}",
        **store.metrics.as_metadata("retailer_api"),
        **lgl.metrics.as_metadata("lgl_api"),
    }
    if report.problems:
        raise dg.Failure(
            f"{len(report.problems)} return(s) could not be mirrored; the first: "
            f"{report.problems[0]}",
            metadata={**metadata, "error_category": "server"},
        )
    return dg.MaterializeResult(value=dict(report.outcomes), metadata=metadata)


def _retailer_returns(store, read, notifier: NotifierResource, engine, retailer):
    """The retailer's returns to look at; None when its token predates returns (no
    ``read_returns``): its shipments are still pushed, and a person is told once."""
    try:
        return read_retailer_returns(store, read.since)
    except AuthError as exc:
        if "read_returns" not in str(exc):
            raise
        notifier.notifier(engine).notify(returns_scope_notice(retailer.id, retailer.name))
        return None


def _returns_read(engine, retailer) -> read_marks.ReadPlan:
    """Changes since the last read, or the whole LGL_RETURNS_LOOKBACK_DAYS when a full read is
    due (every LGL_FULL_READ_HOURS)."""
    now = datetime.now(UTC)
    return read_marks.plan(
        engine,
        retailer.id,
        read_marks.RETURNS,
        now=now,
        start=now - timedelta(days=settings.returns_lookback_days()),
        overlap=timedelta(minutes=settings.watermark_overlap_minutes()),
        full_every=timedelta(hours=settings.full_read_hours()),
    )


def _tell_returns(notifier: NotifierResource, engine, retailer, received: list[dict]) -> None:
    if received:
        ops = notifier.notifier(engine).recipients
        to = tuple(dict.fromkeys([*filter(None, [retailer.billing_email]), *ops]))
        notice = returns_notice(
            retailer_id=retailer.id,
            retailer_name=retailer.name,
            received=received,
            recipients=to,
        )
        notifier.notifier(engine).notify(notice)


class LagCheckConfig(dg.Config):
    max_lag_minutes: int = 60


@dg.asset_check(
    asset=retailer_fulfillments,
    blocking=False,
    # Partitioned like its asset, so it reads the run's retailer's shipments only (unpartitioned,
    # it would be handed every retailer's shipments as soon as there are two retailers).
    partitions_def=retailers,
    additional_ins={"lgl_shipments": dg.AssetIn("lgl_shipments")},
    description="LGL shipments older than the allowed lag are on the retailer order.",
)
def fulfillment_lag(
    context: dg.AssetCheckExecutionContext,
    config: LagCheckConfig,
    retailer_fulfillments: list,
    lgl_shipments: list[ShippedOrder],
    control_plane: ControlPlaneResource,
) -> dg.AssetCheckResult:
    """Counts LGL fulfillments older than ``max_lag_minutes`` with no pushed or reported link."""
    links = ledger.fulfillment_links_of(control_plane.engine(), context.partition_key)
    cutoff = datetime.now(UTC) - timedelta(minutes=config.max_lag_minutes)
    settled = {key for key, link in links.items() if link.settled}
    late = late_shipments(lgl_shipments, settled, cutoff)
    return dg.AssetCheckResult(
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"late_shipments": len(late), "examples": dg.MetadataValue.json(late[:20])},
    )
