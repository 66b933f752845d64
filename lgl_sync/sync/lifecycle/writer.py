"""Reconciling LGL orders with changes at the retailer, each once: cancellations, addresses,
edits, refunds and moves (the LGL lines), and holds.

Every write is safe to repeat: ``orderCancel`` on a cancelled order is refused, and a hold
carries LGL Sync's own handle, which Shopify allows once per fulfillment order. Each transition
is recorded in the import ledger with a compare-and-set, so a notice is raised once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import ledger
from lgl_sync.control_plane.ledger import LinkStatus, OrderLink
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.sync.lifecycle.edits import OrderEditor
from lgl_sync.sync.lifecycle.reads import lgl_order_states, orders_on_hold
from lgl_sync.sync.lifecycle.rules import (
    HOLD_HANDLE,
    Action,
    LglOrderState,
    SourceChange,
    decide,
    describe,
    lines_fingerprint,
    staff_note,
    wanted_units,
)
from lgl_sync.sync.orders.reads import read_source_orders_by_id
from lgl_sync.sync.orders.rules import SourceOrder, address_fingerprint, shipping_address_input

logger = logging.getLogger(__name__)


class ChangeStatus(StrEnum):
    EDITED = "edited"  # the LGL order's lines match the retailer's LGL lines again
    EDIT_FOR_PERSON = "edit_for_person"  # shipped units, an unknown SKU, a refusal: told once
    HELD_AT_RETAILER = "held_at_retailer"  # the retailer's hold mirrored at LGL
    RELEASED_AT_RETAILER = "released_at_retailer"  # and released with theirs
    ADDRESS_UPDATED = "address_updated"  # the LGL order ships to the new address
    ADDRESS_AFTER_SHIPMENT = "address_after_shipment"  # something shipped: a person told
    CANCELLED = "cancelled"  # the LGL order is cancelled (now or found so)
    CANCEL_REQUESTED = "cancel_requested"  # orderCancel's job has not shown done yet
    HELD_AFTER_SHIPMENT = "held_after_shipment"  # part shipped: the rest held, a person told
    SHIPPED_BEFORE_CANCEL = "shipped_before_cancel"  # all shipped: a person told
    FAILED = "failed"


@dataclass(frozen=True)
class ChangeOutcome:
    source_order_name: str
    lgl_order_id: str | None
    status: ChangeStatus
    detail: str | None = None
    # The LGL order had been open longer than the pick window when the retailer cancelled it:
    # it may be on a picker's list, so the warehouse is told at once.
    warehouse: bool = False
    lgl_order_name: str | None = None  # for people: "#1042" rather than its id


def _wanted(link: OrderLink, order: SourceOrder) -> dict[str, int]:
    """The units per SKU the LGL order should carry now."""
    return wanted_units(order.assigned, link.prefulfilled or {})


class ChangeReconciler:
    """Applies one retailer's changes to the LGL orders imported from them."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        source: ShopifyClient,
        lgl: ShopifyClient,
        engine: Engine,
        pick_window: timedelta,
    ) -> None:
        self.retailer_id = retailer.id
        self.location_id = retailer.target_location_id
        self.model = retailer.location_model
        self.source = source
        self.lgl = lgl
        self.engine = engine
        self.pick_window = pick_window
        self.editor = OrderEditor(
            retailer_id=retailer.id, lgl=lgl, location_id=retailer.lgl_location_id
        )

    def run(self, changes: list[SourceChange]) -> list[ChangeOutcome]:
        """Applies these changes, then confirms cancellations sent before (by id)."""
        links = ledger.order_links_of(self.engine, self.retailer_id, [c.id for c in changes])
        live = (LinkStatus.CREATED, LinkStatus.TAGGED, LinkStatus.CANCELLING)
        todo = [
            (c, links[c.id])
            for c in changes
            if c.id in links and links[c.id].lgl_order_id and links[c.id].status in live
        ]
        seen = {c.id for c, _ in todo}
        todo += [
            (
                SourceChange(
                    link.source_order_id, link.source_order_name or "", link.updated_at, None
                ),
                link,
            )
            for link in ledger.tracked_orders(
                self.engine, self.retailer_id, (LinkStatus.CANCELLING,)
            )
            if link.source_order_id not in seen and link.lgl_order_id
        ]
        live = [c.id for c, _ in todo if not (c.cancelled_at or c.fulfilled)]
        orders = {
            o.id: o
            for o in read_source_orders_by_id(self.source, self.location_id, live, self.model)
        }
        states = self._states(todo, orders)
        outcomes: list[ChangeOutcome] = []
        for change, link in todo:
            state = states.get(link.lgl_order_id)
            if state is None:
                continue  # deleted at LGL, or nothing there to change
            try:
                outcomes += self._apply(change, link, state, orders.get(change.id))
            except ShopifyError as exc:
                logger.warning("change of %s failed: %s", change.name, exc)
                outcomes.append(
                    ChangeOutcome(
                        change.name, link.lgl_order_id, ChangeStatus.FAILED, str(exc)[:300]
                    )
                )
        return outcomes

    def _states(
        self, todo: list[tuple[SourceChange, OrderLink]], orders: dict[str, SourceOrder]
    ) -> dict[str, LglOrderState]:
        """The LGL orders these changes may need to change, each read whole. An order whose
        retailer order changed in no way that matters to it (LGL Sync's own tag, a note) is
        only looked at for a hold first, at a fifth of the cost: a held one may be LGL Sync's
        mirror of a hold the retailer has since released."""
        whole = {link.lgl_order_id for c, link in todo if self._needs_state(c, link, orders)}
        # Only an order LGL Sync may have held (or does not know) can have a hold to release.
        maybe = {link.lgl_order_id for _, link in todo if link.lgl_hold is not False}
        rest = sorted(maybe - whole)
        held = orders_on_hold(self.lgl, rest)
        ledger.record_lgl_hold(self.engine, self.retailer_id, set(rest) - held, False)
        return lgl_order_states(self.lgl, sorted(whole | held))

    def _needs_state(
        self, change: SourceChange, link: OrderLink, orders: dict[str, SourceOrder]
    ) -> bool:
        """Could ``_apply`` change this LGL order other than by releasing a hold?"""
        if change.cancelled_at is not None or link.status == LinkStatus.CANCELLING:
            return True
        if self._moved(change, link):
            return True
        order = orders.get(change.id)
        if order is None:
            return False
        return order.held_at_retailer or lines_fingerprint(_wanted(link, order)) != link.lines_fp

    @staticmethod
    def _moved(change: SourceChange, link: OrderLink) -> bool:
        return link.address_fp is not None and (
            address_fingerprint(change.shipping_address) != link.address_fp
        )

    def _apply(
        self,
        change: SourceChange,
        link: OrderLink,
        state: LglOrderState,
        order: SourceOrder | None,
    ) -> list[ChangeOutcome]:
        if change.cancelled_at is not None or link.status == LinkStatus.CANCELLING:
            return [o for o in [self._reconcile(change, link, state)] if o]
        outcomes = [self._readdress(change, link, state)] if self._moved(change, link) else []
        if order is None or state.cancelled:
            return outcomes
        relined = self._relines(change, link, state, order)
        if relined is not None:
            outcomes.append(relined)
            if relined.status == ChangeStatus.EDITED and order.held_at_retailer:
                state = lgl_order_states(self.lgl, [state.id]).get(state.id) or state
        if order.held_at_retailer and state.open_fulfillment_orders:  # written ahead
            ledger.record_lgl_hold(self.engine, self.retailer_id, [state.id], True)
        held = self.editor.mirror_hold(state, order.held_at_retailer)
        ours = held == "held" or (held is None and bool(state.retailer_holds))
        ledger.record_lgl_hold(self.engine, self.retailer_id, [state.id], ours)
        if held:
            status = ChangeStatus.HELD_AT_RETAILER
            if held == "released":
                status = ChangeStatus.RELEASED_AT_RETAILER
            outcomes.append(ChangeOutcome(change.name, state.id, status))
        return outcomes

    def _relines(
        self, change: SourceChange, link: OrderLink, state: LglOrderState, order: SourceOrder
    ) -> ChangeOutcome | None:
        """The LGL order's lines matched to the retailer's LGL lines (edits, refunds, moves);
        nothing left for LGL and nothing shipped: the LGL order is cancelled instead."""
        wanted = _wanted(link, order)
        fingerprint = lines_fingerprint(wanted)
        if fingerprint == link.lines_fp:
            return None
        if not wanted and not state.shipped:
            return self._cancel(change, link, state, why="nothing left for LGL to ship")
        note = f"Edited at retailer {self.retailer_id} ({change.name}); applied by LGL Sync."
        result = self.editor.edit(state, wanted, note)
        if not result.applied and result.problem and not result.plan.shipped_over:
            return ChangeOutcome(change.name, state.id, ChangeStatus.FAILED, result.problem)
        ledger.record_lines(self.engine, link, fingerprint, wanted)
        over = ", ".join(f"{n} x {sku}" for sku, n in result.plan.shipped_over.items())
        if over or result.problem:
            detail = f"the retailer now wants fewer units than LGL shipped: {over}" if over else ""
            detail = "; ".join(d for d in (detail, result.problem) if d)
            return ChangeOutcome(change.name, state.id, ChangeStatus.EDIT_FOR_PERSON, detail)
        if not result.plan:
            return None  # already matching: nothing was changed
        return ChangeOutcome(change.name, state.id, ChangeStatus.EDITED, describe(result.plan))

    def _readdress(
        self, change: SourceChange, link: OrderLink, state: LglOrderState
    ) -> ChangeOutcome:
        fingerprint = address_fingerprint(change.shipping_address)
        if state.shipped or state.cancelled:
            ledger.record_address(self.engine, link, fingerprint)  # told once
            return ChangeOutcome(
                change.name,
                state.id,
                ChangeStatus.ADDRESS_AFTER_SHIPMENT,
                f"the retailer changed the shipping address after {state.name} shipped",
            )
        address = shipping_address_input(change.shipping_address)
        data = self.lgl.mutate(
            "OrderUpdateAddress",
            {"input": {"id": state.id, "shippingAddress": address}},
            idempotent=True,  # setting the same address twice changes nothing
        )
        errors = data["orderUpdate"]["userErrors"]
        if errors:
            return ChangeOutcome(change.name, state.id, ChangeStatus.FAILED, errors[0]["message"])
        ledger.record_address(self.engine, link, fingerprint)
        return ChangeOutcome(change.name, state.id, ChangeStatus.ADDRESS_UPDATED)

    def _reconcile(
        self, cancellation: SourceChange, link: OrderLink, state: LglOrderState
    ) -> ChangeOutcome | None:
        action = decide(state)
        name = cancellation.name
        if action == Action.NOTHING:
            ledger.mark_order_after_cancellation(self.engine, link, LinkStatus.CANCELLED)
            return ChangeOutcome(name, state.id, ChangeStatus.CANCELLED)
        if action == Action.CANCEL:
            return self._cancel(cancellation, link, state, why="cancelled at the retailer")
        for fulfillment_order in state.open_fulfillment_orders:
            self._hold(fulfillment_order, name)
        if not ledger.mark_order_after_cancellation(
            self.engine, link, LinkStatus.HELD_SHIPPED, reason=action.value
        ):
            return None  # another run told already
        if action == Action.HOLD_REST:
            return ChangeOutcome(
                name,
                state.id,
                ChangeStatus.HELD_AFTER_SHIPMENT,
                f"cancelled at the retailer after part of {state.name} shipped: the rest is on "
                "hold at LGL; decide whether to cancel it or ship it",
                warehouse=self._picking(state),
                lgl_order_name=state.name,
            )
        return ChangeOutcome(
            name,
            state.id,
            ChangeStatus.SHIPPED_BEFORE_CANCEL,
            f"cancelled at the retailer after {state.name} shipped in full",
        )

    def _picking(self, state: LglOrderState) -> bool:
        """Open at LGL longer than the pick window: it may be on a picker's list already."""
        return state.created_at is not None and (
            datetime.now(UTC) - state.created_at > self.pick_window
        )

    def _cancel(
        self, cancellation: SourceChange, link: OrderLink, state: LglOrderState, *, why: str
    ) -> ChangeOutcome:
        data = self.lgl.mutate(
            "OrderCancel",
            {"orderId": state.id, "staffNote": staff_note(self.retailer_id, cancellation.name)},
            idempotent=True,  # a second cancel of a cancelled order is refused, nothing more
        )
        errors = data["orderCancel"]["orderCancelUserErrors"]
        if errors:
            # Refused: already cancelled (a lost answer, a job that ran since the read) or
            # something shipped meanwhile; the next run reads the order again and decides.
            return ChangeOutcome(
                cancellation.name, state.id, ChangeStatus.FAILED, errors[0]["message"]
            )
        picking = self._picking(state) and link.status != LinkStatus.CANCELLING
        if link.status != LinkStatus.CANCELLING:
            ledger.mark_order_after_cancellation(self.engine, link, LinkStatus.CANCELLING)
        # Confirmed by re-reading cancelledAt (here, or by the next run): the job is async.
        again = lgl_order_states(self.lgl, [state.id]).get(state.id)
        if again is not None and again.cancelled:
            fresh = ledger.order_link(self.engine, self.retailer_id, cancellation.id)
            ledger.mark_order_after_cancellation(self.engine, fresh, LinkStatus.CANCELLED)
            return ChangeOutcome(
                cancellation.name, state.id, ChangeStatus.CANCELLED, why, picking, state.name
            )
        return ChangeOutcome(
            cancellation.name, state.id, ChangeStatus.CANCEL_REQUESTED, why, picking, state.name
        )

    def _hold(self, fulfillment_order_id: str, source_name: str) -> None:
        data = self.lgl.mutate(
            "FulfillmentOrderHold",
            {
                "id": fulfillment_order_id,
                "hold": {
                    "reason": "OTHER",
                    "reasonNotes": f"Cancelled at retailer {self.retailer_id} ({source_name})",
                    "handle": HOLD_HANDLE,
                    "notifyMerchant": True,
                },
            },
            idempotent=True,  # one hold per handle: a repeat is refused, nothing more
        )
        errors = [
            e
            for e in data["fulfillmentOrderHold"]["userErrors"]
            if e.get("code") != "DUPLICATE_FULFILLMENT_HOLD_HANDLE"
        ]
        if errors:
            raise ShopifyError(f"fulfillmentOrderHold: {errors[0]['message']}")
