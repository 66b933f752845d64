"""Returns: a return the retailer opens for goods LGL shipped becomes, once, a return on the LGL
order (an expected receipt for LGL's warehouse); when the warehouse has taken the goods in, the
retailer is told what came back.

Stock: nothing here writes inventory. Opening a return changes no stock in Shopify; LGL's
stock goes back up only when the warehouse disposes the return's lines as ``RESTOCKED`` at its
location, which Shopify applies once; the inventory sync then carries the new numbers to every
retailer. A retailer restocking its own return at its LGL location is overwritten by that sync.

Exactly once (``returnCreate`` has no idempotency key): the ledger row is claimed before the
call; every line of the LGL return carries the note ``LGL Sync <retailer> return <id>``; after
an unanswered call, or when a claim is taken over, the LGL order's returns are read directly
(no search index, no lag) for that note before anything is created again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import ledger
from lgl_sync.control_plane import returns as book
from lgl_sync.control_plane.returns import ReturnLink, ReturnStatus
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.sync.orders.rules import IMPORTED_TAG

logger = logging.getLogger(__name__)
RETURNS_PER_LOOKUP = 10  # LglReturnReceipts costs about 85 per return
ORDERS_PER_PAGE = 3  # RetailerOrderReturns costs about 260 per order (the documented formula)


@dataclass(frozen=True)
class ReturnedLine:
    """A returned line: the retailer fulfillment it left in, its SKU, how many, and why."""

    fulfillment_id: str | None
    sku: str | None
    quantity: int
    reason: str | None


@dataclass(frozen=True)
class RetailerReturn:
    """One return at the retailer, with the LGL fulfillment each returned line left in."""

    id: str
    name: str
    status: str
    source_order_id: str
    lines: tuple[ReturnedLine, ...]


class ReturnOutcome(StrEnum):
    MIRRORED = "mirrored"  # the LGL return was created (or found) in this run
    RECEIVED = "received"  # the warehouse took the goods in; the retailer was told
    NOT_LGL = "not_shipped_by_lgl"
    REFUSED = "refused"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"


@dataclass
class ReturnReport:
    outcomes: Counter = field(default_factory=Counter)
    received: list[dict[str, Any]] = field(default_factory=list)  # for the retailer's notice
    problems: list[str] = field(default_factory=list)


def marker(retailer_id: str, retailer_return_id: str) -> str:
    """The note every line of the LGL return carries: how an earlier create is found again."""
    return f"LGL Sync {retailer_id} return {retailer_return_id.rsplit('/', 1)[-1]}"


# -- reads ---------------------------------------------------------------------------------------


def _returned_line(node: dict[str, Any], of: dict[str, tuple[str, str]]) -> ReturnedLine:
    fulfillment_id, sku = of.get((node.get("fulfillmentLineItem") or {}).get("id"), (None, None))
    reason = node.get("returnReason")
    return ReturnedLine(fulfillment_id, sku, int(node.get("quantity") or 0), reason)


def _return(client: ShopifyClient, node: dict[str, Any], order: dict, of: dict) -> RetailerReturn:
    lines = client.complete(
        node["returnLineItems"], "ReturnLineItems", {"id": node["id"]}, path="node.returnLineItems"
    )
    return RetailerReturn(
        node["id"],
        node["name"],
        node.get("status") or "",
        order["id"],
        tuple(_returned_line(n, of) for n in lines),
    )


def read_retailer_returns(store: ShopifyClient, since: datetime) -> list[RetailerReturn]:
    """Every return on an imported order changed since ``since``, each line with the retailer
    fulfillment it came from; every nested list read to its end."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"tag:'{IMPORTED_TAG}' -return_status:no_return updated_at:>='{stamp}'"
    found: list[RetailerReturn] = []
    for order in store.paginate(
        "RetailerOrderReturns", {"query": query}, path="orders", page_size=ORDERS_PER_PAGE
    ):
        of: dict[str, tuple[str, str]] = {}
        for fulfillment in order.get("fulfillments") or []:
            lines = store.complete(
                fulfillment["fulfillmentLineItems"],
                "FulfillmentLineItems",
                {"id": fulfillment["id"]},
                path="node.fulfillmentLineItems",
            )
            of.update({line["id"]: (fulfillment["id"], line["lineItem"]["sku"]) for line in lines})
        nodes = store.complete(
            order["returns"], "OrderReturns", {"id": order["id"]}, path="node.returns"
        )
        found += [_return(store, node, order, of) for node in nodes]
    return found


