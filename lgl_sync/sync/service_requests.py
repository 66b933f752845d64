"""LGL's fulfillment service: answering what a retailer's store asks of it (FACTS.md §7).

At a fulfillment-service location the retailer *asks* LGL to ship an order (a fulfillment
request) and LGL answers:

- accept once the order is in the LGL store, so a crash between the two leaves a request the
  next run answers, never an accepted order that is not imported;
- reject an order with SKUs LGL does not stock (reason ``INVALID_SKU``, the SKUs in the
  message), so the retailer sees why and can route it elsewhere;
- accept a request to cancel while LGL has shipped nothing of the order (the LGL order is then
  cancelled by the order-changes step, as for any cancellation); reject it, saying what shipped,
  once LGL has shipped part of it.

Answers move a fulfillment order from one request status to the next, so they are safe to
repeat: an answer refused or lost is checked by reading the fulfillment order back, and counts
when it already is where the answer was to put it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import ledger
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.sync.lifecycle.reads import lgl_order_states
from lgl_sync.sync.orders.reads import assigned_fulfillment_orders, parse_datetime
from lgl_sync.sync.orders.rules import SourceOrder

ANSWERS = {
    "FulfillmentRequestAccept": ("fulfillmentOrderAcceptFulfillmentRequest", {"ACCEPTED"}),
    "FulfillmentRequestReject": ("fulfillmentOrderRejectFulfillmentRequest", {"REJECTED"}),
    "CancellationRequestAccept": (
        "fulfillmentOrderAcceptCancellationRequest",
        {"CANCELLATION_ACCEPTED"},
    ),
    "CancellationRequestReject": (
        "fulfillmentOrderRejectCancellationRequest",
        {"CANCELLATION_REJECTED"},
    ),
}


@dataclass
class Answers:
    """What LGL answered this run, by kind, and the answers Shopify refused."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    cancellations_accepted: list[str] = field(default_factory=list)  # source order ids
    cancellations_rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, int]:
        return {
            "requests_accepted": len(self.accepted),
            "requests_rejected": len(self.rejected),
            "cancellations_accepted": len(self.cancellations_accepted),
            "cancellations_rejected": len(self.cancellations_rejected),
            "answers_failed": len(self.failed),
        }


def answer(client: ShopifyClient, operation: str, fo_id: str, **variables) -> str | None:
    """Sends one answer; None when the fulfillment order is where it was to go, else
    Shopify's reason."""
    field_name, done = ANSWERS[operation]
    data = client.mutate(operation, {"id": fo_id, **variables}, idempotent=True)
    errors = (data.get(field_name) or {}).get("userErrors") or []
    if not errors:
        return None
    now = client.query("FulfillmentOrderRequestStatus", {"id": fo_id})["fulfillmentOrder"]
    if now and now.get("requestStatus") in done:
        return None  # answered before (a lost answer, or another run)
    return errors[0].get("message") or "refused"


def answer_fulfillment_requests(
    client: ShopifyClient,
    engine: Engine,
    retailer: Retailer,
    orders: list[SourceOrder],
    rejects: dict[str, str],
) -> Answers:
    """Accepts the requests of orders now in the LGL store; rejects those of ``rejects``
    ({source order id: the SKUs LGL does not stock})."""
    answers = Answers()
    waiting = [o for o in orders if o.waiting()]
    imported = ledger.imported_orders(engine, retailer.id, [o.id for o in waiting])
    for order in waiting:
        for fo_id in order.waiting():
            if order.id in imported:
                problem = answer(
                    client, "FulfillmentRequestAccept", fo_id, message="Imported by LGL."
                )
                kept = answers.accepted
            elif order.id in rejects:
                problem = answer(
                    client,
                    "FulfillmentRequestReject",
                    fo_id,
                    reason="INVALID_SKU",
                    message=f"LGL does not stock: {rejects[order.id]}"[:255],
                )
                kept = answers.rejected
            else:
                continue  # held for LGL to fix (an ambiguous SKU...) or failed: asked again
            (answers.failed if problem else kept).append(
                f"{order.name}: {problem}" if problem else order.id
            )
    return answers


def answer_cancellation_requests(
    client: ShopifyClient, lgl: ShopifyClient, engine: Engine, retailer: Retailer
) -> Answers:
    """Accepts each request to cancel an order LGL has shipped nothing of; rejects the others
    with what shipped. Returns the answers (cancellations accepted: the order ids)."""
    answers = Answers()
    asked = assigned_fulfillment_orders(
        client, retailer.target_location_id, "CANCELLATION_REQUESTED"
    )
    links = ledger.order_links_of(engine, retailer.id, [fo["orderId"] for fo in asked])
    states = lgl_order_states(lgl, [x.lgl_order_id for x in links.values() if x.lgl_order_id])
    for fo in asked:
        link = links.get(fo["orderId"])
        state = states.get(link.lgl_order_id) if link and link.lgl_order_id else None
        name = (fo.get("order") or {}).get("name") or fo["orderId"]
        if state is not None and state.shipped and not state.cancelled:
            problem = answer(
                client,
                "CancellationRequestReject",
                fo["id"],
                message=f"LGL has already shipped part of this order (LGL order {state.name}).",
            )
            kept = answers.cancellations_rejected
        else:
            problem = answer(
                client,
                "CancellationRequestAccept",
                fo["id"],
                message="Cancelled at LGL before shipping.",
            )
            kept = answers.cancellations_accepted
        (answers.failed if problem else kept).append(
            f"{name}: {problem}" if problem else fo["orderId"]
        )
    return answers


def unsubmitted(client: ShopifyClient, retailer: Retailer, hours: float) -> list[dict[str, str]]:
    """Paid orders whose fulfillment order at LGL's service has waited unsubmitted (nobody
    asked LGL to ship it) longer than ``hours``: LGL is not shipping them."""
    cutoff = datetime.now(UTC) - timedelta(hours=hours)
    found = []
    for fo in assigned_fulfillment_orders(
        client, retailer.target_location_id, "FULFILLMENT_UNSUBMITTED"
    ):
        order = fo.get("order") or {}
        if order.get("displayFinancialStatus") not in ("PAID", "PARTIALLY_REFUNDED"):
            continue
        if parse_datetime(fo["createdAt"]) <= cutoff:
            found.append(
                {
                    "id": fo["orderId"],
                    "order": order.get("name") or fo["orderId"],
                    "since": parse_datetime(fo["createdAt"]).strftime("%Y-%m-%d %H:%M UTC"),
                }
            )
    return found
