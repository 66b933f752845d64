"""Order import rules on plain data: eligibility, LGL lines, SKU mapping and the LGL order.

Contract (DESIGN.md "Order import — the rules"): only paid, uncancelled, recent, untagged orders
with open LGL lines are eligible; lines are the remaining quantities of open fulfillment orders
at the LGL location; an unknown, ambiguous or over-long order is held whole; the LGL order
carries the retailer's billing address, the import tags and attributes, and retailer costs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from lgl_sync.retailer import Retailer
from lgl_sync.shopify.models import fulfillment_order
from lgl_sync.sync.orders.rules import (
    LglVariant,
    SourceLine,
    SourceOrder,
    build_order_input,
    ineligibility,
    lgl_lines,
    map_lines,
    sku_search,
    split_eligible,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
LGL = "gid://shopify/Location/2"
ORDER = SourceOrder(
    id="gid://shopify/Order/77",
    name="#1077",
    created_at=NOW - timedelta(hours=1),
    financial_status="PAID",
    cancelled=False,
    tags=("vip",),
    email="b@example.com",
    phone=None,
    note="gift",
    shipping_address={"firstName": "A", "city": "Austin", "countryCodeV2": "US", "zip": "78701"},
    ship_date=None,
    lines=(SourceLine("gid://shopify/LineItem/1", "LGL-1", 2),),
)
RETAILER = Retailer.parse(
    {
        "id": "nationwide-plants",
        "name": "Nationwide Plants",
        "domain": "nationwide-plants.myshopify.com",
        "api_token": "SHOPIFY_NATIONWIDE_PLANTS_TOKEN",
        "target_location_id": "2",
        "billing_email": "acct@np.example",
        "billing_address1": "1 Way",
        "billing_city": "Austin",
        "billing_zip": "78701",
        "billing_country": "US",
        "custom_include_tags": True,
    }
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),  # eligible
        ({"financial_status": "PENDING"}, "not_paid"),
        ({"cancelled": True}, "cancelled"),
        ({"created_at": NOW - timedelta(hours=7)}, "outside_lookback"),  # lookback is 6h here
        ({"tags": ("Imported-To-LGL",)}, "already_imported"),  # tags compare case-insensitively
        ({"lines": ()}, "no_lgl_items"),
    ],
)
def test_eligibility(change, reason):
    assert ineligibility(replace(ORDER, **change), NOW - timedelta(hours=6)) == reason


def test_split_eligible_keeps_the_eligible_in_order_and_counts_the_rest_by_reason():
    orders = [
        replace(ORDER, id="1"),
        replace(ORDER, id="2", financial_status="PENDING"),
        replace(ORDER, id="3"),
        replace(ORDER, id="4", cancelled=True),
        replace(ORDER, id="5", financial_status="REFUNDED"),
    ]
    chosen, skipped = split_eligible(orders, NOW - timedelta(hours=6))
    assert [o.id for o in chosen] == ["1", "3"]
    assert skipped == {"not_paid": 2, "cancelled": 1}


def _fo(location, status, lines):
    """A fulfillment order as Shopify answers it, mapped as the reads map it."""
    return fulfillment_order(
        {
            "id": f"gid://shopify/FulfillmentOrder/{lines[0][0]}",
            "assignedLocation": {"location": {"id": location}},
            "status": status,
            "lineItems": {
                "nodes": [
                    {"id": f"FOL-{i}", "remainingQuantity": q, "lineItem": {"id": i, "sku": s}}
                    for i, s, q in lines
                ]
            },
        }
    )


def test_lgl_lines_are_open_remaining_quantities_at_the_lgl_location():
    lines = lgl_lines(
        [
            _fo(LGL, "OPEN", [("L1", "A", 2), ("L2", "B", 0)]),  # B fully shipped: dropped
            _fo(LGL, "IN_PROGRESS", [("L3", "C", 1)]),
            _fo("gid://shopify/Location/9", "OPEN", [("L4", "D", 5)]),  # not LGL's
            _fo(LGL, "ON_HOLD", [("L5", "E", 1)]),  # held by the retailer
            _fo(LGL, "CLOSED", [("L6", "F", 1)]),
        ],
        LGL,
    )
    assert [(line.sku, line.quantity) for line in lines] == [("A", 2), ("C", 1)]


VARIANT = LglVariant("gid://shopify/ProductVariant/5", "LGL-1", Decimal("4.50"))


@pytest.mark.parametrize(
    ("variants", "lines", "reason"),
    [
        ({"LGL-1": [VARIANT]}, None, None),  # maps
        ({"LGL-1": []}, None, "unknown_sku"),  # no variant with that SKU
        ({"LGL-1": [VARIANT, VARIANT]}, None, "ambiguous_sku"),  # two variants share it
        (
            {"LGL-1": [VARIANT]},
            tuple(SourceLine(f"L{i}", "LGL-1", 1) for i in range(251)),
            "too_many_lines",
        ),  # over Shopify's 250-item input cap: held, never split
    ],
)
def test_mapping_holds_the_whole_order(variants, lines, reason):
    order = replace(ORDER, lines=lines) if lines else ORDER
    mapped, hold = map_lines(order, variants)
    assert (hold.reason if hold else None) == reason
    assert bool(mapped) == (reason is None)


def test_order_input_carries_addresses_tags_attributes_and_costs():
    payload = build_order_input(
        ORDER, [(ORDER.lines[0], VARIANT)], RETAILER, "USD", date(2026, 11, 24)
    )
    assert payload["lineItems"] == [
        {
            "variantId": VARIANT.id,
            "quantity": 2,
            "priceSet": {"shopMoney": {"amount": "4.50", "currencyCode": "USD"}},
        }
    ]
    assert payload["email"] == "acct@np.example"
    assert payload["billingAddress"]["address1"] == "1 Way"
    assert payload["billingAddress"]["countryCode"] == "US"
    assert payload["shippingAddress"] == {
        "firstName": "A",
        "city": "Austin",
        "zip": "78701",
        "countryCode": "US",
    }
    assert payload["tags"] == ["imported-from-nationwide-plants", "1077", "vip"]
    assert payload["customAttributes"] == [
        {"key": "order_number", "value": "#1077"},
        {"key": "__flare_ship_date", "value": "2026-11-24"},
    ]
    assert payload["sourceIdentifier"] == "nationwide-plants:77"
    assert "note" not in payload  # custom_include_note is off
    with_date = build_order_input(
        replace(ORDER, ship_date="2026-12-01"),
        [(ORDER.lines[0], VARIANT)],
        RETAILER,
        "USD",
        date.today(),
    )
    assert with_date["customAttributes"][1]["value"] == "2026-12-01"


def test_sku_search_quotes_each_sku():
    assert sku_search(["A-1", 'B "2"']) == 'sku:"A-1" OR sku:"B \\"2\\""'
