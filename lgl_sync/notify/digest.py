"""The daily digest: per retailer and overall, what the last 24 hours did (imports, holds,
shipments, inventory updates, failures, API usage) and what quiet hours held back."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import notifications
from lgl_sync.control_plane.tables import sync_jobs
from lgl_sync.notify.notices import Notice, short_error

FINISHED = ("completed", "failed")


def _totals(results: dict) -> Counter:
    """Sums the mirrored materialization numbers of one run into digest figures."""
    figures = Counter()
    orders = results.get("imported_lgl_orders", {})
    figures["imported"] += int(orders.get("imported", 0))
    figures["held"] += int(orders.get("held", 0))
    figures["pushed"] += int(results.get("retailer_fulfillments", {}).get("pushed", 0))
    figures["skus"] += int(results.get("retailer_inventory", {}).get("skus_written", 0))
    for metadata in results.values():
        for key, value in metadata.items():
            if key.endswith("_api_requests"):
                figures["requests"] += int(value)
            elif key.endswith("_api_cost_actual"):
                figures["cost"] += float(value)
            elif key.startswith("held_") and isinstance(value, int):
                figures[f"hold:{key[5:]}"] += value
    return figures


def build_digest(
    engine: Engine, now: datetime, names: dict[str, str], statuses: list | None = None
) -> tuple[Notice, list[int]]:
    """The digest notice and the ids of the deferred notices it carries; ``statuses`` (from
    lgl_sync.ops.health.collect) add success rates, API latency and errors by category."""
    since = now - timedelta(hours=24)
    per, errors = _runs_per_retailer(engine, since)
    rows = []
    overall = Counter()
    for key in sorted(per):
        figures = per[key]
        overall += figures
        rows.append(_row(names.get(key, key), figures, errors.get(key, [])))
        rows[-1]["health"] = _health(key, statuses or [])
    deferred = notifications.deferred(engine)
    suppressed = sum(notifications.suppressed_counts(engine, since).values())
    day = now.astimezone(UTC).date().isoformat()
    headline = (
        f"{overall['imported']} orders imported, {overall['held']} held, "
        f"{overall['pushed']} shipments pushed, {overall['skus']} SKUs updated, "
        f"{overall['failed']} failed runs"
    )
    context = {
        "day": day,
        "headline": headline,
        "rows": ([_row("All retailers", overall, [])] if len(rows) > 1 else []) + rows,
        "held_back": [f"{d['subject']}" for d in deferred],
        "suppressed": suppressed,
    }
    notice = Notice(
        kind="digest",
        subject=f"LGL Sync digest {day}: {headline}",
        context=context,
        dedupe_key=f"digest:{day}",
    )
    return notice, [d["id"] for d in deferred]


def _runs_per_retailer(
    engine: Engine, since: datetime
) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    """Per retailer, the totals of its finished runs since ``since`` and their errors."""
    with engine.connect() as connection:
        runs = connection.execute(
            sa.select(
                sync_jobs.c.retailer_id,
                sync_jobs.c.status,
                sync_jobs.c.results,
                sync_jobs.c.error_message,
            ).where(
                sync_jobs.c.status.in_(FINISHED),
                sa.func.coalesce(sync_jobs.c.completed_at, sync_jobs.c.created_at) >= since,
            )
        ).all()
    per: dict[str, Counter] = {}
    errors: dict[str, list[str]] = {}
    for retailer_id, status, results, error in runs:
        key = retailer_id or "LGL store"
        figures = per.setdefault(key, Counter())
        figures += _totals(results or {})
        figures["succeeded" if status == "completed" else "failed"] += 1
        if status == "failed" and error:
            errors.setdefault(key, []).append(short_error(error).splitlines()[0][:160])
    return per, errors


def _health(retailer_id: str, statuses: list) -> list[str]:
    """Success rates per flow (24 h / 7 d), p95 API latency and errors by category."""
    found = next((s for s in statuses if s.retailer_id == retailer_id), None)
    if found is None:
        return []
    lines = [
        f"{flow.flow}: {flow.success_rate_24h:.0%} ok in 24 h ({flow.runs_24h} runs), "
        f"{flow.success_rate_7d:.0%} in 7 d"
        for flow in found.flows.values()
        if flow.runs_24h and flow.success_rate_7d is not None
    ]
    if found.api_p95_ms_24h is not None:
        lines.append(f"Shopify API p95 latency: {found.api_p95_ms_24h:.0f} ms")
    if found.errors_24h:
        lines.append(
            "errors: " + ", ".join(f"{n} {category}" for category, n in found.errors_24h.items())
        )
    return lines


def _row(name: str, figures: Counter, errors: list[str]) -> dict:
    holds = {k[5:]: v for k, v in figures.items() if k.startswith("hold:") and v}
    return {
        "name": name,
        "imported": figures["imported"],
        "held": figures["held"],
        "pushed": figures["pushed"],
        "skus": figures["skus"],
        "succeeded": figures["succeeded"],
        "failed": figures["failed"],
        "requests": figures["requests"],
        "cost": round(figures["cost"]),
        "holds": holds,
        "errors": list(dict.fromkeys(errors))[:5],
        "health": [],
    }
