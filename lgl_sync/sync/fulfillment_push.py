"""Pushing LGL shipments to retailers' stores exactly once, with every tracking number.

``fulfillmentCreate`` has no idempotency: the ledger row is claimed before the call; after an
ambiguous outcome the retailer order's fulfillments are read (no search index involved) and a
fulfillment with our tracking numbers and lines is adopted instead of creating a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from lgl_sync.shopify.client import ShopifyClient, connection_nodes
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.store import ledger
from lgl_sync.store.retailers import Retailer
from lgl_sync.sync.fulfillments import (
    PUSHED_TAG,
    Shipment,
    allocate,
    legacy_order_number,
    matching_fulfillment,
    shipments_of,
)

logger = logging.getLogger(__name__)
ORDERS_PER_PAGE = 16  # LglShippedOrders costs 2 + 61 per order
LINES_PER_LOOKUP = 9  # FulfillmentLines costs 103 per fulfillment
TERMINAL = {"created", "skipped"}


@dataclass(frozen=True)
class PushOutcome:
    lgl_fulfillment_id: str
    lgl_order_name: str
    status: str  # pushed | already_pushed | tracking_updated | skipped | failed | in_progress
    reason: str | None = None
    detail: str | None = None
    retailer_fulfillment_id: str | None = None


def read_shipped_orders(lgl: ShopifyClient, retailer_id: str, since: datetime) -> list[dict]:
    """LGL orders imported from the retailer that changed since ``since`` and have shipments."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"tag:'imported-from-{retailer_id}' updated_at:>='{stamp}' "
        "(fulfillment_status:shipped OR fulfillment_status:partial)"
    )
    return list(
        lgl.paginate("LglShippedOrders", {"query": query}, path="orders", page_size=ORDERS_PER_PAGE)
    )


def shipment_lines(lgl: ShopifyClient, fulfillment_ids: list[str]) -> dict[str, list]:
    """(sku, quantity) per LGL fulfillment, several fulfillments per request."""
    found: dict[str, list[tuple[str, int]]] = {}
    for start in range(0, len(fulfillment_ids), LINES_PER_LOOKUP):
        batch = fulfillment_ids[start : start + LINES_PER_LOOKUP]
        for node in lgl.query("FulfillmentLines", {"ids": batch})["nodes"]:
            if node:
                found[node["id"]] = [
                    (i["lineItem"]["sku"], i["quantity"])
                    for i in node["fulfillmentLineItems"]["nodes"]
                ]
    return found


