"""Inventory rules on plain data: pending units, targets, the write plan and conflict retargets.

Contract (DESIGN.md "Inventory sync — the rules"): target = max(0, LGL available - units of that
SKU in paid orders not yet imported - the retailer's safety buffer); only SKUs on both sides whose
quantity differs are written; SKUs on one side only are reported, never written; an item not
stocked at the LGL location is written only when the retailer allows activating it; after a
compare-and-set conflict, units sold meanwhile come off the target too.
"""

from __future__ import annotations

import pandas as pd
import pytest

from lgl_sync.sync.inventory.rules import pending_units, retarget, targets, write_plan


def test_pending_units_sum_per_sku_across_orders_and_retailers():
    frame = pending_units([("A", 2), ("B", 1), ("A", 3)])
    assert dict(zip(frame["sku"], frame["units"], strict=True)) == {"A": 5, "B": 1}


def test_pending_units_of_nothing_is_an_empty_table():
    frame = pending_units([])
    assert list(frame.columns) == ["sku", "units"] and frame.empty


LGL = pd.DataFrame(
    {"sku": ["A", "B", "C"], "inventory_item_id": ["1", "2", "3"], "available": [10, 3, 0]}
)


@pytest.mark.parametrize(
    ("pending", "buffer", "wanted"),
    [
        # nothing pending, no buffer: what LGL has
        ([], 0, {"A": 10, "B": 3, "C": 0}),
        # units sold and not imported yet are taken off
        ([("A", 4)], 0, {"A": 6, "B": 3, "C": 0}),
        # the safety buffer comes off every SKU, never below zero
        ([], 2, {"A": 8, "B": 1, "C": 0}),
        # more pending than available: zero, not negative
        ([("B", 5)], 0, {"A": 10, "B": 0, "C": 0}),
        # a pending SKU LGL does not carry adds no target
        ([("Z", 1)], 0, {"A": 10, "B": 3, "C": 0}),
    ],
)
def test_targets(pending, buffer, wanted):
    frame = targets(LGL, pending_units(pending), buffer)
    assert dict(zip(frame["sku"], frame["target"], strict=True)) == wanted
    assert frame["target"].dtype.kind == "i"


def retailer_levels(rows: list[tuple[str, str, int, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sku", "inventory_item_id", "available", "stocked"])


TARGET = pd.DataFrame({"sku": ["A", "B", "C", "L"], "target": [5, 3, 0, 7]})


@pytest.mark.parametrize(
    ("activate", "plan", "not_stocked"),
    [
        # A differs: written; B equal: not written; C unstocked: reported, not written
        (False, [("ra", "A", 9, 5)], ["C"]),
        # with activation allowed the unstocked item is written too
        (True, [("ra", "A", 9, 5), ("rc", "C", 4, 0)], []),
    ],
)
def test_write_plan(activate, plan, not_stocked):
    retailer = retailer_levels(
        [("A", "ra", 9, True), ("B", "rb", 3, True), ("C", "rc", 4, False), ("R", "rr", 2, True)]
    )
    rows, report = write_plan(retailer, TARGET, activate=activate)
    assert [
        tuple(r)
        for r in rows[["inventory_item_id", "sku", "current", "target"]].itertuples(index=False)
    ] == plan
    assert report == {
        "only_lgl": ["L"],
        "only_retailer": ["R"],
        "not_stocked": not_stocked,
        "unreadable": [],
    }


def test_write_plan_of_equal_stock_writes_nothing():
    retailer = retailer_levels([("A", "ra", 5, True)])
    rows, report = write_plan(retailer, TARGET[TARGET["sku"] == "A"], activate=False)
    assert rows.empty
    assert report == {"only_lgl": [], "only_retailer": [], "not_stocked": [], "unreadable": []}


def test_a_level_whose_quantity_could_not_be_read_is_never_written():
    retailer = retailer_levels([("A", "ra", None, True), ("B", "rb", 9, True)])
    rows, report = write_plan(retailer, TARGET[TARGET["sku"].isin(["A", "B"])], activate=False)
    assert list(rows["sku"]) == ["B"] and report["unreadable"] == ["A"]


@pytest.mark.parametrize(
    ("target", "read", "now", "wanted"),
    [
        (10, 8, 6, 8),  # 2 sold between our read and our write: 2 off the target
        (10, 8, 8, 10),  # nothing sold (someone else's write): the target stands
        (10, 8, 9, 10),  # stock went up (a return): the target stands
        (1, 8, 2, 0),  # more sold than the target: zero, never negative
    ],
)
def test_retarget(target, read, now, wanted):
    assert retarget(target, read, now) == wanted
