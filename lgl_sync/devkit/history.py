"""Generated order, shipment and stock history for the reports (the demo and the tests), fixed
before any model looks at it: a trend, a weekly and a daily pattern, Poisson noise, stock-outs
(nobody can buy a SKU LGL has none of), a promotion spike, and one SKU left to sell out.

Written through the same tables the sync fills (``control_plane.records``)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import records
from lgl_sync.control_plane.tables import order_history, shipment_history

# Monday first; Saturday busiest. Hours in the LGL store's zone, quiet at night.
WEEKDAY = (1.0, 0.95, 0.95, 1.0, 1.1, 1.35, 1.2)
HOURLY = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.5, 1.6,
    1.6, 1.5, 1.5, 1.5, 1.5, 1.6, 1.7, 1.8, 1.6, 1.2, 0.8, 0.4,
)  # fmt: skip
CARRIERS = ("UPS", "USPS", "FedEx", "DHL Express")


@dataclass(frozen=True)
class Pattern:
    days: int = 91
    orders_per_day: float = 240.0  # on the first day
    trend_per_day: float = 0.004  # growth: +0.4 % a day
    skus: int = 60
    promotion: tuple[int, int, int, float] = (4, 70, 3, 6.0)  # sku, first day, days, factor
    stockouts: tuple[tuple[int, int, int], ...] = ((6, 40, 6), (9, 80, 5))  # sku, day, days
    sellout: int = 1  # this SKU is not restocked in the last weeks: it runs out
    sellout_from: int = 63
    restock_to: int = 600
    seed: int = 7
    outage: tuple[int, int, int] | None = None  # day, local hour, hours without any order
    timezone: str = "America/New_York"  # the pattern's hours are local (daylight saving too)


@dataclass
class Generated:
    orders: int = 0
    units: int = 0
    level_changes: int = 0
    sellout_sku: str = ""
    daily: dict[str, dict[int, int]] = field(default_factory=dict)  # sku -> day -> units


def sku_name(index: int) -> str:
    return f"LGL-{index:04d}"


def generate(engine: Engine, retailer_id: str, end: datetime, pattern: Pattern = Pattern()):
    """History for [end - days, end): orders, their shipments and stock levels by day."""
    rng = random.Random(pattern.seed)
    start = (end - timedelta(days=pattern.days)).replace(minute=0, second=0, microsecond=0)
    popularity = [1 / (i + 1) ** 0.6 for i in range(pattern.skus)]
    stock = {sku_name(i): pattern.restock_to for i in range(pattern.skus)}
    out = Generated(sellout_sku=sku_name(pattern.sellout))
    orders, shipments = [], []
    for day in range(pattern.days):
        day_start = start + timedelta(days=day)
        out.level_changes += _restock(engine, retailer_id, stock, pattern, day, day_start)
        for hour in range(24):
            at = day_start + timedelta(hours=hour)
            if _in_outage(pattern, at, start):
                continue
            for lines in _hour_orders(rng, pattern, day, at, popularity, stock):
                _sell(stock, lines)
                orders.append(_order_row(retailer_id, len(orders), at, rng, lines))
                shipments.append(_shipment_row(retailer_id, orders[-1], rng))
                for sku, units in lines.items():
                    out.daily.setdefault(sku, {}).setdefault(day, 0)
                    out.daily[sku][day] += units
    _insert(engine, order_history, orders)
    _insert(engine, shipment_history, [s for s in shipments if s["shipped_at"] < end])
    out.orders, out.units = len(orders), sum(o["units"] for o in orders)
    return out


def outage_window(pattern: Pattern, end: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) in UTC of the pattern's outage, or None."""
    if pattern.outage is None:
        return None
    day, hour, hours = pattern.outage
    start = (end - timedelta(days=pattern.days)).replace(minute=0, second=0, microsecond=0)
    zone = ZoneInfo(pattern.timezone)
    first_day = start.astimezone(zone).date() + timedelta(days=day)
    begin = datetime.combine(first_day, time(hour), zone).astimezone(UTC)
    return begin, begin + timedelta(hours=hours)


def _in_outage(pattern: Pattern, at: datetime, start: datetime) -> bool:
    window = outage_window(pattern, start + timedelta(days=pattern.days))
    return window is not None and window[0] <= at < window[1]


def _restock(engine, retailer_id: str, stock: dict, pattern: Pattern, day: int, at) -> int:
    """Each morning: stock-out windows at 0, low SKUs restocked, the sell-out SKU left alone."""
    for index, first, days in pattern.stockouts:
        if first <= day < first + days:
            stock[sku_name(index)] = 0
        elif day == first + days:
            stock[sku_name(index)] = pattern.restock_to
    for sku, level in stock.items():
        selling_out = sku == sku_name(pattern.sellout) and day >= pattern.sellout_from
        out_window = any(sku == sku_name(i) and f <= day < f + d for i, f, d in pattern.stockouts)
        if level < pattern.restock_to // 6 and not selling_out and not out_window:
            stock[sku] = pattern.restock_to
    return records.record_levels(engine, retailer_id, dict(stock), at)


def _hour_orders(rng, pattern: Pattern, day: int, at: datetime, popularity, stock):
    local = at.astimezone(ZoneInfo(pattern.timezone))
    rate = (
        pattern.orders_per_day
        * (1 + pattern.trend_per_day) ** day
        * WEEKDAY[local.weekday()]
        * HOURLY[local.hour]
        / sum(HOURLY)
    )
    weights = list(popularity)
    sku, first, days, factor = pattern.promotion
    if first <= day < first + days:
        weights[sku] *= factor
    names = [sku_name(i) for i in range(pattern.skus)]
    for _ in range(_poisson(rng, rate)):
        lines: dict[str, int] = {}
        for _ in range(rng.choice((1, 1, 2, 3))):
            choice = rng.choices(names, weights)[0]
            if stock[choice] > lines.get(choice, 0):  # nobody can buy what LGL has none of
                lines[choice] = lines.get(choice, 0) + 1
        if lines:
            yield lines


def _poisson(rng, rate: float) -> int:
    """Knuth's method (rates here are small)."""
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _sell(stock: dict, lines: dict[str, int]) -> None:
    for sku, units in lines.items():
        stock[sku] -= units


def _order_row(retailer_id: str, n: int, hour: datetime, rng, lines: dict[str, int]) -> dict:
    received = hour + timedelta(seconds=rng.randrange(3600))
    return {
        "retailer_id": retailer_id,
        "source_order_id": f"gid://shopify/Order/history-{retailer_id}-{n}",
        "source_order_name": f"#H{n + 1}",
        "lgl_order_id": f"gid://shopify/Order/history-lgl-{retailer_id}-{n}",
        "ordered_at": received - timedelta(minutes=rng.randrange(1, 10)),
        "received_at": received,
        "lines": len(lines),
        "units": sum(lines.values()),
        "skus": lines,
        "cancelled_at": None,
    }


def _shipment_row(retailer_id: str, order: dict, rng) -> dict:
    return {
        "lgl_fulfillment_id": order["lgl_order_id"].replace("Order", "Fulfillment"),
        "retailer_id": retailer_id,
        "lgl_order_id": order["lgl_order_id"],
        "shipped_at": order["received_at"] + timedelta(hours=rng.uniform(4, 40)),
        "carrier": rng.choice(CARRIERS),
        "boxes": rng.choice((1, 1, 1, 2)),
        "cancelled": False,
    }


def _insert(engine: Engine, table: sa.Table, rows: list[dict]) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), 1000):
            connection.execute(table.insert(), rows[start : start + 1000])


def now_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
