"""Rebuilding the ledger from the two stores (``lgl-sync ledger rebuild``), after the control
plane was restored from an old backup or its ledger tables were lost.

The LGL store holds what is needed: each imported order carries ``sourceIdentifier``
(``<retailer>:<order number id>``, also its custom ID), the ``imported-from-<retailer>`` tag,
the order-number tag, its lines and its shipments. One bulk read of the LGL orders created in
the window (all retailers at once) rebuilds ``order_links``. For each retailer order LGL
shipped, one read of the retailer order finds the fulfillment each shipment became: the same
tracking numbers and lines (the rule an ambiguous create is settled by), or the same lines when
LGL corrected the tracking afterwards (the next pushback then sends the correction). That
rebuilds ``fulfillment_links``.

Rows the ledger still has are kept as they are; nothing is written to either store. A shipment
no retailer fulfillment matches gets no row: the next pushback pushes it. Orders the old system
imported carry no source identifier: the pushback finds them by their tags, as before.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import ledger
from lgl_sync.control_plane.ledger import LinkStatus
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.sync.fulfillments.reads import retailer_order_state, shipment_lines, shipped_order
from lgl_sync.sync.fulfillments.rules import (
    RetailerFulfillment,
    Shipment,
    legacy_order_number,
    matching_fulfillment,
    units_by_sku,
)
from lgl_sync.sync.orders.reads import parse_datetime

logger = logging.getLogger(__name__)
REBUILT_TRACKING = "rebuilt:tracking-differs"  # a fingerprint no shipment has: resent next run


@dataclass
class LglOrder:
    """One imported LGL order as the bulk read gives it."""

    node: dict[str, Any]
    retailer_id: str
    source_order_id: str
    units: dict[str, int]

    @property
    def id(self) -> str:
        return self.node["id"]


@dataclass
class RetailerRebuild:
    """What the rebuild found and wrote for one retailer."""

    retailer: str
    orders: int = 0  # LGL orders imported from the retailer in the window
    orders_written: int = 0  # rows the ledger lacked, now written
    shipments: int = 0
    shipments_written: int = 0
    unmatched: list[str] = field(default_factory=list)  # no retailer fulfillment: pushed next run
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_lgl_orders(
    lgl: ShopifyClient, since: datetime, retailers: set[str]
) -> tuple[dict[str, list[LglOrder]], int]:
    """The LGL orders created since ``since`` that were imported from these retailers, by
    retailer, each with {sku: current units}; and how many carry no source identifier."""
    kept: dict[str, tuple[dict, tuple[str, str]]] = {}  # only these retailers' orders are kept
    units: dict[str, Counter] = {}  # lines may come before their order: kept for every order
    untraced = 0
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for obj in lgl.bulk_objects("LglImportedOrdersBulk", literals={"SINCE": stamp}):
        parent = obj.get("__parentId")
        if parent is None:
            imported = _imported_from(obj, retailers)
            if imported is not None:
                kept[obj["id"]] = (obj, imported)
            elif not obj.get("sourceIdentifier"):
                untraced += any(str(t).startswith("imported-from-") for t in obj.get("tags") or ())
        elif obj.get("sku"):
            units.setdefault(parent, Counter())[obj["sku"]] += int(obj.get("currentQuantity") or 0)
    found: dict[str, list[LglOrder]] = {r: [] for r in retailers}
    for node, (retailer_id, number) in kept.values():
        order_units = {k: v for k, v in units.get(node["id"], Counter()).items() if v > 0}
        found[retailer_id].append(
            LglOrder(node, retailer_id, f"gid://shopify/Order/{number}", order_units)
        )
    return found, untraced


def _imported_from(node: dict, retailers: set[str]) -> tuple[str, str] | None:
    """(retailer, source order number id) of an LGL order LGL Sync imported, else None."""
    retailer_id, _, number = (node.get("sourceIdentifier") or "").rpartition(":")
    tags = set(node.get("tags") or ())
    if retailer_id in retailers and number.isdigit() and f"imported-from-{retailer_id}" in tags:
        return retailer_id, number
    return None


def order_rows(orders: list[LglOrder]) -> list[dict[str, Any]]:
    """``order_links`` rows for imported LGL orders: created (the next import run re-tags the
    source order if it lacks the tag), or cancelled with the LGL order."""
    rows = []
    for order in orders:
        number = legacy_order_number(tuple(order.node.get("tags") or ()))
        cancelled = order.node.get("cancelledAt") is not None
        rows.append(
            {
                "retailer_id": order.retailer_id,
                "source_order_id": order.source_order_id,
                "source_order_name": f"#{number}" if number else None,
                "lgl_order_id": order.id,
                "status": LinkStatus.CANCELLED if cancelled else LinkStatus.CREATED,
                "units": None if cancelled else order.units,
                "created_at": parse_datetime(order.node["createdAt"]),
            }
        )
    return rows


def shipment_row(
    shipment: Shipment,
    lines: list[tuple[str, int]],
    fulfillments: tuple[RetailerFulfillment, ...],
    linked: set[str],
) -> dict[str, Any] | None:
    """The ``fulfillment_links`` row of one LGL shipment, from the retailer order's
    fulfillments; None when none of them is it (never pushed, or changed by hand)."""
    status, fingerprint = LinkStatus.CREATED, shipment.tracking.fingerprint()
    found = matching_fulfillment(fulfillments, shipment.tracking, lines, linked)
    if found is None and shipment.cancelled:
        # Voided at LGL and cancelled at the retailer: the void was pushed.
        found = _same(fulfillments, lines, linked, "CANCELLED", set(shipment.tracking.numbers))
        status = LinkStatus.VOIDED
    elif found is None:
        # LGL corrected the tracking after the push: the next pushback sends it.
        found, fingerprint = _same(fulfillments, lines, linked, "SUCCESS"), REBUILT_TRACKING
    if found is None:
        return None
    linked.add(found)
    return {
        "lgl_fulfillment_id": shipment.lgl_fulfillment_id,
        "retailer_id": None,  # set by the caller
        "lgl_order_id": shipment.lgl_order_id,
        "retailer_fulfillment_id": found,
        "tracking_fingerprint": fingerprint,
        "status": status,
        "units": units_by_sku(lines),
        "created_at": shipment.created_at or datetime.now(UTC),
    }


def _same(
    fulfillments: tuple[RetailerFulfillment, ...],
    lines: list[tuple[str, int]],
    linked: set[str],
    status: str,
    numbers: set[str] | None = None,
) -> str | None:
    wanted = units_by_sku(lines)
    for f in fulfillments:
        same_numbers = numbers is None or f.numbers == numbers
        free = f.id not in linked and f.status == status
        if free and same_numbers and units_by_sku(f.lines) == wanted:
            return f.id
    return None


class LedgerRebuild:
    """Rebuilds the ledger rows of the given retailers from both stores."""

    def __init__(
        self,
        *,
        engine: Engine,
        lgl: ShopifyClient,
        store_for: Callable[[Retailer], ShopifyClient],
        days: int,
        progress: Callable[[str, int, int], None] = lambda retailer, done, total: None,
    ) -> None:
        self.engine = engine
        self.lgl = lgl
        self.store_for = store_for
        self.since = datetime.now(UTC) - timedelta(days=days)
        self.progress = progress

    def run(self, retailers: list[Retailer]) -> tuple[list[RetailerRebuild], int]:
        """One report per retailer (one retailer's failure never stops another's) and the
        imported LGL orders no source identifier traces (the old system's)."""
        by_retailer, untraced = read_lgl_orders(self.lgl, self.since, {r.id for r in retailers})
        reports = []
        for retailer in retailers:
            report = RetailerRebuild(retailer.id)
            try:
                self._retailer(retailer, by_retailer[retailer.id], report)
            except ShopifyError as exc:
                logger.warning("ledger rebuild of %s stopped: %s", retailer.id, exc)
                report.error = f"{exc.category}: {str(exc)[:200]}"
            reports.append(report)
        return reports, untraced

    def _retailer(self, retailer: Retailer, orders: list[LglOrder], report: RetailerRebuild):
        report.orders = len(orders)
        report.orders_written, _ = ledger.restore_links(self.engine, order_rows(orders), [])
        known = ledger.fulfillment_links_of(self.engine, retailer.id)
        shipped = [
            (order, [s for s in shipped_order(order.node).shipments if s.lgl_fulfillment_id])
            for order in orders
            if order.node.get("fulfillments")
        ]
        report.shipments = sum(len(shipments) for _, shipments in shipped)
        waiting = [
            (order, [s for s in shipments if s.lgl_fulfillment_id not in known])
            for order, shipments in shipped
        ]
        waiting = [(order, shipments) for order, shipments in waiting if shipments]
        lines = shipment_lines(
            self.lgl, [s.lgl_fulfillment_id for _, shipments in waiting for s in shipments]
        )
        store = self.store_for(retailer)
        linked = {k.retailer_fulfillment_id for k in known.values() if k.retailer_fulfillment_id}
        rows: list[dict[str, Any]] = []
        for done, (order, shipments) in enumerate(waiting, 1):
            state = retailer_order_state(store, order.source_order_id)
            for shipment in shipments:
                row = state and shipment_row(
                    shipment, lines.get(shipment.lgl_fulfillment_id, []), state.fulfillments, linked
                )
                if row:
                    rows.append({**row, "retailer_id": retailer.id})
                elif not shipment.cancelled:
                    report.unmatched.append(shipment.lgl_fulfillment_id)
            self.progress(retailer.id, done, len(waiting))
        _, report.shipments_written = ledger.restore_links(self.engine, [], rows)
