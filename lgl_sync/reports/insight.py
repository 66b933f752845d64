"""Stock insight per retailer SKU: sales velocity, days of cover at LGL, a 14-day forecast, the
low-stock list and a reorder suggestion, from the order and stock history the sync kept.

The forecast, explained (README "Reports"):

1. Daily demand per SKU is the units of the retailer's orders LGL received that day (the LGL
   store's time zone). A day the SKU was out of stock at LGL, at its start or its end, is
   censored: unknown demand, not zero demand, so it is left out rather than counted as 0.
2. Weekly seasonality: each weekday's share of demand, from the retailer's whole order volume
   over the last 8 weeks (SKU histories are too thin to estimate it alone), near 1 on average.
3. The deseasonalised series is clipped at its median + 5 MADs (a promotion spike is not the
   new normal), then smoothed by Holt's damped trend: level alpha 0.2, trend beta 0.05,
   damping 0.9.
4. Forecast for day h: (level + damped trend to h) x the weekday's factor, never below 0.

The baseline it must beat is the naive "same as last week". ``backtest`` measures both, as WAPE
(sum of absolute errors / sum of actual demand) on held-out days that were not censored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ALPHA, BETA, PHI = 0.2, 0.05, 0.9
SEASON_WEEKS = 8
HORIZON = 14


def daily_demand(orders: pd.DataFrame, timezone: str, first: date, last: date) -> pd.DataFrame:
    """Units per day (rows, ``first``..``last``) and SKU (columns) from order history rows."""
    days = pd.date_range(first, last, freq="D").date
    if orders.empty:
        return pd.DataFrame(index=days, dtype=float)
    local = orders["received_at"].dt.tz_convert(ZoneInfo(timezone)).dt.date
    rows = [
        (day, sku, units)
        for day, skus in zip(local, orders["skus"], strict=True)
        for sku, units in skus.items()
    ]
    frame = pd.DataFrame(rows, columns=["day", "sku", "units"])
    table = frame.pivot_table(index="day", columns="sku", values="units", aggfunc="sum")
    return table.reindex(days).fillna(0.0)


def stocked_out(
    changes: pd.DataFrame, skus: list[str], timezone: str, first: date, last: date
) -> pd.DataFrame:
    """True where the SKU had 0 available at LGL at the start or the end of the day."""
    days = pd.date_range(first, last, freq="D").date
    out = pd.DataFrame(False, index=days, columns=skus)
    if changes.empty:
        return out
    zone = ZoneInfo(timezone)
    bounds = [datetime.combine(d, datetime.min.time(), zone) for d in days]
    bounds.append(bounds[-1] + timedelta(days=1))
    edges = pd.DatetimeIndex(bounds).tz_convert("UTC")
    for sku, rows in changes[changes["sku"].isin(skus)].groupby("sku"):
        rows = rows.sort_values("at")
        at = pd.DatetimeIndex(rows["at"])
        position = at.searchsorted(edges, side="right") - 1  # last change at or before the edge
        level = np.where(position >= 0, rows["available"].to_numpy()[position.clip(0)], np.nan)
        empty = level == 0
        out[sku] = empty[:-1] | empty[1:]
    return out


def weekday_factors(total: pd.Series) -> np.ndarray:
    """Each weekday's demand relative to the average day (Monday first), from ``total``."""
    recent = total.tail(SEASON_WEEKS * 7)
    by_day = recent.groupby([d.weekday() for d in recent.index]).mean()
    mean = by_day.mean()
    if not mean or len(by_day) < 7:
        return np.ones(7)
    return np.array([by_day.get(i, mean) / mean for i in range(7)])


