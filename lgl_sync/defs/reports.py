"""Reports over the history the sync keeps (nothing re-read from Shopify but the LGL store's
time zone): monthly usage for billing (month x retailer), stock insight and anomalies (per
retailer), each emailed when a person should look."""

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import notifications, records
from lgl_sync.control_plane.history import recent_runs
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.partitions import retailers
from lgl_sync.defs.resources import ControlPlaneResource, ShopifyStoreResource
from lgl_sync.defs.schedules import default_status
from lgl_sync.notify.reports import anomaly_notice, low_stock_notice, usage_notice
from lgl_sync.reports import anomalies, charts, insight, usage
from lgl_sync.retailer import Retailer

GROUP = "reports"
# The current month too (month to date in the UI); it is emailed only once it has ended.
months = dg.MonthlyPartitionsDefinition(start_date="2026-01-01", end_offset=1)
usage_partitions = dg.MultiPartitionsDefinition({"month": months, "retailer": retailers})


def lgl_timezone(lgl_shopify: ShopifyStoreResource) -> str:
    """The LGL store's time zone (``shop.ianaTimezone``): days and billing months follow it."""
    return lgl_shopify.get_client().query("Shop")["shop"]["ianaTimezone"]


class UsageConfig(dg.Config):
    email: bool = True  # email a month that has ended (again only if its numbers changed)


