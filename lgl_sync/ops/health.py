"""Is each retailer's sync healthy? Read from the Dagster instance (runs, materializations,
check results) and the control plane (retailers, the pushback ledger) — nothing is kept twice.

``collect`` gathers a ``RetailerStatus`` per retailer for `lgl-sync status`; ``problems`` turns
them into the one-line reasons `lgl-sync health` exits non-zero with.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster import DagsterEventType
from dagster._core.event_api import PartitionKeyFilter
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import inbox, ledger
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.flows import Flow, flow_of_asset, flow_of_job
from lgl_sync.ops.runs import failure_category, root_cause

FINISHED = {
    dg.DagsterRunStatus.SUCCESS: "success",
    dg.DagsterRunStatus.FAILURE: "failure",
    dg.DagsterRunStatus.CANCELED: "canceled",
}
CHECKS = [
    dg.AssetCheckKey(dg.AssetKey("retailer_fulfillments"), "fulfillment_lag"),
    dg.AssetCheckKey(dg.AssetKey("retailer_inventory"), "inventory_drift"),
    dg.AssetCheckKey(dg.AssetKey("retailer_inventory"), "inventory_sku_coverage"),
]


@dataclass
class FlowStatus:
    flow: str
    enabled: bool
    fresh_within_minutes: int
    last_success: datetime | None = None
    last_run: str | None = None  # success | failure | canceled
    last_error: str | None = None
    runs_24h: int = 0
    success_rate_24h: float | None = None
    runs_7d: int = 0
    success_rate_7d: float | None = None

    def age(self, now: datetime) -> timedelta | None:
        return now - self.last_success if self.last_success else None


@dataclass
class RetailerStatus:
    retailer_id: str
    name: str
    enabled: bool
    flows: dict[str, FlowStatus]
    held_orders: dict[str, int] = field(default_factory=dict)
    checks_not_run: list[str] = field(default_factory=list)
    shipments_waiting: int = 0
    inventory_drift: int | None = None
    failed_checks: list[str] = field(default_factory=list)
    api_requests_last_hour: int = 0
    api_cost_last_hour: float = 0.0
    api_p95_ms_24h: float | None = None
    errors_24h: dict[str, int] = field(default_factory=dict)
    # Webhooks from the retailer's store: the last one (ISO time), and over 24 h how many and
    # the median and worst lag from Shopify's trigger to receipt, in seconds.
    webhook_last: str | None = None
    webhooks_24h: int = 0
    webhook_lag_p50_s: float | None = None
    webhook_lag_max_s: float | None = None

    def as_json(self) -> dict:
        data = asdict(self)
        for flow in data["flows"].values():
            if flow["last_success"]:
                flow["last_success"] = flow["last_success"].isoformat()
        return data


def run_flows(run: dg.DagsterRun) -> set[str]:
    """The flows a run carried out: by job, or by the assets it materialized."""
    if flow_of_job(run.job_name):
        return {flow_of_job(run.job_name)}
    keys = run.asset_selection or set()
    return {flow_of_asset(k.to_user_string()) for k in keys} - {None}


def _category(instance: dg.DagsterInstance, run_id: str) -> tuple[str, str]:
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.STEP_FAILURE
    ).records:
        data = record.event_log_entry.dagster_event.step_failure_data
        return failure_category(data), root_cause(data)[:200]
    return "unknown", ""


def _flow_statuses(instance, retailer, now: datetime) -> tuple[dict[str, FlowStatus], Counter]:
    flows = {
        flow.value: FlowStatus(
            flow=flow.value,
            enabled=retailer.enabled and flow.enabled_for(retailer),
            fresh_within_minutes=int(flow.fresh_window().total_seconds() // 60),
        )
        for flow in Flow
    }
    outcomes: dict[str, list[tuple[datetime, str]]] = {flow.value: [] for flow in Flow}
    errors_24h: Counter = Counter()
    records = instance.get_run_records(
        dg.RunsFilter(
            tags={"dagster/partition": retailer.id},
            statuses=list(FINISHED),
            updated_after=now - timedelta(days=7),
        ),
        limit=20000,
    )
    latest_failure: dict[str, tuple[datetime, str]] = {}
    for record in records:  # newest first
        ended = datetime.fromtimestamp(record.end_time or record.create_timestamp.timestamp(), UTC)
        status = FINISHED[record.dagster_run.status]
        for flow in run_flows(record.dagster_run):
            outcomes[flow].append((ended, status))
            if status == "failure" and flow not in latest_failure:
                latest_failure[flow] = (ended, record.dagster_run.run_id)
        if status == "failure" and now - ended <= timedelta(hours=24):
            errors_24h[_category(instance, record.dagster_run.run_id)[0]] += 1
    for flow, seen in outcomes.items():
        state = flows[flow]
        seen.sort(reverse=True)
        if seen:
            state.last_run = seen[0][1]
        state.last_success = next((when for when, s in seen if s == "success"), None)
        day = [s for when, s in seen if now - when <= timedelta(hours=24)]
        state.runs_24h, state.runs_7d = len(day), len(seen)
        if day:
            state.success_rate_24h = round(day.count("success") / len(day), 3)
        if seen:
            state.success_rate_7d = round([s for _, s in seen].count("success") / len(seen), 3)
        if state.last_run == "failure" and flow in latest_failure:
            category, message = _category(instance, latest_failure[flow][1])
            state.last_error = f"{category}: {message}" if message else category
    return flows, errors_24h


def _latest_metadata(instance, asset: str, retailer_id: str, after: float | None = None):
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[retailer_id], after_timestamp=after
        ),
        limit=1 if after is None else 500,
    )
    return [r.event_log_entry.asset_materialization.metadata for r in result.records]


def _api_usage(instance, retailer_id: str, now: datetime, status: RetailerStatus) -> None:
    hour = (now - timedelta(hours=1)).timestamp()
    day = (now - timedelta(hours=24)).timestamp()
    p95s = []
    for asset in (asset for flow in Flow for asset in flow.assets):
        for metadata in _latest_metadata(instance, asset, retailer_id, after=day):
            for key, value in metadata.items():
                if key.endswith("_api_latency_p95_ms") and value.value:
                    p95s.append(float(value.value))
        for metadata in _latest_metadata(instance, asset, retailer_id, after=hour):
            for key, value in metadata.items():
                if key.endswith("_api_requests"):
                    status.api_requests_last_hour += int(value.value)
                elif key.endswith("_api_cost_actual"):
                    status.api_cost_last_hour += float(value.value)
    if p95s:
        status.api_p95_ms_24h = round(
            statistics.quantiles(p95s, n=20)[-1] if len(p95s) > 1 else p95s[0], 1
        )


def _checks(instance, retailer_id: str, status: RetailerStatus) -> None:
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        CHECKS, partition_filter=PartitionKeyFilter(key=retailer_id)
    )
    for key, record in latest.items():
        event = record.event.dagster_event if record.event else None
        if event is None or event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
            # Planned, but its run failed (or is still going) before the check ran.
            status.checks_not_run.append(key.name)
            continue
        evaluation = event.asset_check_evaluation_data
        if key.name == "inventory_drift" and "drifted_skus" in evaluation.metadata:
            status.inventory_drift = int(evaluation.metadata["drifted_skus"].value)
        if not evaluation.passed:
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            status.failed_checks.append(f"{key.name} ({severity.lower()})")


def collect(instance: dg.DagsterInstance, engine: Engine, now: datetime | None = None):
    """A RetailerStatus per retailer in the control plane, enabled ones first."""
    now = now or datetime.now(UTC)
    statuses = []
    for retailer in sorted(list_retailers(engine), key=lambda r: (not r.enabled, r.id)):
        flows, errors_24h = _flow_statuses(instance, retailer, now)
        status = RetailerStatus(
            retailer.id, retailer.name, retailer.enabled, flows, errors_24h=dict(errors_24h)
        )
        for metadata in _latest_metadata(instance, "imported_lgl_orders", retailer.id):
            status.held_orders = {
                k.removeprefix("held_"): int(v.value)
                for k, v in metadata.items()
                if k.startswith("held_") and v.value
            }
        status.shipments_waiting = ledger.shipments_waiting(engine, retailer.id)
        _checks(instance, retailer.id, status)
        _api_usage(instance, retailer.id, now, status)
        _webhooks(engine, retailer.id, now, status)
        statuses.append(status)
    return statuses


def _webhooks(engine: Engine, retailer_id: str, now: datetime, status: RetailerStatus) -> None:
    last = inbox.last_delivery(engine, retailer_id)
    status.webhook_last = last.isoformat() if last else None
    topics = inbox.topic_status(engine, now - timedelta(hours=24), retailer_id)
    status.webhooks_24h = sum(t.deliveries for t in topics)
    lags = [t.lag_p50 for t in topics if t.lag_p50 is not None]
    status.webhook_lag_p50_s = round(statistics.median(lags), 1) if lags else None
    worst = [t.lag_max for t in topics if t.lag_max is not None]
    status.webhook_lag_max_s = round(max(worst), 1) if worst else None


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return "never"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes}m"
    return f"{minutes // 60}h" if minutes < 48 * 60 else f"{minutes // 1440}d"


def problems(statuses: list[RetailerStatus], now: datetime | None = None) -> list[str]:
    """One line per reason an enabled retailer's sync is not healthy; empty when all is well."""
    now = now or datetime.now(UTC)
    lines = []
    for status in statuses:
        if not status.enabled:
            continue
        for flow in status.flows.values():
            if not flow.enabled:
                continue
            where = f"{status.retailer_id} {flow.flow}"
            limit = timedelta(minutes=flow.fresh_within_minutes)
            if flow.last_run == "failure":
                lines.append(f"{where}: last run failed ({flow.last_error or 'unknown'})")
            if flow.age(now) is None or flow.age(now) > limit:
                lines.append(
                    f"{where}: last success {_age(flow.age(now))} ago "
                    f"(must be within {flow.fresh_within_minutes}m)"
                    if flow.last_success
                    else f"{where}: never succeeded"
                )
        lines += [
            f"{status.retailer_id}: check {check} failed"
            for check in status.failed_checks
            if check.endswith("(error)")
        ]
    return lines


def age_text(delta: timedelta | None) -> str:
    return _age(delta)
