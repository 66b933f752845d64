"""Fulfillment pushback rules on plain data: allocation, adoption, tracking, completion, lag.

Contract (DESIGN.md "Fulfillment pushback — the rules"): a shipment is mapped onto the
retailer's open fulfillment orders at the LGL location, split across them when needed and never
beyond what remains, else it is reported with the reason; after a lost answer only a retailer
fulfillment with the same numbers and lines, not linked already, is adopted; every tracking
number is sent, URLs only when paired; an LGL order is tagged once every live shipment is on the
retailer order; late shipments are the unsettled ones older than the cutoff.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lgl_sync.shopify.models import FulfillmentOrder, FulfillmentOrderLine
from lgl_sync.sync.fulfillments.rules import (
    PUSHED_TAG,
    RetailerFulfillment,
    Shipment,
    ShippedOrder,
    Tracking,
    allocate,
    late_shipments,
    legacy_order_number,
    matching_fulfillment,
    orders_fully_pushed,
)

LGL = "gid://shopify/Location/2"
OTHER = "gid://shopify/Location/1"


def fo(id_: str, lines: dict[str, int], *, status="OPEN", location=LGL) -> FulfillmentOrder:
    """A retailer fulfillment order: {sku: remaining quantity}."""
    return FulfillmentOrder(
        id_,
        status,
        location,
        tuple(FulfillmentOrderLine(f"{id_}-{sku}", f"L-{sku}", sku, n) for sku, n in lines.items()),
    )


@pytest.mark.parametrize(
    ("shipped", "fulfillment_orders", "groups", "problem"),
    [
        # the simple case: one line, one fulfillment order
        ([("A", 2)], [fo("F1", {"A": 2})], {"F1": [("F1-A", 2)]}, None),
        # a shipment of part of the order takes only what shipped
        ([("A", 1)], [fo("F1", {"A": 3, "B": 1})], {"F1": [("F1-A", 1)]}, None),
        # split across two fulfillment orders at the LGL location, never beyond what remains
        (
            [("A", 3)],
            [fo("F1", {"A": 1}), fo("F2", {"A": 5})],
            {"F1": [("F1-A", 1)], "F2": [("F2-A", 2)]},
            None,
        ),
        # a fulfillment order at another location is not LGL's to fulfil
        ([("A", 1)], [fo("F1", {"A": 1}, location=OTHER)], {}, "sku_not_on_retailer_order"),
        # a SKU the retailer order does not have
        ([("Z", 1)], [fo("F1", {"A": 1})], {}, "sku_not_on_retailer_order"),
        # everything already fulfilled (nothing left to ship)
        ([("A", 1)], [fo("F1", {"A": 0}, status="CLOSED")], {}, "already_fulfilled"),
        # on hold: held fulfillment orders cannot take the shipment now
        ([("A", 1)], [fo("F1", {"A": 1}, status="ON_HOLD")], {}, "fulfillment_order_on_hold"),
        # more shipped than remains (but something remains)
        ([("A", 3)], [fo("F1", {"A": 2})], {}, "quantity_exceeds_remaining"),
        # the same SKU on two shipment lines is summed
        ([("A", 1), ("A", 1)], [fo("F1", {"A": 2})], {"F1": [("F1-A", 2)]}, None),
    ],
)
def test_allocate(shipped, fulfillment_orders, groups, problem):
    allocation = allocate(shipped, fulfillment_orders, LGL)
    assert allocation.problem == problem
    assert {fo_id: list(lines) for fo_id, lines in allocation.groups} == groups
    if not problem:
        assert allocation.as_input() == [
            {
                "fulfillmentOrderId": fo_id,
                "fulfillmentOrderLineItems": [{"id": i, "quantity": q} for i, q in lines],
            }
            for fo_id, lines in groups.items()
        ]


def test_quantity_exceeds_remaining_names_the_short_skus():
    allocation = allocate([("A", 3), ("B", 1)], [fo("F1", {"A": 2, "B": 1})], LGL)
    assert json.loads(allocation.detail) == {"A": 3}


def retailer_fulfillment(id_, numbers, lines, status="SUCCESS") -> RetailerFulfillment:
    return RetailerFulfillment(id_, status, frozenset(numbers), tuple(lines))


TRACKING = Tracking("UPS", ("1Z1", "1Z2"), (None, None))


@pytest.mark.parametrize(
    ("fulfillments", "linked", "adopted"),
    [
        # same numbers and lines: ours
        ([retailer_fulfillment("R1", ["1Z2", "1Z1"], [("A", 2)])], set(), "R1"),
        # already linked to another LGL shipment: not ours
        ([retailer_fulfillment("R1", ["1Z1", "1Z2"], [("A", 2)])], {"R1"}, None),
        # cancelled: not adopted
        ([retailer_fulfillment("R1", ["1Z1", "1Z2"], [("A", 2)], "CANCELLED")], set(), None),
        # other numbers (a retailer's own fulfillment)
        ([retailer_fulfillment("R1", ["9X"], [("A", 2)])], set(), None),
        # same numbers, other quantities
        ([retailer_fulfillment("R1", ["1Z1", "1Z2"], [("A", 1)])], set(), None),
        # the second of two is ours
        (
            [
                retailer_fulfillment("R1", ["9X"], [("A", 2)]),
                retailer_fulfillment("R2", ["1Z1", "1Z2"], [("A", 2)]),
            ],
            set(),
            "R2",
        ),
    ],
)
def test_matching_fulfillment(fulfillments, linked, adopted):
    assert matching_fulfillment(fulfillments, TRACKING, [("A", 2)], linked) == adopted


@pytest.mark.parametrize(
    ("tracking", "wanted"),
    [
        # every number (the old scripts sent only the first), URLs paired with them
        (
            Tracking("UPS", ("1", "2"), ("u1", "u2")),
            {"company": "UPS", "numbers": ["1", "2"], "urls": ["u1", "u2"]},
        ),
        # a missing URL drops all URLs, so numbers and URLs never pair up wrongly
        (Tracking("UPS", ("1", "2"), ("u1", None)), {"company": "UPS", "numbers": ["1", "2"]}),
        # no carrier, no numbers: an empty input
        (Tracking(None, (), ()), {}),
    ],
)
def test_tracking_input(tracking, wanted):
    assert tracking.as_input() == wanted


def test_tracking_fingerprint_changes_with_any_number():
    assert TRACKING.fingerprint() == Tracking("UPS", ("1Z1", "1Z2"), (None, None)).fingerprint()
    assert TRACKING.fingerprint() != Tracking("UPS", ("1Z1",), (None,)).fingerprint()


@pytest.mark.parametrize(
    ("tags", "number"),
    [(("imported-from-x", "1001"), "1001"), (("vip",), None), ((), None)],
)
def test_legacy_order_number(tags, number):
    assert legacy_order_number(tags) == number


NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def shipment(id_, status="SUCCESS", age_minutes=90) -> Shipment:
    return Shipment(
        "gid://shopify/Order/1",
        "#1",
        id_,
        status,
        TRACKING,
        None,
        (),
        NOW - timedelta(minutes=age_minutes),
    )


def order(id_, shipments, status="FULFILLED", tags=()) -> ShippedOrder:
    return ShippedOrder(id_, f"#{id_}", status, tags, tuple(shipments))


@pytest.mark.parametrize(
    ("orders", "outcomes", "tagged"),
    [
        # fully shipped and every shipment on the retailer order
        ([order("O1", [shipment("F1"), shipment("F2")])], {"F1": "pushed", "F2": "pushed"}, ["O1"]),
        # one shipment skipped: not complete
        ([order("O1", [shipment("F1"), shipment("F2")])], {"F1": "pushed", "F2": "skipped"}, []),
        # a cancelled shipment does not count
        ([order("O1", [shipment("F1"), shipment("F2", "CANCELLED")])], {"F1": "pushed"}, ["O1"]),
        # pushed in an earlier run, or its tracking fixed now, counts as on the retailer order
        ([order("O1", [shipment("F1"), shipment("F2")])],
         {"F1": "already_pushed", "F2": "tracking_updated"}, ["O1"]),
        # partly shipped at LGL: not complete
        ([order("O1", [shipment("F1")], status="PARTIALLY_FULFILLED")], {"F1": "pushed"}, []),
        # already tagged: not again
        ([order("O1", [shipment("F1")], tags=(PUSHED_TAG,))], {"F1": "pushed"}, []),
        # only cancelled shipments: nothing to tag
        ([order("O1", [shipment("F1", "CANCELLED")])], {}, []),
    ],
)  # fmt: skip
def test_orders_fully_pushed(orders, outcomes, tagged):
    assert orders_fully_pushed(orders, outcomes) == tagged


def test_late_shipments_are_live_unsettled_and_older_than_the_cutoff():
    orders = [
        order(
            "O1",
            [
                shipment("old"),  # late
                shipment("settled"),  # pushed or reported
                shipment("recent", age_minutes=5),  # within the lag
                shipment("void", "CANCELLED"),  # cancelled at LGL
            ],
        )
    ]
    assert late_shipments(orders, {"settled"}, NOW - timedelta(minutes=60)) == ["old"]
