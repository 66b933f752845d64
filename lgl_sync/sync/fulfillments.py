"""Fulfillment pushback rules: how an LGL shipment maps onto the retailer's fulfillment orders.

Plain functions over plain data (DESIGN.md, "Fulfillment pushback — the rules"); the protocol
that writes to Shopify exactly once is in ``fulfillment_push.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

PUSHED_TAG = "fulfillment-pushed"
FULFILLABLE = {"OPEN", "IN_PROGRESS"}


@dataclass(frozen=True)
class Tracking:
    company: str | None
    numbers: tuple[str, ...]
    urls: tuple[str | None, ...]

    def fingerprint(self) -> str:
        return json.dumps([self.company, list(self.numbers), list(self.urls)])

    def as_input(self) -> dict[str, Any]:
        """FulfillmentTrackingInput with every number (the old scripts kept only the first);
        URLs are sent only when each number has one, so they stay paired."""
        tracking: dict[str, Any] = {}
        if self.company:
            tracking["company"] = self.company
        if self.numbers:
            tracking["numbers"] = list(self.numbers)
            if all(self.urls) and len(self.urls) == len(self.numbers):
                tracking["urls"] = list(self.urls)
        return tracking


@dataclass(frozen=True)
class Shipment:
    """One LGL fulfillment of an order imported from the retailer."""

    lgl_order_id: str
    lgl_order_name: str
    lgl_fulfillment_id: str
    status: str
    tracking: Tracking
    source_identifier: str | None
    tags: tuple[str, ...]


def tracking_of(fulfillment: dict[str, Any]) -> Tracking:
    infos = fulfillment.get("trackingInfo") or []
    company = next((i.get("company") for i in infos if i.get("company")), None)
    numbers = tuple(i["number"] for i in infos if i.get("number"))
    urls = tuple(i.get("url") for i in infos if i.get("number"))
    return Tracking(company, numbers, urls)


def shipments_of(order: dict[str, Any]) -> list[Shipment]:
    return [
        Shipment(
            order["id"],
            order["name"],
            f["id"],
            f["status"],
            tracking_of(f),
            order.get("sourceIdentifier"),
            tuple(order.get("tags") or ()),
        )
        for f in order.get("fulfillments") or []
    ]


def legacy_order_number(tags: tuple[str, ...]) -> str | None:
    """The numeric order-number tag the old system put on the orders it imported."""
    return next((t for t in tags if t.isdigit()), None)


@dataclass(frozen=True)
class Allocation:
    """fulfillmentCreate's lineItemsByFulfillmentOrder, or why there is none."""

    groups: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    problem: str | None = None
    detail: str | None = None

    def as_input(self) -> list[dict[str, Any]]:
        return [
            {
                "fulfillmentOrderId": fo,
                "fulfillmentOrderLineItems": [
                    {"id": line, "quantity": quantity} for line, quantity in lines
                ],
            }
            for fo, lines in self.groups
        ]


def allocate(
    lines: list[tuple[str, int]], fulfillment_orders: list[dict[str, Any]], location_id: str
) -> Allocation:
    """Maps shipped (sku, quantity) onto the retailer's fulfillment orders at the LGL location,
    splitting across them when needed and never beyond what remains."""
    at_lgl = [
        fo
        for fo in fulfillment_orders
        if ((fo.get("assignedLocation") or {}).get("location") or {}).get("id") == location_id
    ]
    known = {li["lineItem"]["sku"] for fo in at_lgl for li in fo["lineItems"]}
    missing = sorted({sku for sku, _ in lines} - known)
    if missing:
        return Allocation(problem="sku_not_on_retailer_order", detail=", ".join(missing))
    remaining = Counter()
    for fo in at_lgl:
        if fo["status"] in FULFILLABLE:
            for li in fo["lineItems"]:
                remaining[li["lineItem"]["sku"]] += li["remainingQuantity"]
    wanted = Counter()
    for sku, quantity in lines:
        wanted[sku] += quantity
    short = {sku: n for sku, n in wanted.items() if remaining[sku] < n}
    if short:
        held = any(fo["status"] == "ON_HOLD" for fo in at_lgl)
        if held:
            return Allocation(problem="fulfillment_order_on_hold")
        if all(remaining[sku] == 0 for sku in short):
            return Allocation(
                problem="already_fulfilled",
                detail="the retailer order has nothing left to ship for "
                + ", ".join(sorted(short)),
            )
        return Allocation(problem="quantity_exceeds_remaining", detail=json.dumps(short))
    groups: dict[str, list[tuple[str, int]]] = {}
    for fo in at_lgl:
        if fo["status"] not in FULFILLABLE:
            continue
        for li in fo["lineItems"]:
            sku = li["lineItem"]["sku"]
            take = min(wanted[sku], li["remainingQuantity"])
            if take > 0:
                groups.setdefault(fo["id"], []).append((li["id"], take))
                wanted[sku] -= take
    return Allocation(groups=tuple((fo, tuple(items)) for fo, items in groups.items()))


def matching_fulfillment(
    retailer_fulfillments: list[dict[str, Any]],
    tracking: Tracking,
    lines: list[tuple[str, int]],
    linked: set[str],
) -> str | None:
    """After an ambiguous create: the retailer fulfillment that is ours (same tracking numbers
    and lines, not linked to another LGL fulfillment), if one exists."""
    wanted = Counter()
    for sku, quantity in lines:
        wanted[sku] += quantity
    for fulfillment in retailer_fulfillments:
        if fulfillment["id"] in linked or fulfillment.get("status") == "CANCELLED":
            continue
        numbers = {i["number"] for i in fulfillment.get("trackingInfo") or [] if i.get("number")}
        got = Counter()
        for item in (fulfillment.get("fulfillmentLineItems") or {}).get("nodes") or []:
            got[item["lineItem"]["sku"]] += item["quantity"]
        if numbers == set(tracking.numbers) and got == wanted:
            return fulfillment["id"]
    return None
