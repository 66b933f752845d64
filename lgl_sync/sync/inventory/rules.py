"""Inventory rules: the quantity each retailer may sell, and the write plan.

DESIGN.md "Inventory sync — the rules": target = max(0, LGL available - units of that SKU in
paid orders of any retailer not yet imported - the retailer's safety buffer). Units a retailer
sold that have not reached LGL are already gone at the retailer but not at LGL; setting the
retailer back to LGL's number would undo that sale.

Plain functions over DataFrames: no I/O. Reading stock is ``reads.py``; the compare-and-set
writes are ``writer.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

SNAPSHOT_COLUMNS = ["sku", "inventory_item_id", "available", "stocked", "committed"]


def pending_units(lines: list[tuple[str, int]]) -> pd.DataFrame:
    """Units per SKU in paid orders not yet imported (from every retailer)."""
    frame = pd.DataFrame(lines, columns=["sku", "units"])
    return frame.groupby("sku", as_index=False)["units"].sum()


def unseen_sales(
    retailer: pd.DataFrame, in_transit: dict[str, int], unimported: dict[str, int]
) -> pd.DataFrame:
    """Units the retailer has committed to orders that neither LGL's stock nor the unimported
    read accounts for: sales search has not shown yet (its index lags), held or unpaid orders.

    ``committed`` at the retailer's LGL location counts every placed, unfulfilled order's units
    and is read from the level itself, not through search. Of those, ``in_transit`` are in
    LGL's numbers already (imported, not yet pushed back) and ``unimported`` were counted by the
    search read; the rest are taken off this retailer's target so its sale is not undone.
    """
    frame = retailer.loc[retailer["committed"] > 0, ["sku", "committed"]]
    frame = frame.groupby("sku", as_index=False)["committed"].sum()
    seen = frame["sku"].map(lambda sku: in_transit.get(sku, 0) + unimported.get(sku, 0))
    frame["units"] = (frame["committed"] - seen).clip(lower=0).astype(int)
    return frame.loc[frame["units"] > 0, ["sku", "units"]].reset_index(drop=True)


def targets(lgl: pd.DataFrame, pending: pd.DataFrame, safety_buffer: int) -> pd.DataFrame:
    """The quantity the retailer may sell, per SKU LGL carries."""
    merged = lgl[["sku", "available"]].merge(pending, on="sku", how="left").fillna({"units": 0})
    merged["target"] = (merged["available"] - merged["units"] - safety_buffer).clip(lower=0)
    return merged[["sku", "target"]].astype({"target": int})


def write_plan(
    retailer: pd.DataFrame, target: pd.DataFrame, *, activate: bool
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Rows to write (inventory_item_id, sku, current, target) and the SKUs reported only.

    SKUs on one side only are reported, never written; so are levels whose quantity could not
    be read; an item not stocked at the location is written only when the retailer's settings
    allow activating it.
    """
    merged = retailer.merge(target, on="sku", how="outer", indicator=True)
    only_lgl = sorted(merged.loc[merged["_merge"] == "right_only", "sku"])
    only_retailer = sorted(merged.loc[merged["_merge"] == "left_only", "sku"])
    both = merged[merged["_merge"] == "both"].copy()
    # A level whose quantity could not be read is never compared, so never written over.
    unreadable = sorted(both.loc[both["available"].isna(), "sku"])
    both = both[both["available"].notna()]
    unstocked = sorted(both.loc[~both["stocked"].astype(bool), "sku"])
    if not activate:
        both = both[both["stocked"].astype(bool)]
    both["target"] = both["target"].astype(int)
    both["available"] = both["available"].astype(int)
    changed = both[both["available"] != both["target"]]
    plan = changed.rename(columns={"available": "current"})[
        ["inventory_item_id", "sku", "current", "target"]
    ].reset_index(drop=True)
    report = {
        "only_lgl": only_lgl,
        "only_retailer": only_retailer,
        "not_stocked": [] if activate else unstocked,
        "unreadable": unreadable,
    }
    return plan, report


def overlay(snapshot: pd.DataFrame, fresher: pd.DataFrame) -> pd.DataFrame:
    """LGL's snapshot with the items read since it began (``fresher``: sku, inventory_item_id,
    available) in place of the snapshot's rows for them."""
    if fresher.empty:
        return snapshot
    kept = snapshot[~snapshot["inventory_item_id"].isin(set(fresher["inventory_item_id"]))]
    if "product_status" in snapshot.columns:  # a product's status is the snapshot's to say
        status = snapshot[["inventory_item_id", "product_status"]]
        fresher = fresher.merge(status, on="inventory_item_id", how="left")
    fresh = fresher[list(snapshot.columns.intersection(fresher.columns))]
    merged = pd.concat([kept, fresh], ignore_index=True)
    merged["available"] = merged["available"].astype(int)
    merged.attrs = dict(snapshot.attrs)
    return merged


def discontinued_at_lgl(lgl: pd.DataFrame) -> pd.DataFrame:
    """LGL's rows with every archived product's SKU at 0: LGL does not sell it any more,
    whatever units are left on its shelf (DESIGN.md, discontinued SKUs)."""
    if "product_status" not in lgl.columns:
        return lgl
    archived = lgl["product_status"].eq("ARCHIVED")
    if not archived.any():
        return lgl
    lgl = lgl.copy()
    lgl.loc[archived, "available"] = 0
    return lgl


def zero_plan(retailer: pd.DataFrame, skus: set[str]) -> pd.DataFrame:
    """Plan rows taking the retailer's stocked, readable levels of ``skus`` to 0."""
    rows = retailer[
        retailer["sku"].isin(skus)
        & retailer["stocked"].astype(bool)
        & retailer["available"].notna()
    ]
    rows = rows[rows["available"].astype(int) != 0]
    plan = rows.rename(columns={"available": "current"})[["inventory_item_id", "sku", "current"]]
    return plan.assign(current=plan["current"].astype(int), target=0).reset_index(drop=True)


def retarget(target: int, read: int, now: int) -> int:
    """A compare-and-set conflict: the retailer changed from ``read`` to ``now`` meanwhile.
    Units it sold meanwhile are not in LGL's numbers yet, so they come off the target too."""
    return max(0, target - max(0, read - now))


def zeroed_skus(plan: pd.DataFrame) -> list[str]:
    """SKUs a write plan takes from above 0 to 0 (what the mass-zero guard counts)."""
    if plan.empty:
        return []
    return sorted(plan.loc[(plan["target"] == 0) & (plan["current"] > 0), "sku"])


def rotating_sample(skus: Iterable[str], size: int, turn: int) -> list[str]:
    """``size`` of ``skus`` (sorted), starting ``turn * size`` in and wrapping around: turn
    after turn, every SKU is in a sample."""
    ordered = sorted(skus)
    if len(ordered) <= size:
        return ordered
    start = (turn * size) % len(ordered)
    return (ordered + ordered)[start : start + size]
