"""Pushing LGL shipments to retailers' stores exactly once, with every tracking number.

``fulfillmentCreate`` has no idempotency: the ledger row is claimed before the call; after an
ambiguous outcome the retailer order's fulfillments are read (no search index involved) and a
fulfillment with our tracking numbers and lines is adopted instead of creating a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import ledger
from lgl_sync.control_plane.ledger import FulfillmentLink, LinkStatus
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.carriers import shopify_carrier
from lgl_sync.shopify.client import ShopifyClient, raise_user_errors
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.shopify.models import lgl_share
from lgl_sync.sync.fulfillments.reads import (
    retailer_order_by_number,
    retailer_order_state,
    shipment_lines,
)
from lgl_sync.sync.fulfillments.rules import (
    PUSHED_TAG,
    Allocation,
    Shipment,
    ShippedOrder,
    allocate,
    legacy_order_number,
    matching_fulfillment,
    orders_fully_pushed,
    units_by_sku,
)

logger = logging.getLogger(__name__)


class PushStatus(StrEnum):
    """What happened to one LGL shipment in a run."""

    PUSHED = "pushed"
    ALREADY_PUSHED = "already_pushed"
    TRACKING_UPDATED = "tracking_updated"
    SKIPPED = "skipped"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    VOIDED = "voided"  # LGL voided a pushed shipment: the retailer fulfillment is cancelled too
    REPORTED_BEFORE = "reported_before"  # skipped or voided in an earlier run, and reported then


@dataclass(frozen=True)
class PushOutcome:
    lgl_fulfillment_id: str
    lgl_order_name: str
    status: PushStatus
    reason: str | None = None
    detail: str | None = None
    retailer_fulfillment_id: str | None = None


TAKEN_OVER = "another run took the claim over while this one waited; that run writes it"
NOT_ATTEMPTED = "not attempted: an earlier call in this run was refused (auth)"


def _outcome(
    shipment: Shipment,
    status: PushStatus,
    reason: str | None = None,
    detail: str | None = None,
    retailer_fulfillment_id: str | None = None,
) -> PushOutcome:
    return PushOutcome(
        shipment.lgl_fulfillment_id,
        shipment.lgl_order_name,
        status,
        reason,
        detail,
        retailer_fulfillment_id,
    )


def _tracking_input(shipment: Shipment) -> dict:
    """The shipment's tracking, its carrier spelt as Shopify lists it so that the customer
    gets a link (LGL's own name when Shopify does not list it)."""
    company = shopify_carrier(shipment.tracking.company, settings.carrier_aliases())
    return shipment.tracking.as_input(company)


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

    def run(self, orders: list[ShippedOrder]) -> list[PushOutcome]:
        """Pushes every shipment of these orders; one shipment's failure never stops another,
        except a refused token, after which nothing more is attempted for this retailer."""
        links = ledger.fulfillment_links_of(self.engine, self.retailer.id)
        # Retailer fulfillments already ours: read once per run, kept current as we push.
        self._linked = {
            r.retailer_fulfillment_id for r in links.values() if r.retailer_fulfillment_id
        }
        # Voids first: a reship in the same run then finds the quantities the void gave back.
        shipments = sorted(
            (s for order in orders for s in order.shipments), key=lambda s: not s.cancelled
        )
        new = [
            s.lgl_fulfillment_id
            for s in shipments
            if not s.cancelled
            and not (s.lgl_fulfillment_id in links and links[s.lgl_fulfillment_id].settled)
        ]
        lines = shipment_lines(self.lgl, new) if new else {}
        outcomes: list[PushOutcome] = []
        for s in shipments:
            if outcomes and outcomes[-1].reason == "auth":
                # A refused token will refuse the next call too: stop for this retailer.
                outcomes.append(_outcome(s, PushStatus.FAILED, "auth", NOT_ATTEMPTED))
                continue
            link = links.get(s.lgl_fulfillment_id)
            outcomes.append(self._push_safely(s, link, lines.get(s.lgl_fulfillment_id, [])))
        statuses = {o.lgl_fulfillment_id: o.status for o in outcomes}
        for order_id in orders_fully_pushed(orders, statuses):
            data = self.lgl.mutate(
                "TagsAdd", {"id": order_id, "tags": [PUSHED_TAG]}, idempotent=True
            )
            raise_user_errors(data, "tagsAdd")
        return outcomes

    def _push_safely(
        self, shipment: Shipment, link: FulfillmentLink | None, lines: list
    ) -> PushOutcome:
        try:
            return self._known(shipment, link) or self._push(shipment, link, lines)
        except ShopifyError as exc:
            logger.warning("shipment %s failed: %s", shipment.lgl_fulfillment_id, exc)
            return _outcome(shipment, PushStatus.FAILED, exc.category, str(exc)[:300])

    def _known(self, shipment: Shipment, link: FulfillmentLink | None) -> PushOutcome | None:
        """The outcome of a shipment the ledger has settled (pushed or reported), else None."""
        if link is None or not link.settled:
            return None
        if link.status in (LinkStatus.SKIPPED, LinkStatus.VOIDED):
            # Told once, in the run that decided it; not again every run.
            return _outcome(shipment, PushStatus.REPORTED_BEFORE, link.reason)
        if shipment.cancelled:
            return self._void(shipment, link)
        if link.tracking_fingerprint != shipment.tracking.fingerprint():
            self._update_tracking(shipment, link.retailer_fulfillment_id)
            return _outcome(
                shipment,
                PushStatus.TRACKING_UPDATED,
                retailer_fulfillment_id=link.retailer_fulfillment_id,
            )
        return _outcome(
            shipment,
            PushStatus.ALREADY_PUSHED,
            retailer_fulfillment_id=link.retailer_fulfillment_id,
        )

    def _push(self, shipment: Shipment, link: FulfillmentLink | None, lines: list) -> PushOutcome:
        if shipment.cancelled:  # voided before it was ever pushed: nothing to do, said once
            if link is None:
                ledger.claim_fulfillment(
                    self.engine,
                    lgl_fulfillment_id=shipment.lgl_fulfillment_id,
                    retailer_id=self.retailer.id,
                    lgl_order_id=shipment.lgl_order_id,
                    run_id=self.run_id,
                )
            return self._skip(shipment, "lgl_fulfillment_cancelled", None)
        source_id = self._source_order(shipment)
        if source_id is None:
            return _outcome(
                shipment,
                PushStatus.FAILED,
                "source_order_not_found",
                "no ledger row, source identifier or order-number tag matches",
            )
        claimed = self._claim(shipment, link)
        if isinstance(claimed, PushOutcome):
            return claimed
        return self._deliver(shipment, source_id, lines, adopt=claimed)

    def _claim(self, shipment: Shipment, link: FulfillmentLink | None) -> PushOutcome | bool:
        """Makes this run the one that writes the shipment. True: an earlier claim was taken
        over (a fulfillment it made may exist and is adopted); False: a fresh claim; an
        outcome: another run has it, or finished it meanwhile."""
        if link is None:
            if ledger.claim_fulfillment(
                self.engine,
                lgl_fulfillment_id=shipment.lgl_fulfillment_id,
                retailer_id=self.retailer.id,
                lgl_order_id=shipment.lgl_order_id,
                run_id=self.run_id,
            ):
                return False
            link = ledger.fulfillment_link(self.engine, shipment.lgl_fulfillment_id)
            if link.settled:  # another run finished it meanwhile
                return _outcome(
                    shipment,
                    PushStatus.ALREADY_PUSHED,
                    retailer_fulfillment_id=link.retailer_fulfillment_id,
                )
        fresh = link.age(datetime.now(UTC)) < self.reconcile_after.total_seconds()
        if link.status == LinkStatus.PENDING and fresh:
            return _outcome(shipment, PushStatus.IN_PROGRESS, "claimed_by_another_run")
        if not ledger.take_over_fulfillment(self.engine, link, to_run=self.run_id):
            return _outcome(shipment, PushStatus.IN_PROGRESS, "claimed_by_another_run")
        return True

    def _deliver(
        self, shipment: Shipment, source_id: str, lines: list, *, adopt: bool
    ) -> PushOutcome:
        """Reads the retailer order, then adopts our earlier fulfillment, skips, or creates."""
        state = retailer_order_state(self.store, source_id)
        if state is None:
            # Not terminal: a token without read_all_orders cannot see orders older than 60
            # days (FACTS.md §9), and a person must hear of it; retried every run until then.
            ledger.mark_fulfillment_failed(self.engine, shipment.lgl_fulfillment_id)
            return _outcome(
                shipment,
                PushStatus.FAILED,
                "retailer_order_not_found",
                f"{source_id} cannot be read: deleted, or older than 60 days and the token "
                "lacks read_all_orders",
            )
        adopted = matching_fulfillment(state.fulfillments, shipment.tracking, lines, self._linked)
        if adopt and adopted:
            return self._created(shipment, adopted, PushStatus.ALREADY_PUSHED, lines)
        if state.cancelled:
            return self._skip(shipment, "retailer_order_cancelled", state.name)
        location = self.retailer.target_location_id
        ours = lgl_share(list(state.fulfillment_orders), location, self.retailer.location_model)
        allocation = allocate(lines, ours, location)
        if allocation.problem:
            return self._skip(shipment, allocation.problem, allocation.detail)
        return self._create(shipment, source_id, allocation, lines)

    def _create(
        self, shipment: Shipment, source_id: str, allocation: Allocation, lines: list
    ) -> PushOutcome:
        fulfillment = {
            "lineItemsByFulfillmentOrder": allocation.as_input(),
            "trackingInfo": _tracking_input(shipment),
            "notifyCustomer": True,
        }
        try:
            data = self.store.mutate(
                "FulfillmentCreate",
                {"fulfillment": fulfillment},
                idempotent=False,
                before_attempt=lambda: ledger.renew_fulfillment_claim(
                    self.engine, shipment.lgl_fulfillment_id, self.run_id
                ),
            )
        except ledger.ClaimLostError:
            return _outcome(shipment, PushStatus.IN_PROGRESS, "claim_taken_over", TAKEN_OVER)
        except AmbiguousOutcomeError:
            state = retailer_order_state(self.store, source_id)
            found = state.fulfillments if state else ()
            adopted = matching_fulfillment(found, shipment.tracking, lines, self._linked)
            if adopted:
                return self._created(shipment, adopted, PushStatus.PUSHED, lines)
            ledger.mark_fulfillment_failed(self.engine, shipment.lgl_fulfillment_id)
            return _outcome(
                shipment, PushStatus.FAILED, "unconfirmed", "nothing was created; retried next run"
            )
        result = data["fulfillmentCreate"]
        if result["userErrors"]:
            ledger.mark_fulfillment_failed(self.engine, shipment.lgl_fulfillment_id)
            return _outcome(
                shipment, PushStatus.FAILED, "user_error", result["userErrors"][0]["message"]
            )
        return self._created(shipment, result["fulfillment"]["id"], PushStatus.PUSHED, lines)

    def _created(
        self,
        shipment: Shipment,
        retailer_fulfillment_id: str,
        status: PushStatus,
        lines: list[tuple[str, int]],
    ) -> PushOutcome:
        ledger.mark_fulfillment_created(
            self.engine,
            shipment.lgl_fulfillment_id,
            retailer_fulfillment_id=retailer_fulfillment_id,
            tracking_fingerprint=shipment.tracking.fingerprint(),
            run_id=self.run_id,
            units=units_by_sku(lines),
        )
        self._linked.add(retailer_fulfillment_id)
        return _outcome(shipment, status, retailer_fulfillment_id=retailer_fulfillment_id)

    def _skip(self, shipment: Shipment, reason: str, detail: str | None) -> PushOutcome:
        # Terminal: reported once, not retried every run.
        ledger.mark_fulfillment_skipped(self.engine, shipment.lgl_fulfillment_id, reason=reason)
        return _outcome(shipment, PushStatus.SKIPPED, reason, detail)

    def _void(self, shipment: Shipment, link: FulfillmentLink) -> PushOutcome:
        """LGL voided a shipment that was pushed: cancel the retailer's fulfillment once, so the
        reship that follows is pushed as a new fulfillment with the new tracking."""
        data = self.store.mutate(
            "FulfillmentCancel", {"id": link.retailer_fulfillment_id}, idempotent=True
        )
        errors = data["fulfillmentCancel"]["userErrors"]
        already = errors and "already" in errors[0]["message"].lower()
        if errors and not already:
            # Told once; a person must sort it out at the retailer.
            detail = f"{link.retailer_fulfillment_id}: {errors[0]['message']}"
            ledger.mark_fulfillment_skipped(
                self.engine,
                shipment.lgl_fulfillment_id,
                reason="retailer_fulfillment_not_cancelled",
            )
            return _outcome(
                shipment, PushStatus.SKIPPED, "retailer_fulfillment_not_cancelled", detail
            )
        ledger.mark_fulfillment_voided(self.engine, shipment.lgl_fulfillment_id)
        self._linked.discard(link.retailer_fulfillment_id)
        return _outcome(
            shipment,
            PushStatus.VOIDED,
            "lgl_fulfillment_voided",
            f"cancelled {link.retailer_fulfillment_id} at the retailer",
            link.retailer_fulfillment_id,
        )

    def _update_tracking(self, shipment: Shipment, retailer_fulfillment_id: str) -> None:
        # Setting the same tracking twice changes nothing, so this write may be retried.
        data = self.store.mutate(
            "FulfillmentTrackingUpdate",
            {
                "fulfillmentId": retailer_fulfillment_id,
                "trackingInfoInput": _tracking_input(shipment),
            },
            idempotent=True,
        )
        raise_user_errors(data, "fulfillmentTrackingInfoUpdate")
        ledger.record_tracking(
            self.engine, shipment.lgl_fulfillment_id, shipment.tracking.fingerprint()
        )

    def _source_order(self, shipment: Shipment) -> str | None:
        found = ledger.lgl_order_for(self.engine, self.retailer.id, shipment.lgl_order_id)
        if found:
            return found
        prefix = f"{self.retailer.id}:"
        if shipment.source_identifier and shipment.source_identifier.startswith(prefix):
            return "gid://shopify/Order/" + shipment.source_identifier[len(prefix) :]
        number = legacy_order_number(shipment.tags)  # orders imported by the old system
        return retailer_order_by_number(self.store, number) if number else None
