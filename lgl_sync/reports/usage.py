"""Usage for billing: what LGL did for one retailer in one month, from the history the sync
kept (README "Reports" states the counting rules; they are these):

- The month is in the LGL store's time zone (``shop.ianaTimezone``), daylight saving included.
- An order counts in the month the LGL order was created, with its lines and units as imported.
  An order cancelled before anything shipped is not billed (``cancelled_before_shipment``); one
  cancelled after a shipment is. Refunds change nothing: the work was done.
- A shipment counts in the month LGL created it, partial shipments each once; a voided
  (cancelled) shipment is not counted. Boxes are its tracking numbers, at least one.
- Hours to ship: from the LGL order's creation to each shipment, averaged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import records

SUMMARY_COLUMNS = [
    "retailer",
    "month",
    "orders",
    "order_lines",
    "units",
    "shipments",
    "boxes",
    "avg_hours_to_ship",
    "cancelled_before_shipment",
    "timezone",
]


class MonthError(ValueError):
    """A month that is not YYYY-MM."""


def parse_month(value: str) -> date:
    """``2026-11`` (or a partition key ``2026-11-01``) -> the month's first day."""
    try:
        first = datetime.strptime(value.strip()[:7], "%Y-%m").date()
    except ValueError:
        raise MonthError(f"month must look like 2026-11, not {value[:20]!r}") from None
    return first


def month_bounds(month: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of the month in UTC: local midnight of its first day to the next's."""
    zone = ZoneInfo(timezone)
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = datetime(following.year, following.month, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class Usage:
    """One retailer's month: the summary row and the billed orders and shipments behind it."""

    summary: pd.DataFrame
    orders: pd.DataFrame
    shipments: pd.DataFrame

    def row(self) -> dict:
        return self.summary.iloc[0].to_dict()


def usage(engine: Engine, retailer_id: str, month: date, timezone: str) -> Usage:
    start, end = month_bounds(month, timezone)
    zone = ZoneInfo(timezone)
    orders = records.orders(engine, retailer_id, start, end)
    shipped = records.shipped_orders(engine, retailer_id, list(orders["lgl_order_id"].dropna()))
    dropped = orders["cancelled_at"].notna() & ~orders["lgl_order_id"].isin(shipped)
    billed = orders[~dropped]
    shipments = records.shipments(engine, retailer_id, start, end)
    shipments = shipments[~shipments["cancelled"].astype(bool)]
    hours = (shipments["shipped_at"] - shipments["received_at"]).dt.total_seconds() / 3600
    summary = {
        "retailer": retailer_id,
        "month": month.strftime("%Y-%m"),
        "orders": len(billed),
        "order_lines": int(billed["lines"].sum()),
        "units": int(billed["units"].sum()),
        "shipments": len(shipments),
        "boxes": int(shipments["boxes"].sum()),
        "avg_hours_to_ship": round(float(hours.mean()), 1) if hours.notna().any() else None,
        "cancelled_before_shipment": int(dropped.sum()),
        "timezone": timezone,
    }
    return Usage(
        summary=pd.DataFrame([summary], columns=SUMMARY_COLUMNS),
        orders=pd.DataFrame(
            {
                "order": billed["source_order_name"],
                "lgl_order": billed["lgl_order_id"],
                "received": _local(billed["received_at"], zone),
                "lines": billed["lines"],
                "units": billed["units"],
            }
        ).sort_values("received"),
        shipments=pd.DataFrame(
            {
                "lgl_fulfillment": shipments["lgl_fulfillment_id"],
                "lgl_order": shipments["lgl_order_id"],
                "shipped": _local(shipments["shipped_at"], zone),
                "carrier": shipments["carrier"].fillna(""),
                "boxes": shipments["boxes"],
                "hours_to_ship": hours.round(1),
            }
        ).sort_values("shipped"),
    )


def _local(column: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Local wall-clock times as text (spreadsheets have no time zones)."""
    return column.dt.tz_convert(zone).dt.strftime("%Y-%m-%d %H:%M")


def to_csv(report: Usage) -> bytes:
    """The summary row (the XLSX has the orders and shipments behind it)."""
    out = io.StringIO()
    report.summary.to_csv(out, index=False)
    return out.getvalue().encode()


def to_xlsx(report: Usage) -> bytes:
    """Three sheets: Usage (the summary), Orders and Shipments (what it counts)."""
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        report.summary.to_excel(writer, sheet_name="Usage", index=False)
        report.orders.to_excel(writer, sheet_name="Orders", index=False)
        report.shipments.to_excel(writer, sheet_name="Shipments", index=False)
    return out.getvalue()


def filename(report: Usage, extension: str) -> str:
    row = report.row()
    return f"lgl-usage-{row['retailer']}-{row['month']}.{extension}"
