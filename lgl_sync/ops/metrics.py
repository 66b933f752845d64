"""Prometheus metrics: what `lgl-sync status` knows, in Prometheus's text format
(https://prometheus.io/docs/instrumenting/exposition_formats/), for those who run Grafana.

Values come from the Dagster instance (runs, their metadata) and the control plane (ledger), so
any process may serve them: the web app's ``GET /metrics`` does. Labels are retailer ids, flow
names and reasons: never a token, a customer or an order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from lgl_sync.ops.health import RetailerStatus

HELP = {
    "lgl_sync_retailer_enabled": ("gauge", "1 when the retailer is enabled"),
    "lgl_sync_flow_last_success_timestamp_seconds": (
        "gauge",
        "Unix time of the flow's last successful run",
    ),
    "lgl_sync_flow_age_seconds": ("gauge", "seconds since the flow's last successful run"),
    "lgl_sync_flow_fresh_within_seconds": ("gauge", "how old the last success may be"),
    "lgl_sync_flow_success_ratio_24h": ("gauge", "share of the flow's runs that succeeded, 24 h"),
    "lgl_sync_flow_runs_24h": ("gauge", "the flow's runs in the last 24 hours"),
    "lgl_sync_held_orders": ("gauge", "orders held, by reason, at the last import"),
    "lgl_sync_shipments_waiting": ("gauge", "LGL shipments not yet on the retailer's order"),
    "lgl_sync_api_requests_last_hour": ("gauge", "Shopify requests in the last hour"),
    "lgl_sync_api_cost_last_hour": ("gauge", "Shopify cost points used in the last hour"),
    "lgl_sync_errors_24h": ("gauge", "failed runs in the last 24 hours, by error category"),
    "lgl_sync_webhooks_24h": ("gauge", "webhook deliveries from the retailer's store, 24 hours"),
    "lgl_sync_webhook_lag_seconds": (
        "gauge",
        "from Shopify's trigger to the delivery's arrival, 24 hours (stat: p50 or max)",
    ),
    "lgl_sync_webhook_last_timestamp_seconds": (
        "gauge",
        "Unix time of the last webhook delivery from the retailer's store",
    ),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value:g}"


def _samples(status: RetailerStatus, now: datetime) -> Iterable[tuple[str, dict, float]]:
    retailer = {"retailer": status.retailer_id}
    yield "lgl_sync_retailer_enabled", retailer, float(status.enabled)
    for name, flow in status.flows.items():
        labels = {**retailer, "flow": name}
        yield "lgl_sync_flow_fresh_within_seconds", labels, flow.fresh_within_minutes * 60
        yield "lgl_sync_flow_runs_24h", labels, flow.runs_24h
        if flow.last_success is not None:
            stamp = flow.last_success.timestamp()
            yield "lgl_sync_flow_last_success_timestamp_seconds", labels, stamp
            yield "lgl_sync_flow_age_seconds", labels, (now - flow.last_success).total_seconds()
        if flow.success_rate_24h is not None:
            yield "lgl_sync_flow_success_ratio_24h", labels, flow.success_rate_24h
    for reason, count in status.held_orders.items():
        yield "lgl_sync_held_orders", {**retailer, "reason": reason}, count
    yield "lgl_sync_shipments_waiting", retailer, status.shipments_waiting
    yield "lgl_sync_api_requests_last_hour", retailer, status.api_requests_last_hour
    yield "lgl_sync_api_cost_last_hour", retailer, status.api_cost_last_hour
    for category, count in status.errors_24h.items():
        yield "lgl_sync_errors_24h", {**retailer, "category": category}, count
    yield "lgl_sync_webhooks_24h", retailer, status.webhooks_24h
    for stat, lag in (("p50", status.webhook_lag_p50_s), ("max", status.webhook_lag_max_s)):
        if lag is not None:
            yield "lgl_sync_webhook_lag_seconds", {**retailer, "stat": stat}, lag
    if status.webhook_last:
        last = datetime.fromisoformat(status.webhook_last).timestamp()
        yield "lgl_sync_webhook_last_timestamp_seconds", retailer, last


def render(statuses: list[RetailerStatus], now: datetime | None = None) -> str:
    """The exposition text: each metric's HELP and TYPE once, then its samples."""
    now = now or datetime.now(UTC)
    by_name: dict[str, list[str]] = {name: [] for name in HELP}
    for status in statuses:
        for name, labels, value in _samples(status, now):
            by_name[name].append(_sample(name, labels, value))
    lines = []
    for name, (kind, text) in HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *by_name[name]]
    return "\n".join(lines) + "\n"