def lgl_return_with(lgl: ShopifyClient, lgl_order_id: str, note: str) -> str | None:
    """The LGL order's return whose lines carry ``note``: read directly, every return."""
    for node in lgl.paginate(
        "OrderReturns", {"id": lgl_order_id}, path="node.returns", page_size=20
    ):
        lines = lgl.complete(
            node["returnLineItems"],
            "ReturnLineItems",
            {"id": node["id"]},
            path="node.returnLineItems",
        )
        if node.get("status") not in ("CANCELED", "DECLINED") and any(
            _carries(line.get("returnReasonNote") or "", note) for line in lines
        ):
            return node["id"]
    return None


def _carries(text: str, note: str) -> bool:
    return text == note or text.startswith(note + ":")


def fulfillment_line_ids(lgl: ShopifyClient, fulfillment_ids: list[str]) -> dict[str, list]:
    """(line item id, sku, quantity) of each LGL fulfillment, every line."""
    found: dict[str, list] = {}
    for start in range(0, len(fulfillment_ids), 9):
        for node in lgl.query("FulfillmentLines", {"ids": fulfillment_ids[start : start + 9]})[
            "nodes"
        ]:
            if node:
                lines = lgl.complete(
                    node["fulfillmentLineItems"],
                    "FulfillmentLineItems",
                    {"id": node["id"]},
                    path="node.fulfillmentLineItems",
                )
                found[node["id"]] = [(n["id"], n["lineItem"]["sku"], n["quantity"]) for n in lines]
    return found


def receipts(lgl: ShopifyClient, lgl_return_ids: list[str]) -> dict[str, dict | None]:
    """Per LGL return: {disposition: {sku: units}} once every line is disposed, else None."""
    done: dict[str, dict | None] = {}
    for start in range(0, len(lgl_return_ids), RETURNS_PER_LOOKUP):
        batch = lgl_return_ids[start : start + RETURNS_PER_LOOKUP]
        for node in lgl.query("LglReturnReceipts", {"ids": batch})["nodes"]:
            if node:
                done[node["id"]] = _disposed(lgl, node)
    return done


def _disposed(lgl: ShopifyClient, node: dict[str, Any]) -> dict | None:
    orders = node["reverseFulfillmentOrders"]
    if orders["pageInfo"]["hasNextPage"]:
        raise ValueError(f"{node['id']}: more than 2 reverse fulfillment orders")
    received: dict[str, Counter] = {}
    for rfo in orders["nodes"]:
        lines = lgl.complete(
            rfo["lineItems"],
            "ReverseFulfillmentOrderLines",
            {"id": rfo["id"]},
            path="node.lineItems",
        )
        for line in lines:
            disposed = sum(d["quantity"] for d in line.get("dispositions") or [])
            if disposed < line["totalQuantity"]:
                return None
            sku = ((line.get("fulfillmentLineItem") or {}).get("lineItem") or {}).get("sku")
            for d in line.get("dispositions") or []:
                received.setdefault(d["type"], Counter())[sku or "?"] += d["quantity"]
    return {kind: dict(units) for kind, units in received.items()}


# -- the mirror ----------------------------------------------------------------------------------


