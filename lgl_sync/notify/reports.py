"""The report emails: monthly usage for billing, the low-stock list, an anomaly."""

from __future__ import annotations

import hashlib

from lgl_sync.notify.notices import Notice

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"


def usage_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    row: dict,
    files: dict[str, bytes],
    chart: bytes,
    recipients: tuple[str, ...],
    run_url: str,
    run_id: str,
) -> Notice:
    """One retailer's month; sent again only when its numbers change (the dedupe key)."""
    digest = hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()[:12]
    attachments = tuple(
        (name, XLSX if name.endswith(".xlsx") else CSV, data) for name, data in files.items()
    )
    return Notice(
        kind="usage",
        subject=f"[{retailer_name}] Usage for {row['month']}: {row['orders']} orders, "
        f"{row['shipments']} shipments",
        context={"retailer": retailer_name, "row": row, "run_url": run_url, "run_id": run_id},
        retailer_id=retailer_id,
        dedupe_key=f"usage:{retailer_id}:{row['month']}:{','.join(recipients)}:{digest}",
        attachments=(*attachments, ("usage.png", PNG, chart)),
        recipients=recipients,
    )


def low_stock_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    skus: list[dict],
    threshold: int,
    chart: bytes,
    recipients: tuple[str, ...],
    day: str,
    run_url: str,
    run_id: str,
) -> Notice:
    """The SKUs under ``threshold`` days of cover; the fingerprint is the list, so the asset
    sends it only when it differs from the last one sent."""
    listed = ",".join(sorted(s["sku"] for s in skus))
    fingerprint = hashlib.sha256(listed.encode()).hexdigest()[:16]
    return Notice(
        kind="low_stock",
        subject=f"[{retailer_name}] {len(skus)} SKU(s) under {threshold} days of cover",
        context={
            "retailer": retailer_name,
            "skus": skus,
            "threshold": threshold,
            "run_url": run_url,
            "run_id": run_id,
        },
        retailer_id=retailer_id,
        fingerprint=fingerprint,
        dedupe_key=f"low_stock:{retailer_id}:{day}:{fingerprint}",
        attachments=(("cover.png", PNG, chart),),
        recipients=recipients,
    )


def anomaly_notice(
    *,
    retailer_id: str,
    retailer_name: str,
    kind: str,
    key: str,
    summary: str,
    chart: bytes | None,
    run_url: str,
    run_id: str,
) -> Notice:
    """One anomaly, once (its key)."""
    titles = {
        "orders_stopped": "orders stopped arriving",
        "orders_drop": "far fewer orders than usual",
        "orders_spike": "far more orders than usual",
        "cost_jump": "a flow's API cost jumped",
        "duration_jump": "a flow's run time jumped",
    }
    return Notice(
        kind="anomaly",
        subject=f"[{retailer_name}] Anomaly: {titles.get(kind, kind)}",
        context={
            "retailer": retailer_name,
            "title": titles.get(kind, kind),
            "summary": summary,
            "chart": chart is not None,
            "run_url": run_url,
            "run_id": run_id,
        },
        retailer_id=retailer_id,
        dedupe_key=f"anomaly:{key}",
        attachments=(("chart.png", PNG, chart),) if chart else (),
    )
