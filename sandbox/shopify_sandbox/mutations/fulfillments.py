"""Fulfillment mutations: create, tracking updates and cancels (FACTS.md §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from graphql import GraphQLResolveInfo

from shopify_sandbox import services, webhooks
from shopify_sandbox.models import TrackingInfo, gid
from shopify_sandbox.mutations.support import context_of, payload
from shopify_sandbox.resolvers import lookup, parse_gid
from shopify_sandbox.state import SandboxError

CARRIER_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?qtc_tLabels1={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}",
}
# Every tracking company Shopify lists (the description of FulfillmentTrackingInfo.company in
# the 2026-10 schema): for these, and only when spelt exactly so, Shopify builds the link.
_LISTED = json.loads((Path(__file__).parents[1] / "carriers.json").read_text())
CARRIERS = frozenset(_LISTED["global"]).union(*_LISTED["by_country"].values())


def carrier_url(company: str | None, number: str) -> str | None:
    """The link Shopify builds for a listed carrier (case-sensitive); None otherwise."""
    if company not in CARRIERS:
        return None
    template = CARRIER_URLS.get(company)
    return (
        template.format(number)
        if template
        else f"https://track.sandbox.invalid/{quote(company)}/{quote(number)}"
    )


def _tracking(tracking: dict | None) -> list[TrackingInfo]:
    if not tracking:
        return []
    if tracking.get("number") and tracking.get("numbers"):
        raise SandboxError("Use number or numbers, not both.", ["fulfillment", "trackingInfo"])
    if tracking.get("url") and tracking.get("urls"):
        raise SandboxError("Use url or urls, not both.", ["fulfillment", "trackingInfo"])
    numbers = tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    urls = tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else [])
    company = tracking.get("company")
    infos = []
    for i, number in enumerate(numbers):
        url = urls[i] if i < len(urls) else None
        if url is None:
            url = carrier_url(company, number)
        infos.append(TrackingInfo(company, number, url))
    if not numbers and company:
        infos.append(TrackingInfo(company, None, None))
    return infos


def fulfillment_create(_: Any, info: GraphQLResolveInfo, fulfillment: dict, **_a: Any) -> dict:
    """Fulfills fulfillment order line items, all of one order and one location."""
    store = context_of(info).store
    build = payload(fulfillment=None)
    try:
        requests = []
        for i, group in enumerate(fulfillment["lineItemsByFulfillmentOrder"]):
            fo = lookup(store, group["fulfillmentOrderId"], "FulfillmentOrder")
            if fo is None:
                raise SandboxError(
                    "Fulfillment order does not exist.",
                    ["fulfillment", "lineItemsByFulfillmentOrder", str(i)],
                )
            refused = services.writable(store, fo)
            if refused:
                raise SandboxError(refused, ["fulfillment", "lineItemsByFulfillmentOrder", str(i)])
            items = group.get("fulfillmentOrderLineItems")
            wanted = None
            if items is not None:
                wanted = [
                    (
                        (parse_gid(li["id"], "FulfillmentOrderLineItem") or ("", -1))[1],
                        li["quantity"],
                    )
                    for li in items
                ]
            requests.append((fo, wanted))
        created = store.create_fulfillment(
            requests,
            _tracking(fulfillment.get("trackingInfo")),
            bool(fulfillment.get("notifyCustomer")),
        )
    except SandboxError as error:
        return build(error)
    return {"fulfillment": created, "userErrors": []}


def fulfillment_tracking_update(
    _: Any,
    info: GraphQLResolveInfo,
    fulfillmentId: str,
    trackingInfoInput: dict,
    notifyCustomer: bool | None = None,
):
    store = context_of(info).store
    record = lookup(store, fulfillmentId, "Fulfillment")
    try:
        if record is None:
            raise SandboxError("Fulfillment does not exist.", ["fulfillmentId"])
        if record.status == "CANCELLED":
            raise SandboxError(
                "Cannot update tracking of a cancelled fulfillment.", ["fulfillmentId"]
            )
        record.tracking_info = _tracking(trackingInfoInput)
        record.notify_customer = bool(notifyCustomer)
        record.updated_at = store.now()
        store.touch(store.orders[record.order_id])
        store.emit("FULFILLMENTS_UPDATE", lambda: webhooks.fulfillment_payload(record))
    except SandboxError as error:
        return {
            "fulfillment": None,
            "userErrors": [{"field": error.field, "message": error.message}],
        }
    return {"fulfillment": record, "userErrors": []}


def fulfillment_cancel(_: Any, info: GraphQLResolveInfo, id: str) -> dict:
    store = context_of(info).store
    record = lookup(store, id, "Fulfillment")
    try:
        if record is None:
            raise SandboxError("Fulfillment does not exist.", ["id"])
        store.cancel_fulfillment(record)
    except SandboxError as error:
        return {
            "fulfillment": None,
            "userErrors": [{"field": error.field, "message": error.message}],
        }
    return {"fulfillment": record, "userErrors": []}


def fulfillment_order_hold(
    _: Any, info: GraphQLResolveInfo, id: str, fulfillmentHold: dict[str, Any]
) -> dict:
    """fulfillmentOrderHold: the whole fulfillment order goes ON_HOLD under the caller's
    ``handle`` (one hold per handle; several apps' holds may stack)."""
    store = context_of(info).store
    fo = lookup(store, id, "FulfillmentOrder")
    try:
        if fo is None:
            raise SandboxError(
                "Fulfillment order does not exist.", ["id"], "FULFILLMENT_ORDER_NOT_FOUND"
            )
        handle = fulfillmentHold.get("handle") or ""
        store.hold_fulfillment_order(fo, handle, fulfillmentHold["reason"])
    except SandboxError as error:
        return {
            "fulfillmentHold": None,
            "fulfillmentOrder": None,
            "remainingFulfillmentOrder": None,
            "userErrors": [error.as_user_error()],
        }
    hold = {
        "id": gid("FulfillmentHold", fo.holds[-1][2]),
        "handle": handle,
        "reason": fulfillmentHold["reason"],
    }
    return {
        "fulfillmentHold": hold,
        "fulfillmentOrder": fo,
        "remainingFulfillmentOrder": None,
        "userErrors": [],
    }


def fulfillment_order_release_hold(
    _: Any, info: GraphQLResolveInfo, id: str, holdIds: list[str] | None = None, **_a: Any
) -> dict:
    store = context_of(info).store
    fo = lookup(store, id, "FulfillmentOrder")
    try:
        if fo is None:
            raise SandboxError(
                "Fulfillment order does not exist.", ["id"], "FULFILLMENT_ORDER_NOT_FOUND"
            )
        named = {int(h.rsplit("/", 1)[-1]) for h in holdIds} if holdIds else None
        store.release_fulfillment_order(fo, named)
    except SandboxError as error:
        return {"fulfillmentOrder": None, "userErrors": [error.as_user_error()]}
    return {"fulfillmentOrder": fo, "userErrors": []}


def fulfillment_order_move(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    newLocationId: str,
    fulfillmentOrderLineItems: list[dict] | None = None,
) -> dict:
    """fulfillmentOrderMove: an OPEN or IN_PROGRESS fulfillment order's unfulfilled units go to
    another location. Nothing fulfilled and everything moved: the same fulfillment order changes
    location; otherwise a new one at the new location takes the moved units."""
    store = context_of(info).store
    fo = lookup(store, id, "FulfillmentOrder")
    location = lookup(store, newLocationId, "Location")
    try:
        if fo is None:
            raise SandboxError("Fulfillment order does not exist.", ["id"], "GENERAL_ERROR")
        if location is None:
            raise SandboxError("Location does not exist.", ["newLocationId"], "GENERAL_ERROR")
        if fo.status not in ("OPEN", "IN_PROGRESS"):
            raise SandboxError(
                f"Fulfillment order cannot be moved in status {fo.status}.", ["id"], "GENERAL_ERROR"
            )
        wanted = _units_to_move(fo, fulfillmentOrderLineItems)
    except SandboxError as error:
        return {
            "movedFulfillmentOrder": None,
            "originalFulfillmentOrder": None,
            "remainingFulfillmentOrder": None,
            "userErrors": [error.as_user_error()],
        }
    moved = store.move_fulfillment_order(fo, location.id, wanted)
    return {
        "movedFulfillmentOrder": moved,
        "originalFulfillmentOrder": fo,
        "remainingFulfillmentOrder": fo if moved is not fo else None,
        "userErrors": [],
    }


def _units_to_move(fo: Any, items: list[dict] | None) -> dict[int, int]:
    """{fulfillment-order line id: units to move}: everything remaining unless ``items``."""
    if not items:
        return {fl.id: fl.remaining_quantity for fl in fo.line_items if fl.remaining_quantity}
    lines = {fl.id: fl for fl in fo.line_items}
    wanted = {}
    for i, item in enumerate(items):
        number = int(item["id"].rsplit("/", 1)[-1])
        line = lines.get(number)
        if line is None or not 0 < item["quantity"] <= line.remaining_quantity:
            raise SandboxError(
                "Invalid fulfillment order line item quantity.",
                ["fulfillmentOrderLineItems", str(i)],
                "GENERAL_ERROR",
            )
        wanted[number] = item["quantity"]
    return wanted
