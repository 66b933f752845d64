"""Importing retailer orders into the LGL store exactly once.

``orderCreate`` has no idempotency, so (DESIGN.md, FACTS.md §4.1): the ledger row is written
before the call; the LGL order carries ``sourceIdentifier``; after any ambiguous outcome the LGL
store is searched for that identifier before anything is created again; and a claim left
pending by a crashed run is only taken over once Shopify's search index has had time to show
an order that run may have created.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from lgl_sync.shopify.client import ShopifyClient, connection_nodes
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.store import ledger
from lgl_sync.store.retailers import Retailer
from lgl_sync.sync.orders import (
    IMPORTED_TAG,
    ORDER_OPTIONS,
    EligibleOrder,
    LglVariant,
    SourceOrder,
    build_order_input,
    ineligibility,
    lgl_variant,
    map_lines,
    search_query,
    sku_search,
    source_identifier,
    source_order,
)

logger = logging.getLogger(__name__)
ORDERS_PER_PAGE = 19  # EligibleOrders costs 2 + 50 per order: 952 of the 1,000-point cap
SKUS_PER_LOOKUP = 50


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one source order in this run."""

    source_order_id: str
    source_order_name: str
    status: str  # imported | already_imported | held | failed | in_progress | would_import
    reason: str | None = None
    detail: str | None = None
    lgl_order_id: str | None = None
    lines: int = 0


def read_candidates(client: ShopifyClient, location_id: str, since: datetime) -> list[SourceOrder]:
    """Every paid, uncancelled order since ``since``, with fulfillment orders read to the end."""
    orders = []
    for node in client.paginate(
        "EligibleOrders", {"query": search_query(since)}, path="orders", page_size=ORDERS_PER_PAGE
    ):
        orders.append(source_order(node, _all_fulfillment_orders(client, node), location_id))
    return orders


def _all_fulfillment_orders(client: ShopifyClient, node: dict[str, Any]) -> list[dict]:
    connection = node["fulfillmentOrders"]
    fulfillment_orders = list(connection_nodes(connection))
    if connection["pageInfo"]["hasNextPage"]:
        fulfillment_orders += client.paginate(
            "OrderFulfillmentOrders",
            {"id": node["id"], "after": connection["pageInfo"]["endCursor"]},
            path="order.fulfillmentOrders",
            page_size=10,
        )
    complete = []
    for fo in fulfillment_orders:
        lines = fo["lineItems"]
        items = list(connection_nodes(lines))
        if lines["pageInfo"]["hasNextPage"]:
            items += client.paginate(
                "FulfillmentOrderLineItems",
                {"id": fo["id"], "after": lines["pageInfo"]["endCursor"]},
                path="node.lineItems",
            )
        complete.append({**fo, "lineItems": items})
    return complete


def lookup_variants(client: ShopifyClient, skus: set[str]) -> dict[str, list[LglVariant]]:
    """LGL variants by exact SKU, one search per batch of SKUs (not one per line)."""
    found: dict[str, list[LglVariant]] = {sku: [] for sku in skus}
    ordered = sorted(skus)
    for start in range(0, len(ordered), SKUS_PER_LOOKUP):
        batch = ordered[start : start + SKUS_PER_LOOKUP]
        for node in client.paginate(
            "VariantsBySku", {"query": sku_search(batch)}, path="productVariants", page_size=100
        ):
            if node.get("sku") in found:  # exact, case-sensitive: search is looser
                found[node["sku"]].append(lgl_variant(node))
    return found