class ReturnMirror:
    """Mirrors one retailer's returns onto LGL's orders, and tells it of goods received."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        lgl: ShopifyClient,
        engine: Engine,
        run_id: str | None,
        reconcile_after: timedelta = timedelta(minutes=2),
    ) -> None:
        self.retailer = retailer
        self.lgl = lgl
        self.engine = engine
        self.run_id = run_id
        self.reconcile_after = reconcile_after

    def run(self, found: list[RetailerReturn]) -> ReturnReport:
        report = ReturnReport()
        if found:
            self._mirror_all(found, report)
        self._receive(report)
        return report

    def _mirror_all(self, found: list[RetailerReturn], report: ReturnReport) -> None:
        links = book.links_of(self.engine, self.retailer.id)
        shipped = {
            link.retailer_fulfillment_id: link
            for link in ledger.fulfillment_links_of(self.engine, self.retailer.id).values()
            if link.retailer_fulfillment_id and link.status == ledger.LinkStatus.CREATED
        }
        for item in found:
            link = links.get(item.id)
            if item.status != "OPEN" or (link and link.status in book.SETTLED):
                continue
            try:
                outcome = self._mirror(item, link, shipped)
            except ShopifyError as exc:
                logger.warning("return %s failed: %s", item.name, exc)
                outcome = ReturnOutcome.FAILED
                report.problems.append(f"{item.name}: {str(exc)[:200]}")
            report.outcomes[outcome] += 1

    def _mirror(
        self, item: RetailerReturn, link: ReturnLink | None, shipped: dict
    ) -> ReturnOutcome:
        wanted: dict[str, Counter] = {}  # LGL fulfillment -> {(sku, reason): units}
        lgl_order = None
        for line in item.lines:
            pushed = shipped.get(line.fulfillment_id)
            if pushed is not None and line.sku and line.quantity > 0:
                lgl_order = pushed.lgl_order_id
                key = (line.sku, line.reason)
                wanted.setdefault(pushed.lgl_fulfillment_id, Counter())[key] += line.quantity
        values = {
            "retailer_return_id": item.id,
            "retailer_id": self.retailer.id,
            "source_order_id": item.source_order_id,
            "return_name": item.name,
            "lgl_order_id": lgl_order,
            "run_id": self.run_id,
        }
        if link is None and not book.claim(self.engine, values):
            return ReturnOutcome.IN_PROGRESS
        if not wanted:
            book.mark_skipped(self.engine, item.id, "not_shipped_by_lgl")
            return ReturnOutcome.NOT_LGL
        if link is not None:  # failed, or a claim left pending: look before creating again
            fresh = link.age(datetime.now(UTC)) < self.reconcile_after.total_seconds()
            if link.status == ReturnStatus.PENDING and fresh:
                return ReturnOutcome.IN_PROGRESS
            if not book.take_over(self.engine, link, self.run_id):
                return ReturnOutcome.IN_PROGRESS
            existing = lgl_return_with(self.lgl, lgl_order, marker(self.retailer.id, item.id))
            if existing:
                book.mark_created(self.engine, item.id, existing, _units(wanted))
                return ReturnOutcome.MIRRORED
        return self._create(item, lgl_order, wanted)

    def _create(self, item: RetailerReturn, lgl_order: str, wanted: dict) -> ReturnOutcome:
        note = marker(self.retailer.id, item.id)
        lines = lgl_lines(fulfillment_line_ids(self.lgl, list(wanted)), wanted, note)
        if lines is None:
            book.mark_skipped(self.engine, item.id, "more returned than LGL shipped")
            return ReturnOutcome.REFUSED
        payload = {"orderId": lgl_order, "notifyCustomer": False, "returnLineItems": lines}
        try:
            data = self.lgl.mutate("ReturnCreate", {"returnInput": payload}, idempotent=False)
        except AmbiguousOutcomeError:
            existing = lgl_return_with(self.lgl, lgl_order, note)
            if existing:
                book.mark_created(self.engine, item.id, existing, _units(wanted))
                return ReturnOutcome.MIRRORED
            book.mark_failed(self.engine, item.id, "unanswered")
            return ReturnOutcome.FAILED
        result = data["returnCreate"]
        if result["userErrors"]:
            reason = "; ".join(e["message"] for e in result["userErrors"])[:300]
            book.mark_skipped(self.engine, item.id, f"refused: {reason}")
            return ReturnOutcome.REFUSED
        book.mark_created(self.engine, item.id, result["return"]["id"], _units(wanted))
        return ReturnOutcome.MIRRORED

    def _receive(self, report: ReturnReport) -> None:
        """Returns the warehouse has disposed whole: recorded and told once."""
        waiting = book.expected(self.engine, self.retailer.id)
        if not waiting:
            return
        done = receipts(self.lgl, [link.lgl_return_id for link in waiting])
        for link in waiting:
            received = done.get(link.lgl_return_id)
            if received is not None and book.mark_received(
                self.engine, link.retailer_return_id, received
            ):
                report.outcomes[ReturnOutcome.RECEIVED] += 1
                report.received.append({"return": link.return_name, "received": received})


def _units(wanted: dict[str, Counter]) -> dict[str, int]:
    total: Counter = Counter()
    for per_line in wanted.values():
        for (sku, _), quantity in per_line.items():
            total[sku] += quantity
    return dict(total)


def lgl_lines(available: dict[str, list], wanted: dict[str, Counter], note: str) -> list | None:
    """returnLineItems for the LGL order: each returned unit onto a line of the same SKU in the
    LGL fulfillment it left in, never more than that line shipped; None when it does not fit."""
    lines: list[dict] = []
    for fulfillment_id, per_line in wanted.items():
        left = {line_id: [sku, n] for line_id, sku, n in available.get(fulfillment_id, [])}
        for (sku, reason), quantity in per_line.items():
            for line_id, have in left.items():
                take = min(quantity, have[1]) if have[0] == sku else 0
                if take:
                    text = f"{note}: {reason.lower().replace('_', ' ')}" if reason else note
                    lines.append(
                        {
                            "fulfillmentLineItemId": line_id,
                            "quantity": take,
                            "returnReasonNote": text,
                        }
                    )
                    have[1] -= take
                    quantity -= take
            if quantity:
                return None
    return lines
