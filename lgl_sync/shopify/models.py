"""Shopify objects that more than one flow reads, as frozen records (mapped once, at the edge).

Fulfillment orders are what both the order import (which lines LGL must ship) and the pushback
(where a shipment goes) decide on (FACTS.md §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})  # FACTS.md §4.2
# The two kinds of a retailer's LGL location (FACTS.md §7): an ordinary location the retailer
# routes orders to, or LGL's own fulfillment service, which ships only what it was asked to.
MERCHANT_MANAGED, FULFILLMENT_SERVICE = "merchant_managed", "fulfillment_service"
LOCATION_MODELS = (MERCHANT_MANAGED, FULFILLMENT_SERVICE)
# Request statuses of a fulfillment order a fulfillment service was asked to ship and has not
# given back (a request unsubmitted, rejected, withdrawn or cancelled is not the service's).
REQUESTED = frozenset({"SUBMITTED", "ACCEPTED", "CANCELLATION_REQUESTED", "CANCELLATION_REJECTED"})


def nodes(value: Any) -> list[dict[str, Any]]:
    """The items of a connection (``{"nodes": [...]}``) or of a plain list."""
    if isinstance(value, dict):
        return list(value.get("nodes") or [])
    return list(value or [])


@dataclass(frozen=True)
class FulfillmentOrderLine:
    """One line of a fulfillment order: how much of which line item is still to ship."""

    id: str
    line_item_id: str | None
    sku: str | None
    remaining: int
    total: int = 0  # units of the line assigned to this fulfillment order, shipped or not
    line_current: int | None = None  # the line item's units less refunded and removed ones


@dataclass(frozen=True)
class FulfillmentOrder:
    """A fulfillment order: the lines one location is to ship, and its status."""

    id: str
    status: str | None
    location_id: str | None
    lines: tuple[FulfillmentOrderLine, ...]
    request_status: str | None = None  # a fulfillment service's: SUBMITTED, ACCEPTED...
    delivery: DeliveryMethod | None = None  # how the customer gets it (None: not read)

    @property
    def fulfillable(self) -> bool:
        return self.status in FULFILLABLE

    @property
    def shipped_to_customer(self) -> bool:
        """Not a pickup, local delivery or in-store sale: a parcel a warehouse sends."""
        return self.delivery is None or self.delivery.method_type not in NOT_SHIPPED


# Delivery methods no warehouse ships: the customer collects it, the store delivers it itself,
# or nothing is delivered (DeliveryMethodType).
NOT_SHIPPED = ("PICK_UP", "LOCAL", "NONE", "RETAIL")


@dataclass(frozen=True)
class DeliveryMethod:
    """The delivery method of a fulfillment order, as the customer chose it at checkout."""

    method_type: str
    service_code: str | None = None
    presented_name: str | None = None
    deliver_by: str | None = None  # maxDeliveryDateTime
    fulfill_by: str | None = None  # the fulfillment order's fulfillBy


def lgl_share(
    fulfillment_orders: list[FulfillmentOrder], location_id: str | None, model: str
) -> list[FulfillmentOrder]:
    """The order's fulfillment orders with only the ones LGL was given at its location: all of
    them at a merchant-managed location, only the requested ones at LGL's fulfillment service."""
    if model != FULFILLMENT_SERVICE:
        return list(fulfillment_orders)
    return [
        fo
        for fo in fulfillment_orders
        if fo.location_id != location_id or fo.request_status in REQUESTED
    ]


def fulfillment_order(node: dict[str, Any]) -> FulfillmentOrder:
    """A FulfillmentOrder from a GraphQL node (its ``lineItems`` a connection or a list)."""
    location = ((node.get("assignedLocation") or {}).get("location") or {}).get("id")
    lines = tuple(
        FulfillmentOrderLine(
            item.get("id"),
            (item.get("lineItem") or {}).get("id"),
            (item.get("lineItem") or {}).get("sku"),
            item.get("remainingQuantity") or 0,
            item.get("totalQuantity") or 0,
            (item.get("lineItem") or {}).get("currentQuantity"),
        )
        for item in nodes(node.get("lineItems"))
    )
    method = node.get("deliveryMethod")
    delivery = (
        DeliveryMethod(
            method.get("methodType") or "SHIPPING",
            method.get("serviceCode"),
            method.get("presentedName"),
            method.get("maxDeliveryDateTime"),
            node.get("fulfillBy"),
        )
        if method
        else None
    )
    return FulfillmentOrder(
        node.get("id"), node.get("status"), location, lines, node.get("requestStatus"), delivery
    )