class FulfillmentPusher:
    """Pushes one retailer's LGL shipments; each is recorded so none is pushed twice."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        retailer_store: ShopifyClient,
        lgl: ShopifyClient,
        engine: Engine,
        run_id: str | None,
        reconcile_after: timedelta = timedelta(minutes=2),
    ) -> None:
        self.retailer = retailer
        self.store = retailer_store
        self.lgl = lgl
        self.engine = engine
        self.run_id = run_id
        self.reconcile_after = reconcile_after
        self._linked: set[str] = set()

    def run(self, orders: list[dict]) -> list[PushOutcome]:
        links = ledger.fulfillment_links_of(self.engine, self.retailer.id)
        # Retailer fulfillments already ours: read once per run, kept current as we push.
        self._linked = {
            r["retailer_fulfillment_id"] for r in links.values() if r["retailer_fulfillment_id"]
        }
        shipments = [s for order in orders for s in shipments_of(order)]
        new = [
            s.lgl_fulfillment_id
            for s in shipments
            if s.status != "CANCELLED"
            and links.get(s.lgl_fulfillment_id, {}).get("status") not in TERMINAL
        ]
        lines = shipment_lines(self.lgl, new) if new else {}
        outcomes = []
        for shipment in shipments:
            try:
                outcomes.append(
                    self._push(
                        shipment,
                        links.get(shipment.lgl_fulfillment_id),
                        lines.get(shipment.lgl_fulfillment_id, []),
                    )
                )
            except ShopifyError as exc:
                logger.warning("shipment %s failed: %s", shipment.lgl_fulfillment_id, exc)
                outcomes.append(
                    PushOutcome(
                        shipment.lgl_fulfillment_id,
                        shipment.lgl_order_name,
                        "failed",
                        exc.category,
                        str(exc)[:300],
                    )
                )
        self._tag_complete(orders, outcomes)
        return outcomes

    def _push(self, shipment: Shipment, link: dict | None, lines: list) -> PushOutcome:
        def outcome(
            status: str,
            reason: str | None = None,
            detail: str | None = None,
            retailer_id: str | None = None,
        ) -> PushOutcome:
            return PushOutcome(
                shipment.lgl_fulfillment_id,
                shipment.lgl_order_name,
                status,
                reason,
                detail,
                retailer_id,
            )

        if link and link["status"] == "created":
            if shipment.status == "CANCELLED":
                return outcome(
                    "skipped",
                    "lgl_fulfillment_cancelled_after_push",
                    "the retailer fulfillment stays; a person must cancel it",
                )
            if link["tracking_fingerprint"] != shipment.tracking.fingerprint():
                self._update_tracking(shipment, link["retailer_fulfillment_id"])
                return outcome("tracking_updated", retailer_id=link["retailer_fulfillment_id"])
            return outcome("already_pushed", retailer_id=link["retailer_fulfillment_id"])
        if link and link["status"] == "skipped":
            return outcome(
                "skipped", link.get("run_id") and "reported_before", "reported in an earlier run"
            )
        if shipment.status == "CANCELLED":
            return outcome("skipped", "lgl_fulfillment_cancelled")
        source_id = self._source_order(shipment)
        if source_id is None:
            return outcome(
                "failed",
                "source_order_not_found",
                "no ledger row, source identifier or order-number tag matches",
            )
        if link is None and not ledger.claim_fulfillment(
            self.engine,
            lgl_fulfillment_id=shipment.lgl_fulfillment_id,
            retailer_id=self.retailer.id,
            lgl_order_id=shipment.lgl_order_id,
            run_id=self.run_id,
        ):
            link = ledger.fulfillment_link(self.engine, shipment.lgl_fulfillment_id)
            if link["status"] in TERMINAL:  # another run finished it meanwhile
                return outcome("already_pushed", retailer_id=link["retailer_fulfillment_id"])
        if link is not None:
            age = datetime.now(UTC) - _aware(link["updated_at"])
            if link["status"] == "pending" and age < self.reconcile_after:
                return outcome("in_progress", "claimed_by_another_run")
            if not ledger.take_over_fulfillment(
                self.engine,
                lgl_fulfillment_id=shipment.lgl_fulfillment_id,
                from_run=link["run_id"],
                from_updated_at=link["updated_at"],
                to_run=self.run_id,
            ):
                return outcome("in_progress", "claimed_by_another_run")
        state = self.store.query("RetailerOrderFulfillmentState", {"id": source_id})["order"]
        if state is None:
            return self._skip(shipment, "retailer_order_not_found", source_id)
        linked = self._linked
        adopted = matching_fulfillment(state["fulfillments"], shipment.tracking, lines, linked)
        if link is not None and adopted:
            return self._created(shipment, adopted, "already_pushed")
        if state["cancelledAt"]:
            return self._skip(shipment, "retailer_order_cancelled", state["name"])
        allocation = allocate(lines, _fulfillment_orders(state), self.retailer.target_location_id)
        if allocation.problem:
            return self._skip(shipment, allocation.problem, allocation.detail)
        return self._create(shipment, source_id, allocation, lines, linked)

    def _create(self, shipment: Shipment, source_id: str, allocation, lines, linked) -> PushOutcome:
        fulfillment = {
            "lineItemsByFulfillmentOrder": allocation.as_input(),
            "trackingInfo": shipment.tracking.as_input(),
            "notifyCustomer": True,
        }
        try:
            data = self.store.mutate(
                "FulfillmentCreate", {"fulfillment": fulfillment}, idempotent=False
            )
        except AmbiguousOutcomeError:
            state = self.store.query("RetailerOrderFulfillmentState", {"id": source_id})["order"]
            adopted = matching_fulfillment(state["fulfillments"], shipment.tracking, lines, linked)
            if adopted:
                return self._created(shipment, adopted, "pushed")
            ledger.update_fulfillment_link(
                self.engine, shipment.lgl_fulfillment_id, status="failed"
            )
            return PushOutcome(
                shipment.lgl_fulfillment_id,
                shipment.lgl_order_name,
                "failed",
                "unconfirmed",
                "nothing was created; retried next run",
            )
        result = data["fulfillmentCreate"]
        if result["userErrors"]:
            ledger.update_fulfillment_link(
                self.engine, shipment.lgl_fulfillment_id, status="failed"
            )
            return PushOutcome(
                shipment.lgl_fulfillment_id,
                shipment.lgl_order_name,
                "failed",
                "user_error",
                result["userErrors"][0]["message"],
            )
        return self._created(shipment, result["fulfillment"]["id"], "pushed")

    def _created(
        self, shipment: Shipment, retailer_fulfillment_id: str, status: str
    ) -> PushOutcome:
        ledger.update_fulfillment_link(
            self.engine,
            shipment.lgl_fulfillment_id,
            status="created",
            retailer_fulfillment_id=retailer_fulfillment_id,
            tracking_fingerprint=shipment.tracking.fingerprint(),
            run_id=self.run_id,
        )
        self._linked.add(retailer_fulfillment_id)
        return PushOutcome(
            shipment.lgl_fulfillment_id,
            shipment.lgl_order_name,
            status,
            retailer_fulfillment_id=retailer_fulfillment_id,
        )

    def _skip(self, shipment: Shipment, reason: str, detail: str | None) -> PushOutcome:
        # Terminal: reported once, not retried every run.
        ledger.update_fulfillment_link(
            self.engine, shipment.lgl_fulfillment_id, status="skipped", tracking_fingerprint=reason
        )
        return PushOutcome(
            shipment.lgl_fulfillment_id, shipment.lgl_order_name, "skipped", reason, detail
        )

    def _update_tracking(self, shipment: Shipment, retailer_fulfillment_id: str) -> None:
        # Setting the same tracking twice changes nothing, so this write may be retried.
        data = self.store.mutate(
            "FulfillmentTrackingUpdate",
            {
                "fulfillmentId": retailer_fulfillment_id,
                "trackingInfoInput": shipment.tracking.as_input(),
            },
            idempotent=True,
        )
        errors = data["fulfillmentTrackingInfoUpdate"]["userErrors"]
        if errors:
            raise ShopifyError(
                errors[0]["message"],
                category="user_error",
                operation="fulfillmentTrackingInfoUpdate",
            )
        ledger.update_fulfillment_link(
            self.engine,
            shipment.lgl_fulfillment_id,
            tracking_fingerprint=shipment.tracking.fingerprint(),
        )

    def _source_order(self, shipment: Shipment) -> str | None:
        found = ledger.lgl_order_for(self.engine, self.retailer.id, shipment.lgl_order_id)
        if found:
            return found
        prefix = f"{self.retailer.id}:"
        if shipment.source_identifier and shipment.source_identifier.startswith(prefix):
            return "gid://shopify/Order/" + shipment.source_identifier[len(prefix) :]
        number = legacy_order_number(shipment.tags)  # orders imported by the old system
        if number is None:
            return None
        nodes = self.store.query("RetailerOrderByName", {"query": f"name:{number}"})
        return next(
            (n["id"] for n in nodes["orders"]["nodes"] if n["name"].lstrip("#") == number), None
        )

    def _tag_complete(self, orders: list[dict], outcomes: list[PushOutcome]) -> None:
        done = {"pushed", "already_pushed", "tracking_updated"}
        names = {o.lgl_fulfillment_id: o.status for o in outcomes}
        for order in orders:
            if order.get("displayFulfillmentStatus") != "FULFILLED" or PUSHED_TAG in (
                order.get("tags") or ()
            ):
                continue
            live = [f["id"] for f in order["fulfillments"] if f["status"] != "CANCELLED"]
            if live and all(names.get(f) in done for f in live):
                self.lgl.mutate(
                    "TagsAdd", {"id": order["id"], "tags": [PUSHED_TAG]}, idempotent=True
                )


def _fulfillment_orders(state: dict) -> list[dict]:
    return [
        {**fo, "lineItems": connection_nodes(fo["lineItems"])}
        for fo in connection_nodes(state["fulfillmentOrders"])
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