class OrderImporter:
    """Imports one retailer's orders; every write is recorded so none happens twice."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        source: ShopifyClient,
        lgl: ShopifyClient,
        engine: Engine,
        run_id: str | None,
        dry_run: bool = False,
        reconcile_after: timedelta = timedelta(minutes=2),
        today: date | None = None,
    ) -> None:
        self.retailer = retailer
        self.source = source
        self.lgl = lgl
        self.engine = engine
        self.run_id = run_id
        self.dry_run = dry_run
        self.reconcile_after = reconcile_after
        self.today = today or datetime.now(UTC).date()
        self._currency: str | None = None

    def eligible(
        self, candidates: list[SourceOrder], since: datetime
    ) -> tuple[list[SourceOrder], Counter]:
        """The candidates to import now, and why the others are not."""
        skipped: Counter = Counter()
        chosen = []
        for order in candidates:
            reason = ineligibility(order, since)
            if reason:
                skipped[reason] += 1
            else:
                chosen.append(order)
        return chosen, skipped

    def run(self, orders: list[SourceOrder]) -> list[ImportOutcome]:
        """Imports each order; one order's failure never stops the others."""
        skus = {line.sku for order in orders for line in order.lines if line.sku}
        variants = lookup_variants(self.lgl, skus)
        outcomes = []
        for order in orders:
            mapped, hold = map_lines(order, variants)
            if hold:
                outcomes.append(self._outcome(order, "held", hold.reason, hold.detail))
                continue
            if self.dry_run:
                outcomes.append(self._outcome(order, "would_import", lines=len(mapped)))
                continue
            try:
                outcomes.append(self._import(EligibleOrder(order, mapped)))
            except ShopifyError as exc:
                logger.warning("order %s failed: %s", order.name, exc)
                outcomes.append(self._outcome(order, "failed", exc.category, str(exc)[:300]))
        return outcomes

    # -- the protocol --------------------------------------------------------------------------

    def _import(self, eligible: EligibleOrder) -> ImportOutcome:
        order = eligible.order
        keys = {"retailer_id": self.retailer.id, "source_order_id": order.id}
        if ledger.claim_order(
            self.engine, **keys, source_order_name=order.name, run_id=self.run_id
        ):
            return self._create(eligible)
        link = ledger.order_link(self.engine, self.retailer.id, order.id)
        if link["status"] in ("created", "tagged"):
            self._tag(order)
            ledger.update_order_link(self.engine, self.retailer.id, order.id, status="tagged")
            return self._outcome(order, "already_imported", lgl_order_id=link["lgl_order_id"])
        age = datetime.now(UTC) - _aware(link["updated_at"])
        if link["status"] == "pending" and age < self.reconcile_after:
            return self._outcome(
                order,
                "in_progress",
                "claimed_by_another_run",
                f"claimed {age.total_seconds():.0f}s ago by run {link['run_id']}",
            )
        existing = self._find_existing(order)
        if existing:
            return self._recorded(order, existing, "already_imported")
        if not ledger.take_over_order(
            self.engine,
            **keys,
            from_run=link["run_id"],
            from_updated_at=link["updated_at"],
            to_run=self.run_id,
        ):
            return self._outcome(order, "in_progress", "claimed_by_another_run")
        return self._create(eligible)

    def _create(self, eligible: EligibleOrder) -> ImportOutcome:
        order = eligible.order
        payload = build_order_input(
            order, eligible.lines, self.retailer, self._lgl_currency(), self.today
        )
        try:
            data = self.lgl.mutate(
                "OrderCreate", {"order": payload, "options": ORDER_OPTIONS}, idempotent=False
            )
        except AmbiguousOutcomeError:
            existing = self._find_existing(order)
            if existing:
                return self._recorded(order, existing, "imported", len(eligible.lines))
            # Left pending: a later run searches again once the index has caught up.
            return self._outcome(
                order, "failed", "unconfirmed", "orderCreate outcome unknown; will be reconciled"
            )
        except ShopifyError:
            ledger.update_order_link(self.engine, self.retailer.id, order.id, status="failed")
            raise
        result = data["orderCreate"]
        if result["userErrors"]:
            ledger.update_order_link(self.engine, self.retailer.id, order.id, status="failed")
            detail = "; ".join(e["message"] for e in result["userErrors"])
            return self._outcome(order, "held", "user_error", detail[:300])
        return self._recorded(order, result["order"]["id"], "imported", len(eligible.lines))

    def _recorded(
        self, order: SourceOrder, lgl_order_id: str, status: str, lines: int = 0
    ) -> ImportOutcome:
        ledger.update_order_link(
            self.engine,
            self.retailer.id,
            order.id,
            status="created",
            lgl_order_id=lgl_order_id,
            run_id=self.run_id,
        )
        self._tag(order)
        ledger.update_order_link(self.engine, self.retailer.id, order.id, status="tagged")
        return self._outcome(order, status, lgl_order_id=lgl_order_id, lines=lines)

    def _tag(self, order: SourceOrder) -> None:
        # Adding a tag twice changes nothing, so this write is safe to retry.
        data = self.source.mutate(
            "TagsAdd", {"id": order.id, "tags": [IMPORTED_TAG]}, idempotent=True
        )
        errors = data["tagsAdd"]["userErrors"]
        if errors:
            raise ShopifyError(
                f"tagging {order.name}: {errors[0]['message']}",
                category="user_error",
                operation="tagsAdd",
            )

    def _find_existing(self, order: SourceOrder) -> str | None:
        identifier = source_identifier(self.retailer.id, order.id)
        query = f"source_identifier:'{identifier}'"
        for node in self.lgl.paginate(
            "LglOrdersBySource", {"query": query}, path="orders", page_size=5
        ):
            if node.get("sourceIdentifier") == identifier:
                return node["id"]
        return None

    def _lgl_currency(self) -> str:
        if self._currency is None:
            self._currency = self.lgl.query("Shop")["shop"]["currencyCode"]
        return self._currency

    def _outcome(
        self,
        order: SourceOrder,
        status: str,
        reason: str | None = None,
        detail: str | None = None,
        lgl_order_id: str | None = None,
        lines: int = 0,
    ) -> ImportOutcome:
        return ImportOutcome(
            order.id, order.name, status, reason, detail, lgl_order_id, lines or len(order.lines)
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