@dg.asset(
    partitions_def=usage_partitions,
    group_name=GROUP,
    kinds={"pandas", "excel"},
    description="Usage for billing: one retailer's orders, lines, units, shipments, boxes and "
    "time to ship in one month of the LGL store's time zone; CSV and XLSX emailed to "
    "LGL_BILLING_EMAIL.",
)
def monthly_usage(
    context: dg.AssetExecutionContext,
    config: UsageConfig,
    control_plane: ControlPlaneResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    retailer = control_plane.retailer(keys["retailer"])
    month = usage.parse_month(keys["month"])
    timezone = lgl_timezone(lgl_shopify)
    engine = control_plane.engine()
    report = usage.usage(engine, retailer.id, month, timezone)
    row = report.row()
    ended = datetime.now(UTC) >= usage.month_bounds(month, timezone)[1]
    outcomes = []
    if config.email and ended:
        outcomes = _email_usage(context, report, retailer, timezone, control_plane, notifier)
    return dg.MaterializeResult(
        value=report.summary,
        metadata={
            **{k: v for k, v in row.items() if isinstance(v, int | float) and v is not None},
            "month_ended": ended,
            "emailed": ", ".join(outcomes) or "no",
            "summary": dg.MetadataValue.md(report.summary.to_markdown(index=False)),
            "dagster/row_count": len(report.orders),
        },
    )


def _email_usage(context, report, retailer, timezone, control_plane, notifier) -> list[str]:
    """To LGL's billing recipients, and a copy to the retailer when configured."""
    engine = control_plane.engine()
    files = {
        usage.filename(report, "csv"): usage.to_csv(report),
        usage.filename(report, "xlsx"): usage.to_xlsx(report),
    }
    chart = charts.usage_chart(_last_months(engine, retailer.id, report, timezone), retailer.name)
    billing = tuple(settings.billing_recipients()) or tuple(notifier.notifier(engine).recipients)
    outcomes = []
    for recipients in (billing, (retailer.usage_copy_to,) if retailer.usage_copy_to else ()):
        if not recipients:
            continue
        notice = usage_notice(
            retailer_id=retailer.id,
            retailer_name=retailer.name,
            row=report.row(),
            files=files,
            chart=chart,
            recipients=recipients,
            run_url=notifier.run_url(context.run_id),
            run_id=context.run_id,
        )
        outcomes.append(notifier.notifier(engine).notify(notice))
    return outcomes


def _last_months(engine, retailer_id: str, report, timezone: str, count: int = 12):
    """The summary rows of the ``count`` months up to the report's (for its chart)."""
    month = usage.parse_month(report.row()["month"])
    rows = []
    for back in range(count - 1, -1, -1):
        index = month.year * 12 + month.month - 1 - back
        first = month.replace(year=index // 12, month=index % 12 + 1)
        rows.append(usage.usage(engine, retailer_id, first, timezone).row())
    return pd.DataFrame(rows)


class InsightConfig(dg.Config):
    as_of: str | None = None  # ISO time to judge at (default now): a past day's view


def _as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise dg.Failure("as_of must be an ISO time such as 2026-11-27T09:00:00+00:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retailer_report(description: str):
    """``@dg.asset`` for a per-retailer report of the reports group."""
    return dg.asset(
        partitions_def=retailers, group_name=GROUP, kinds={"pandas"}, description=description
    )


@dataclass(frozen=True)
class Judged:
    """Who a per-retailer report is about, when it judges, in which zone."""

    retailer: Retailer
    engine: Engine
    now: datetime
    timezone: str


def _judged(context, config: InsightConfig, control_plane, lgl_shopify) -> Judged:
    return Judged(
        retailer=control_plane.retailer(context.partition_key),
        engine=control_plane.engine(),
        now=_as_of(config.as_of),
        timezone=lgl_timezone(lgl_shopify),
    )


@retailer_report(
    "Per SKU: sales velocity over 7 and 28 days, days of cover at LGL, a 14-day forecast, low "
    "stock and a reorder suggestion; the low-stock list emailed when it changed."
)
def stock_insight(
    context: dg.AssetExecutionContext,
    config: InsightConfig,
    control_plane: ControlPlaneResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    judged = _judged(context, config, control_plane, lgl_shopify)
    retailer, engine, now, timezone = judged.retailer, judged.engine, judged.now, judged.timezone
    table = stock_table(engine, retailer, timezone, now)
    low = table[table["low_stock"]]
    emailed = _email_low_stock(context, retailer, table, low, now, timezone, engine, notifier)
    retention = timedelta(days=settings.history_retention_days())
    pruned = records.prune(engine, now - retention, retailer.id)
    shown = low if len(low) else table.nlargest(20, "velocity_28d")
    return dg.MaterializeResult(
        value=table,
        metadata={
            "dagster/row_count": len(table),
            "low_stock": len(low),
            "units_28d": float(table["units_28d"].sum()),
            "reorder_units": int(table["reorder_units"].sum()),
            "emailed": emailed,
            "pruned_rows": sum(pruned.values()),
            "low_stock_skus" if len(low) else "top_sellers": dg.MetadataValue.md(
                shown.head(50).to_markdown(index=False)
            ),
        },
    )


def stock_table(engine, retailer, timezone: str, now: datetime) -> pd.DataFrame:
    """Stock insight of a retailer from the last 8 weeks of complete days before ``now``."""
    last = pd.Timestamp(now).tz_convert(timezone).date() - timedelta(days=1)
    first = last - timedelta(weeks=insight.SEASON_WEEKS) + timedelta(days=1)
    start = pd.Timestamp(first).tz_localize(timezone).tz_convert("UTC").to_pydatetime()
    end = pd.Timestamp(last + timedelta(days=1)).tz_localize(timezone).tz_convert("UTC")
    orders = records.orders(engine, retailer.id, start, end.to_pydatetime())
    demand = insight.daily_demand(orders, timezone, first, last)
    changes = records.level_changes(engine, retailer.id, start)
    changes = changes[changes["at"] < now]
    levels = _levels_at(changes, now)
    censored = insight.stocked_out(changes, list(demand.columns), timezone, first, last)
    return insight.insight(
        demand,
        censored,
        levels,
        low_stock_days=retailer.low_stock_days,
        reorder_cover_days=retailer.reorder_cover_days,
    )


def _levels_at(changes: pd.DataFrame, now: datetime) -> dict[str, int]:
    """Each SKU's level at ``now`` from its changes (the last one at or before it)."""
    latest = changes[changes["at"] <= now].sort_values("at").groupby("sku").tail(1)
    return dict(zip(latest["sku"], latest["available"].astype(int), strict=True))


def _email_low_stock(context, retailer, table, low, now, timezone, engine, notifier) -> str:
    """The list, once per change: not when it equals the last one sent (or is empty)."""
    if low.empty:
        return "no"
    notice = low_stock_notice(
        retailer_id=retailer.id,
        retailer_name=retailer.name,
        skus=low.sort_values("days_of_cover").to_dict("records"),
        threshold=retailer.low_stock_days,
        chart=charts.cover_chart(table, retailer.name, retailer.low_stock_days),
        recipients=tuple(settings.stock_recipients()),
        day=pd.Timestamp(now).tz_convert(timezone).date().isoformat(),
        run_url=notifier.run_url(context.run_id),
        run_id=context.run_id,
    )
    sent = notifications.history(engine, kind="low_stock", retailer_id=retailer.id)
    delivered = [p for p in sent if p.status in notifications.DELIVERED]
    if delivered and delivered[-1].fingerprint == notice.fingerprint:
        return "unchanged"
    return notifier.notifier(engine).notify(notice)


@retailer_report(
    "Orders that stopped, dropped or spiked against the retailer's own pattern for those hours "
    "and weekdays, and flows whose cost or run time jumped; each emailed once."
)
def order_anomalies(
    context: dg.AssetExecutionContext,
    config: InsightConfig,
    control_plane: ControlPlaneResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    judged = _judged(context, config, control_plane, lgl_shopify)
    retailer, engine, now, timezone = judged.retailer, judged.engine, judged.now, judged.timezone
    since = now - timedelta(weeks=anomalies.WEEKS)
    received = records.orders(engine, retailer.id, since, now)["received_at"]
    found = anomalies.order_anomalies(received, now, timezone, retailer.id)
    runs = recent_runs(engine, retailer.id, since)
    found += anomalies.run_anomalies(runs, retailer.id)
    outcomes = []
    for anomaly in found:
        chart = _chart(anomaly, received, runs, now, timezone, retailer.name)
        notice = anomaly_notice(
            retailer_id=retailer.id,
            retailer_name=retailer.name,
            kind=anomaly.kind,
            key=anomaly.key,
            summary=anomaly.summary,
            chart=chart,
            run_url=notifier.run_url(context.run_id),
            run_id=context.run_id,
        )
        outcomes.append(notifier.notifier(engine).notify(notice))
    frame = pd.DataFrame([a.__dict__ for a in found], columns=["kind", "key", "summary"])
    return dg.MaterializeResult(
        value=frame,
        metadata={
            "anomalies": len(found),
            "notified": sum(1 for o in outcomes if o != "duplicate"),
            "orders_8_weeks": len(received),
            "found": dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "none"),
        },
    )


def _chart(anomaly, received, runs, now: datetime, timezone: str, name: str) -> bytes:
    """The plot sent with an anomaly: orders per hour, or the flow's recent runs."""
    if anomaly.kind.startswith("orders_"):
        return _orders_chart(received, now, timezone, name)
    mine = runs[runs["flow"] == anomaly.flow].sort_values("completed_at").tail(50)
    return charts.runs_chart(mine, anomaly.measure, f"{name}: {anomaly.flow} runs")


def _orders_chart(received: pd.Series, now: datetime, timezone: str, name: str) -> bytes:
    counts = anomalies.hourly_counts(received, now - timedelta(weeks=anomalies.WEEKS), now)
    rates = anomalies.expected_rates(counts, timezone)
    week = counts[counts.index >= pd.Timestamp(now) - timedelta(days=7)]
    local = week.index.tz_convert(timezone)
    usual = pd.Series(rates.to_numpy()[local.weekday * 24 + local.hour], index=week.index)
    return charts.orders_chart(week, usual, f"{name}: orders per hour, last 7 days")


# -- jobs and schedules -----------------------------------------------------------------------

monthly_usage_job = dg.define_asset_job(
    "monthly_usage_job", selection=[monthly_usage], description="Usage for billing."
)
stock_insight_job = dg.define_asset_job(
    "stock_insight_job", selection=[stock_insight], description="Stock insight, low stock."
)
order_anomalies_job = dg.define_asset_job(
    "order_anomalies_job", selection=[order_anomalies], description="Anomalies."
)
ZONE = os.environ.get("NOTIFY_TIMEZONE", "UTC")


def _all_retailers(context, control_plane: ControlPlaneResource, enabled_only: bool):
    partitions = set(context.instance.get_dynamic_partitions("retailers"))
    return [
        r
        for r in list_retailers(control_plane.engine(), enabled_only=enabled_only)
        if r.id in partitions
    ]


@dg.schedule(
    job=monthly_usage_job,
    cron_schedule="0 12 1 * *",
    default_status=default_status(),
    description="12:00 UTC on the first of the month (after midnight in every US zone): last "
    "month's usage for every retailer, emailed to LGL_BILLING_EMAIL.",
)
def monthly_usage_schedule(
    context: dg.ScheduleEvaluationContext, control_plane: ControlPlaneResource
):
    last_month = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-01")
    for retailer in _all_retailers(context, control_plane, enabled_only=False):
        yield dg.RunRequest(
            run_key=f"usage:{last_month}:{retailer.id}",
            partition_key=dg.MultiPartitionKey({"month": last_month, "retailer": retailer.id}),
        )


def _per_retailer(name: str, job, cron: str, description: str):
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=ZONE,
        default_status=default_status(),
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, control_plane: ControlPlaneResource):
        tick = context.scheduled_execution_time.isoformat()
        for retailer in _all_retailers(context, control_plane, enabled_only=True):
            yield dg.RunRequest(run_key=f"{name}:{retailer.id}:{tick}", partition_key=retailer.id)

    return _schedule


stock_insight_schedule = _per_retailer(
    "stock_insight_schedule",
    stock_insight_job,
    "30 6 * * *",
    "06:30 daily (NOTIFY_TIMEZONE): stock insight per retailer; the low-stock list when changed.",
)
order_anomalies_schedule = _per_retailer(
    "order_anomalies_schedule",
    order_anomalies_job,
    "7 * * * *",
    "Hourly: orders stopped, dropped or spiked, and flows whose cost or run time jumped.",
)
