"""Anomalies a person should hear about, judged against the retailer's own pattern:

- **Orders stopped**: no order since the last one, while its usual pattern for those hours and
  weekdays expected at least ``STOP_EXPECTED`` (the chance of such a silence by luck is then
  below e^-12, about 1 in 160,000).
- **Drop / spike**: the last 3 hours' orders far outside the usual count for those hours and
  weekdays (a Poisson tail below 1 in a million, and a spike at least twice the usual and 5
  orders).
- **A flow's cost or duration jumps**: a run more than 5x the median of its last runs.

The usual pattern of an hour is the mean of the same hour and weekday over the last 8 weeks
(at least 2 weeks of history are needed before anything is judged).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

WEEKS = 8
MIN_WEEKS = 2
STOP_EXPECTED = 12.0
TAIL = 1e-6
WINDOW_HOURS = 3
JUMP = 5.0


@dataclass(frozen=True)
class Anomaly:
    kind: str  # orders_stopped | orders_drop | orders_spike | cost_jump | duration_jump
    key: str  # raised once per key
    summary: str
    observed: float
    expected: float
    flow: str | None = None  # for a run anomaly: its flow and measure (duration_s or cost)
    measure: str | None = None


def hourly_counts(received: pd.Series, start: datetime, end: datetime) -> pd.Series:
    """Orders per UTC hour in [start, end), hours with none included."""
    hours = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(end).ceil("h"), freq="h")
    hours = hours[hours < end]
    counts = pd.Series(received, dtype="datetime64[ns, UTC]").dt.floor("h").value_counts()
    return counts.reindex(hours, fill_value=0).astype(float)


def expected_rates(counts: pd.Series, timezone: str) -> pd.Series | None:
    """The usual orders per hour of the local week (0..167), or None with too little history."""
    local = counts.index.tz_convert(ZoneInfo(timezone))
    weeks = (counts.index[-1] - counts.index[0]).days / 7 if len(counts) else 0
    if weeks < MIN_WEEKS:
        return None
    slot = local.weekday * 24 + local.hour
    return counts.groupby(slot).mean().reindex(range(168), fill_value=0.0)


def _expected(rates: pd.Series, start: datetime, end: datetime, timezone: str) -> float:
    """Usual orders in [start, end): each hour's rate times the part of it inside."""
    hours = pd.date_range(pd.Timestamp(start).floor("h"), end, freq="h", inclusive="left")
    if not len(hours):
        return 0.0
    edges = hours.as_unit("ns").asi8
    begin = np.maximum(edges, pd.Timestamp(start).as_unit("ns").value)
    finish = np.minimum(edges + 3_600 * 10**9, pd.Timestamp(end).as_unit("ns").value)
    share = np.clip((finish - begin) / (3_600 * 10**9), 0, 1)
    local = hours.tz_convert(ZoneInfo(timezone))
    return float((rates.to_numpy()[np.asarray(local.weekday * 24 + local.hour)] * share).sum())


def _poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam), summed in log space (no overflow for large k)."""
    if k < 0:
        return 0.0
    log_lam = math.log(lam) if lam > 0 else -math.inf
    terms = [-lam + i * log_lam - math.lgamma(i + 1) if lam > 0 else 0.0 for i in range(k + 1)]
    if lam <= 0:
        return 1.0
    return min(1.0, sum(math.exp(t) for t in terms))


def order_anomalies(
    received: pd.Series, now: datetime, timezone: str, retailer_id: str
) -> list[Anomaly]:
    """Judges the retailer's orders (``received``: when LGL received each) at ``now``."""
    history_start = now - timedelta(weeks=WEEKS)
    past = received[(received >= history_start) & (received < now)]
    if past.empty:
        return []
    # Hours before the retailer's first order are not hours without orders.
    begin = max(pd.Timestamp(history_start), pd.Timestamp(past.min()).ceil("h"))
    rates = expected_rates(hourly_counts(past[past >= begin], begin, now), timezone)
    if rates is None:
        return []
    found = []
    last = past.max()
    expected = _expected(rates, last, now, timezone)
    if expected >= STOP_EXPECTED:
        found.append(
            Anomaly(
                "orders_stopped",
                f"orders_stopped:{retailer_id}:{pd.Timestamp(last).isoformat()}",
                f"no order since {pd.Timestamp(last).tz_convert(timezone):%a %d %b %H:%M}, "
                f"while about {expected:.0f} were expected by now",
                0,
                expected,
            )
        )
        return found
    window_start = now - timedelta(hours=WINDOW_HOURS)
    count = int(((past >= window_start) & (past < now)).sum())
    usual = _expected(rates, window_start, now, timezone)
    day = pd.Timestamp(now).tz_convert(timezone).date()
    stopped_inside = _silence_inside(past, rates, window_start, now, timezone)
    if count > 0 and usual > 0 and not stopped_inside and _poisson_cdf(count, usual) < TAIL:
        found.append(_window("orders_drop", retailer_id, day, count, usual))
    spike_tail = 1 - _poisson_cdf(count - 1, usual) if count else 1.0
    if count >= max(5, 2 * usual) and spike_tail < TAIL:
        found.append(_window("orders_spike", retailer_id, day, count, usual))
    return found


def _silence_inside(past: pd.Series, rates, start: datetime, end: datetime, timezone) -> bool:
    """Whether the window holds a silence the stop rule judges (it was raised as a stop, so
    the same incident is not raised again as a drop)."""
    before = past[past < start]
    times = [before.max()] if len(before) else []
    times += [*sorted(past[(past >= start) & (past < end)]), end]
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a >= timedelta(minutes=10)]
    return any(_expected(rates, a, b, timezone) >= STOP_EXPECTED for a, b in gaps)


def _window(kind: str, retailer_id: str, day, count: int, usual: float) -> Anomaly:
    what = "far fewer" if kind == "orders_drop" else "far more"
    return Anomaly(
        kind,
        f"{kind}:{retailer_id}:{day}",
        f"{count} orders in the last {WINDOW_HOURS} hours, {what} than the usual {usual:.1f}",
        count,
        usual,
    )


def run_anomalies(runs: pd.DataFrame, retailer_id: str) -> list[Anomaly]:
    """A flow whose latest run cost or took more than JUMP x the median of its earlier runs
    (``runs``: flow, run_id, completed_at, duration_s, cost), at least 10 earlier runs."""
    found = []
    for flow, rows in runs.sort_values("completed_at").groupby("flow"):
        if len(rows) < 11:
            continue
        latest, earlier = rows.iloc[-1], rows.iloc[:-1].tail(50)
        for kind, column, floor in (
            ("duration_jump", "duration_s", 30),
            ("cost_jump", "cost", 500),
        ):
            median = float(earlier[column].median())
            value = float(latest[column])
            if math.isnan(value) or math.isnan(median):
                continue
            if value > max(JUMP * median, floor):
                found.append(
                    Anomaly(
                        kind,
                        f"{kind}:{retailer_id}:{flow}:{latest['run_id']}",
                        f"{flow}: the last run's {column.split('_')[0]} was {value:.0f}, "
                        f"{value / max(median, 1e-9):.0f}x the usual {median:.0f}",
                        value,
                        median,
                        flow=flow,
                        measure=column,
                    )
                )
    return found
