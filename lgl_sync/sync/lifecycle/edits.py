"""Matching an LGL order's lines to the retailer's LGL lines after an edit, a refund or a move,
and its fulfillment orders to a hold the retailer placed.

Reconciled by state, never by replaying a recorded change: the retailer's units per SKU at the
LGL location (shipped or not) against the LGL order's units now. The difference is staged on one
calculated order (``orderEditBegin``, ``orderEditSetQuantity`` / ``orderEditAddVariant`` /
``orderEditAddLineItemDiscount``) and committed at once (``orderEditCommit``), so a run killed
before the commit changes nothing, and after it the next read shows nothing left to do. A lost
commit answer is settled by reading the order again. Units LGL already shipped cannot be taken
off; a person is told the difference once (the ledger keeps a digest of the lines acted on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lgl_sync.shopify.client import ShopifyClient
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.sync.lifecycle.reads import lgl_order_states
from lgl_sync.sync.lifecycle.rules import (
    RETAILER_HOLD_HANDLE,
    EditPlan,
    LglOrderState,
    edit_plan,
)
from lgl_sync.sync.orders.reads import lookup_variants

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditResult:
    applied: bool  # the LGL order matches the wanted lines now
    plan: EditPlan
    problem: str | None = None  # what a person must look at (an unknown SKU, a refusal)


class OrderEditor:
    """Edits LGL orders and mirrors the retailer's holds, for one retailer."""

    def __init__(self, *, retailer_id: str, lgl: ShopifyClient, location_id: str | None):
        self.retailer_id = retailer_id
        self.lgl = lgl
        self.location_id = location_id

    def edit(self, state: LglOrderState, wanted: dict[str, int], note: str) -> EditResult:
        """Stages the plan's difference on a calculated order and commits it."""
        plan = edit_plan(wanted, state)
        if not plan:
            return EditResult(True, plan)
        begun = self.lgl.mutate("OrderEditBegin", {"id": state.id}, idempotent=True)
        problem = _user_error(begun["orderEditBegin"])
        if problem:
            return EditResult(False, plan, problem)
        calculated = begun["orderEditBegin"]["calculatedOrder"]
        notes: dict[str, str] = {}  # sku -> why it could not be added
        problem = self._stage(calculated, plan, notes)
        if problem:
            return EditResult(False, plan, problem)
        told = "; ".join(notes.values()) or None
        if len(notes) == len(plan.add) and not plan.remove:
            return EditResult(True, plan, told)  # nothing could be staged: nothing to commit
        try:
            committed = self.lgl.mutate(
                "OrderEditCommit",
                {"id": calculated["id"], "notifyCustomer": False, "staffNote": note[:255]},
                idempotent=False,  # committed once; a lost answer is settled by a read
            )
        except AmbiguousOutcomeError:
            again = lgl_order_states(self.lgl, [state.id]).get(state.id)
            left = edit_plan(wanted, again) if again is not None else plan
            done = again is not None and set(left.add) <= set(notes)
            done = done and not left.remove
            return EditResult(done, plan, told if done else "the edit's answer was lost")
        problem = _user_error(committed["orderEditCommit"])
        return EditResult(problem is None, plan, problem or told)

    def _stage(self, calculated: dict[str, Any], plan: EditPlan, notes: dict[str, str]):
        """Stages removals, then additions; the first refusal ends the edit uncommitted."""
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for line in calculated["lineItems"]["nodes"]:
            if line.get("sku") and line.get("quantity"):
                by_sku.setdefault(line["sku"], []).append(line)
        if calculated["lineItems"]["pageInfo"]["hasNextPage"]:
            return "the LGL order has more lines than one edit reads (250)"
        for sku, units in plan.remove.items():
            for line in by_sku.get(sku, []):
                take = min(units, line.get("editableQuantity") or 0)
                if take:
                    problem = self._set_quantity(calculated["id"], line, line["quantity"] - take)
                    if problem:
                        return problem
                    units -= take
        return self._stage_additions(calculated["id"], plan, by_sku, notes)

    def _stage_additions(self, calculated_id, plan: EditPlan, by_sku, notes: dict[str, str]):
        """Stages the additions; a SKU LGL cannot match is left out and noted for a person
        (the rest still goes through). Returns Shopify's refusal, if any."""
        new = sorted(sku for sku in plan.add if sku not in by_sku)
        variants = lookup_variants(self.lgl, set(new)) if new else {}
        for sku, units in plan.add.items():
            if sku in by_sku:
                line = by_sku[sku][0]
                problem = self._set_quantity(calculated_id, line, line["quantity"] + units)
            elif len(variants.get(sku, [])) != 1:
                kind = "unknown" if not variants.get(sku) else "ambiguous"
                notes[sku] = f"{kind} SKU {sku} at LGL: {units} unit(s) not added"
                continue
            else:
                problem = self._add(calculated_id, variants[sku][0], units)
            if problem:
                return problem
        return None

    def _set_quantity(self, calculated_id: str, line: dict[str, Any], quantity: int):
        data = self.lgl.mutate(
            "OrderEditSetQuantity",
            {"id": calculated_id, "lineItemId": line["id"], "quantity": quantity, "restock": True},
            idempotent=True,  # an absolute quantity on a calculated order: repeating is harmless
        )
        return _user_error(data["orderEditSetQuantity"])

    def _add(self, calculated_id: str, variant, units: int) -> str | None:
        """Adds the variant at the retailer's unit cost: Shopify takes no price, so the
        variant's price is brought down to ``custom.retailer_cost`` by a line discount."""
        variables = {"id": calculated_id, "variantId": variant.id, "quantity": units}
        if self.location_id:
            variables["locationId"] = self.location_id
        # Staged only: a lost answer retried stages a duplicate, which Shopify refuses
        # (allowDuplicates false), and then nothing is committed.
        data = self.lgl.mutate("OrderEditAddVariant", variables, idempotent=True)
        problem = _user_error(data["orderEditAddVariant"])
        if problem:
            return problem
        line = data["orderEditAddVariant"]["calculatedLineItem"]
        price = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"])
        if price <= variant.unit_cost or price <= 0:
            return None
        percent = float(((price - variant.unit_cost) / price * 100).quantize(Decimal("0.0001")))
        data = self.lgl.mutate(
            "OrderEditAddLineItemDiscount",
            {
                "id": calculated_id,
                "lineItemId": line["id"],
                "discount": {"percentValue": percent, "description": "LGL retailer cost"},
            },
            idempotent=True,  # staged on the calculated order only
        )
        return _user_error(data["orderEditAddLineItemDiscount"])

    def mirror_hold(self, state: LglOrderState, held_at_retailer: bool) -> str | None:
        """Holds the LGL order's open fulfillment orders while the retailer holds theirs, and
        releases only LGL Sync's own hold once the retailer released. Returns what was done."""
        if held_at_retailer and state.open_fulfillment_orders:  # any not held yet (a new one)
            for fulfillment_order in state.open_fulfillment_orders:
                self._hold(fulfillment_order)
            return "held"
        if not held_at_retailer and state.retailer_holds:
            for fulfillment_order, hold in state.retailer_holds:
                data = self.lgl.mutate(
                    "FulfillmentOrderReleaseHold",
                    {"id": fulfillment_order, "holdIds": [hold]},
                    idempotent=True,  # releasing a released hold is refused, nothing more
                )
                errors = data["fulfillmentOrderReleaseHold"]["userErrors"]
                if errors:
                    logger.info("release of %s: %s", fulfillment_order, errors[0]["message"])
            return "released"
        return None

    def _hold(self, fulfillment_order_id: str) -> None:
        data = self.lgl.mutate(
            "FulfillmentOrderHold",
            {
                "id": fulfillment_order_id,
                "hold": {
                    "reason": "OTHER",
                    "reasonNotes": f"On hold at retailer {self.retailer_id}",
                    "handle": RETAILER_HOLD_HANDLE,
                    "notifyMerchant": False,
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


def _user_error(payload: dict[str, Any]) -> str | None:
    errors = payload.get("userErrors") or []
    return errors[0]["message"] if errors else None
