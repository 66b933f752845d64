"""PNG charts for the report emails (matplotlib, no display needed). matplotlib is imported on
the first chart, not with the definitions: every run process would pay its 0.8 s otherwise."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import pandas as pd


@cache
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


BLUE, ORANGE, GREY = "#1864ab", "#f08c00", "#868e96"


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=110)
    _plt().close(figure)
    return out.getvalue()


def usage_chart(months: pd.DataFrame, retailer: str) -> bytes:
    """Orders and shipments per month (``months``: month, orders, shipments)."""
    figure, axis = _plt().subplots(figsize=(7, 3))
    positions = range(len(months))
    axis.bar([p - 0.2 for p in positions], months["orders"], width=0.4, color=BLUE, label="orders")
    axis.bar(
        [p + 0.2 for p in positions],
        months["shipments"],
        width=0.4,
        color=ORANGE,
        label="shipments",
    )
    axis.set_xticks(list(positions), list(months["month"]), rotation=45, ha="right")
    axis.set_title(f"{retailer}: usage by month")
    axis.legend(frameon=False)
    return _png(figure)


def cover_chart(insight: pd.DataFrame, retailer: str, threshold: int, top: int = 15) -> bytes:
    """Days of cover of the SKUs closest to running out, the low-stock threshold marked."""
    shown = insight.dropna(subset=["days_of_cover"]).nsmallest(top, "days_of_cover")
    figure, axis = _plt().subplots(figsize=(7, 0.3 * max(len(shown), 4) + 1))
    colors = [ORANGE if low else BLUE for low in shown["low_stock"]]
    axis.barh(list(shown["sku"]), list(shown["days_of_cover"]), color=colors)
    axis.axvline(threshold, color=GREY, linestyle="--", label=f"low under {threshold} days")
    axis.invert_yaxis()
    axis.set_xlabel("days of cover at LGL (forecast)")
    axis.set_title(f"{retailer}: days of cover")
    axis.legend(frameon=False)
    return _png(figure)


def orders_chart(counts: pd.Series, expected: pd.Series, title: str) -> bytes:
    """Orders per hour against the usual count for those hours."""
    figure, axis = _plt().subplots(figsize=(7, 3))
    axis.plot(counts.index, counts.to_numpy(), color=BLUE, label="orders per hour")
    axis.plot(expected.index, expected.to_numpy(), color=GREY, linestyle="--", label="usual")
    axis.set_title(title)
    axis.legend(frameon=False)
    figure.autofmt_xdate()
    return _png(figure)


def runs_chart(runs: pd.DataFrame, column: str, title: str) -> bytes:
    """A flow's recent runs (``column``: duration_s or cost), the last one marked."""
    figure, axis = _plt().subplots(figsize=(7, 3))
    axis.plot(runs["completed_at"], runs[column], color=BLUE, marker="o", markersize=3)
    axis.plot(runs["completed_at"].iloc[-1:], runs[column].iloc[-1:], "o", color=ORANGE)
    axis.set_ylabel("seconds" if column == "duration_s" else "cost points")
    axis.set_title(title)
    figure.autofmt_xdate()
    return _png(figure)