def forecast(series: pd.Series, factors: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
    """The next ``horizon`` days after the series' last day (NaN days are censored)."""
    weekdays = np.array([d.weekday() for d in series.index])
    values = series.to_numpy(dtype=float) / np.maximum(factors[weekdays], 0.05)
    seen = values[~np.isnan(values)]
    if len(seen) == 0:
        return np.zeros(horizon)
    median = np.median(seen)
    cap = median + 5 * max(np.median(np.abs(seen - median)), 0.5)
    level, trend = float(np.mean(np.minimum(seen[:7], cap))), 0.0
    for value in values:
        if np.isnan(value):  # censored: the model carries on, learning nothing
            level += PHI * trend
            trend *= PHI
            continue
        value = min(value, cap)
        previous = level
        level = ALPHA * value + (1 - ALPHA) * (level + PHI * trend)
        trend = BETA * (level - previous) + (1 - BETA) * PHI * trend
    last = series.index[-1]
    ahead = []
    damped = 0.0
    for h in range(1, horizon + 1):
        damped += PHI**h
        day = last + timedelta(days=h)
        ahead.append(max(0.0, (level + damped * trend) * factors[day.weekday()]))
    return np.array(ahead)


def naive(series: pd.Series, horizon: int = HORIZON) -> np.ndarray:
    """Last week again: each day as the same weekday of the last 7 days (0 when censored)."""
    week = np.nan_to_num(series.tail(7).to_numpy(dtype=float))
    return np.array([week[h % 7] for h in range(horizon)])


def wape(actual: np.ndarray, predicted: np.ndarray) -> float:
    seen = ~np.isnan(actual)
    total = actual[seen].sum()
    return float(np.abs(actual[seen] - predicted[seen]).sum() / total) if total else math.nan


@dataclass(frozen=True)
class Backtest:
    skus: int
    model_wape: float
    naive_wape: float


def backtest(demand: pd.DataFrame, censored: pd.DataFrame, horizon: int = HORIZON) -> Backtest:
    """Both forecasts from all but the last ``horizon`` days, scored on those days."""
    history = demand.iloc[:-horizon].mask(censored.iloc[:-horizon])
    held = demand.iloc[-horizon:].mask(censored.iloc[-horizon:])
    factors = weekday_factors(demand.iloc[:-horizon].sum(axis=1))
    actual, model, baseline = [], [], []
    for sku in demand.columns:
        actual.append(held[sku].to_numpy(dtype=float))
        model.append(forecast(history[sku], factors, horizon))
        baseline.append(naive(history[sku], horizon))
    actual_all = np.concatenate(actual) if actual else np.array([])
    return Backtest(
        skus=len(demand.columns),
        model_wape=wape(actual_all, np.concatenate(model) if model else actual_all),
        naive_wape=wape(actual_all, np.concatenate(baseline) if baseline else actual_all),
    )


INSIGHT_COLUMNS = [
    "sku",
    "available",
    "units_7d",
    "units_28d",
    "velocity_7d",
    "velocity_28d",
    "forecast_14d",
    "days_of_cover",
    "low_stock",
    "reorder_units",
]


def insight(
    demand: pd.DataFrame,
    censored: pd.DataFrame,
    levels: dict[str, int],
    *,
    low_stock_days: int,
    reorder_cover_days: int,
) -> pd.DataFrame:
    """One row per SKU LGL holds for the retailer (or it sold): the columns above.

    Velocity is units per in-stock day; days of cover is LGL's available over the forecast's
    daily mean; a SKU is low under ``low_stock_days`` of cover (at 0 it is out, and low); the
    reorder suggestion brings it to ``reorder_cover_days`` of cover."""
    factors = weekday_factors(demand.sum(axis=1)) if len(demand.columns) else np.ones(7)
    masked = demand.mask(censored.reindex_like(demand).fillna(False).astype(bool))
    rows = []
    for sku in sorted(set(levels) | set(demand.columns)):
        series = masked[sku] if sku in masked else pd.Series(0.0, index=demand.index)
        ahead = forecast(series, factors) if len(series) else np.zeros(HORIZON)
        daily = float(ahead.mean())
        available = int(levels.get(sku, 0))
        cover = available / daily if daily > 0 else math.inf
        rows.append(
            {
                "sku": sku,
                "available": available,
                "units_7d": float(np.nansum(series.tail(7))),
                "units_28d": float(np.nansum(series.tail(28))),
                "velocity_7d": _per_day(series.tail(7)),
                "velocity_28d": _per_day(series.tail(28)),
                "forecast_14d": round(float(ahead.sum()), 1),
                "days_of_cover": round(cover, 1) if math.isfinite(cover) else None,
                "low_stock": daily > 0 and cover < low_stock_days,
                "reorder_units": max(0, math.ceil(daily * reorder_cover_days) - available),
            }
        )
    return pd.DataFrame(rows, columns=INSIGHT_COLUMNS)


def _per_day(window: pd.Series) -> float:
    seen = window.dropna()
    return round(float(seen.mean()), 2) if len(seen) else 0.0
