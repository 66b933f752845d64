"""Writing a retailer's inventory: compare-and-set batches with idempotency keys.

Every quantity carries ``changeFromQuantity`` (what we read), every call an ``@idempotent``
key derived from retailer, run and batch (FACTS.md §3): a retried call is applied once, and a
sale made between our read and our write is never overwritten with a stale number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import discontinued, ledger, records, stock_scope, unimported
from lgl_sync.control_plane.allowances import use_zero_allowance
from lgl_sync.control_plane.ledger import WriteStatus
from lgl_sync.flows import Flow
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient, idempotency_key
from lgl_sync.shopify.errors import UserErrorsError
from lgl_sync.sync.inventory.reads import (
    current_quantities,
    read_items_by_id,
    read_location_inventory,
)
from lgl_sync.sync.inventory.rules import (
    discontinued_at_lgl,
    overlay,
    pending_units,
    retarget,
    targets,
    unseen_sales,
    write_plan,
    zero_plan,
    zeroed_skus,
)

logger = logging.getLogger(__name__)
BATCH = 250  # Shopify's input-array cap (FACTS.md §1.5)
MAX_CONFLICT_ROUNDS = 3
# Re-read, then send under a new key: a stale changeFromQuantity, or an earlier attempt with the
# key that Shopify says failed (FACTS.md §9).
REREAD_AND_RETRY = ("CHANGE_FROM_QUANTITY_STALE", "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")
BUSY_WAITS = (1.0, 2.0, 4.0, 8.0)  # seconds before sending a busy key again


@dataclass
class InventorySyncResult:
    compared: int = 0
    changed: int = 0
    written: int = 0
    conflicts_retried: int = 0
    batches: int = 0
    report: dict[str, list[str]] = field(default_factory=dict)
    plan: pd.DataFrame = field(default_factory=pd.DataFrame)
    zeroed: int = 0  # SKUs this run sets from above 0 to 0
    zero_allowed: bool = False  # a person's allow-zero was used
    unseen_units: int = 0  # committed at the retailer, in no read yet: kept off its target
    levels: dict[str, int] = field(default_factory=dict)  # LGL's available of its SKUs
    items: dict[str, str] = field(default_factory=dict)  # the retailer's item per SKU
    whole: int = 0  # SKUs the retailer carries, when this run compared only some of them
    # SKUs LGL no longer sells that this retailer carries: archived, or gone from LGL's
    # location (deleted or no longer stocked there); and those no sync had found before.
    discontinued: dict[str, str] = field(default_factory=dict)
    new_discontinued: dict[str, str] = field(default_factory=dict)


class ZeroGuardError(Exception):
    """A plan the mass-zero guard refused; nothing was written."""


class InventorySyncer:
    """Syncs one retailer's quantities at its LGL location from an LGL snapshot."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        client: ShopifyClient,
        engine: Engine,
        run_id: str | None,
        dry_run: bool = False,
    ) -> None:
        self.retailer = retailer
        self.client = client
        self.engine = engine
        self.run_id = run_id
        self.dry_run = dry_run

    def plan(self, lgl: pd.DataFrame, pending: pd.DataFrame) -> InventorySyncResult:
        """Every SKU at the retailer's location against LGL's snapshot, with what scoped runs
        read of LGL since the snapshot began taken instead of it (never written back)."""
        inventory = read_location_inventory(
            self.client,
            location_id=self.retailer.target_location_id,
            expected_items=stock_scope.carried(self.engine, self.retailer.id) or None,
        )
        read_at = lgl.attrs.get("read_at")
        if read_at is not None:
            lgl = overlay(lgl, stock_scope.fresher_than(self.engine, read_at))
        result = self._plan(inventory, discontinued_at_lgl(lgl), pending)
        self._gone(result, inventory, lgl)
        return result

    def _gone(self, result: InventorySyncResult, inventory: pd.DataFrame, lgl) -> None:
        """SKUs LGL carried for this retailer before (its recorded levels) that LGL's snapshot
        no longer has: deleted at LGL, or no longer stocked at its location. Taken to 0. Never
        a SKU whose quantity LGL did not give (unknown is not gone)."""
        before = set(records.levels(self.engine, self.retailer.id)["sku"])
        unknown = set(lgl.attrs.get("unreadable", ()))
        gone = (set(result.report.get("only_retailer", [])) & before) - unknown
        if not gone:
            return
        extra = zero_plan(inventory, gone)
        result.plan = pd.concat([result.plan, extra], ignore_index=True)
        result.changed = len(result.plan)
        result.report["only_retailer"] = [
            s for s in result.report["only_retailer"] if s not in gone
        ]
        result.discontinued.update(dict.fromkeys(sorted(gone), "gone"))
        result.levels.update(dict.fromkeys(gone, 0))

    def plan_scoped(self, lgl: pd.DataFrame, pending: pd.DataFrame) -> InventorySyncResult:
        """Only the SKUs of ``lgl`` (LGL's rows of the items a webhook named, just read): the
        retailer's items for them, as its last full sync found them, read by id."""
        items = stock_scope.retailer_items(self.engine, self.retailer.id, lgl["sku"])
        inventory = read_items_by_id(
            self.client, sorted(set(items.values())), self.retailer.target_location_id
        )
        inventory = inventory[inventory["sku"].isin(set(items))].reset_index(drop=True)
        result = self._plan(inventory, lgl, pending)
        result.report["only_lgl"] = []  # not looked for: only the full sync reports them
        result.whole = max(result.compared, stock_scope.carried(self.engine, self.retailer.id))
        return result

    def plan_some(
        self, lgl: pd.DataFrame, pending: pd.DataFrame, skus: set[str]
    ) -> InventorySyncResult:
        """The plan for some SKUs only (the drift check's: those a sync wrote and a rotating
        sample), LGL's snapshot with its fresher reads, the retailer's items read by id."""
        read_at = lgl.attrs.get("read_at")
        if read_at is not None:
            lgl = overlay(lgl, stock_scope.fresher_than(self.engine, read_at))
        return self.plan_scoped(lgl[lgl["sku"].isin(skus)], pending)

    def _plan(
        self, inventory: pd.DataFrame, lgl: pd.DataFrame, pending: pd.DataFrame
    ) -> InventorySyncResult:
        unseen = self._unseen_sales(inventory)
        both = pd.concat([pending[["sku", "units"]], unseen], ignore_index=True)
        target = targets(
            lgl,
            pending_units(list(both.itertuples(index=False))),
            self.retailer.inventory_safety_buffer,
        )
        plan, report = write_plan(
            inventory, target, activate=self.retailer.activate_missing_inventory
        )
        carried = lgl[lgl["sku"].isin(set(inventory["sku"]))].dropna(subset=["available"])
        levels = dict(zip(carried["sku"], carried["available"].astype(int), strict=True))
        compared = len(set(inventory["sku"]) & set(target["sku"]))
        archived = (
            set(lgl.loc[lgl["product_status"].eq("ARCHIVED"), "sku"])
            if "product_status" in lgl
            else set()
        )
        return InventorySyncResult(
            discontinued=dict.fromkeys(sorted(archived & set(inventory["sku"])), "archived"),
            compared=compared,
            changed=len(plan),
            report=report,
            plan=plan,
            unseen_units=int(unseen["units"].sum()),
            levels=levels,
            items=dict(zip(inventory["sku"], inventory["inventory_item_id"], strict=True)),
        )

    def _unseen_sales(self, inventory: pd.DataFrame) -> pd.DataFrame:
        """This retailer's committed units that no read accounted for (see ``unseen_sales``)."""
        since = datetime.now(UTC) - timedelta(hours=self.retailer.fulfillment_lookback_hours)
        last = unimported.known(self.engine, self.retailer.id)
        return unseen_sales(
            inventory,
            ledger.units_in_transit(self.engine, self.retailer.id, since),
            last.units if last else {},
        )

    def sync(
        self, lgl: pd.DataFrame, pending: pd.DataFrame, *, scoped: bool = False
    ) -> InventorySyncResult:
        """Plans (every SKU, or only ``lgl``'s when scoped), checks the plan against the
        mass-zero guard, then writes it in batches."""
        result = self.plan_scoped(lgl, pending) if scoped else self.plan(lgl, pending)
        if self.dry_run:
            return result
        self._guard(result)
        for batch, start in enumerate(range(0, len(result.plan), BATCH)):
            self._write(batch, result.plan.iloc[start : start + BATCH], result)
        # What LGL can ship of each SKU, kept (changes only) for stock insight.
        records.record_levels(self.engine, self.retailer.id, result.levels, datetime.now(UTC))
        if not scoped:
            lgl_items = dict(zip(lgl["sku"], lgl["inventory_item_id"], strict=True))
            stock_scope.remember_items(self.engine, self.retailer.id, result.items, lgl_items)
            self._record_discontinued(result, lgl)
        # Kept in the control plane now; not carried on in the run's output (100,000 SKUs' worth).
        result.levels, result.items = {}, {}
        return result

    def _record_discontinued(self, result: InventorySyncResult, lgl: pd.DataFrame) -> None:
        """The discontinued SKUs no sync had found before (told once, by the asset); SKUs LGL
        sells again forgotten, so a later discontinuation is told again."""
        result.new_discontinued = discontinued.record(self.engine, result.discontinued)
        if "product_status" in lgl:
            selling = set(lgl.loc[~lgl["product_status"].eq("ARCHIVED"), "sku"])
            discontinued.forget(self.engine, discontinued.recorded(self.engine) & selling)

    def _guard(self, result: InventorySyncResult) -> None:
        """Refuses a plan that would set more than ``LGL_MAX_ZERO_SHARE`` of the retailer's SKUs
        to 0, whatever LGL's snapshot says (a wrong location "really shows 0" too), unless a
        person allowed it once (``lgl-sync inventory allow-zero``)."""
        # An archived product is LGL saying so: its zeros are explicitly allowed.
        zeroing = [
            sku for sku in zeroed_skus(result.plan) if result.discontinued.get(sku) != "archived"
        ]
        result.zeroed = len(zeroed_skus(result.plan))
        share = settings.max_zero_share()
        # A scoped run's share is of every SKU the retailer carries, not of the few it read:
        # one SKU selling out is not a mass zero.
        whole = max(result.compared, result.whole)
        if not whole or len(zeroing) <= share * whole:
            return
        if use_zero_allowance(self.engine, self.retailer.id, self.run_id):
            result.zero_allowed = True
            return
        raise ZeroGuardError(
            f"{self.retailer.id}: this run would set {len(zeroing)} of {whole} SKUs to "
            f"0, more than LGL_MAX_ZERO_SHARE={share:.0%}; nothing was written. If LGL's stock "
            "really is gone, allow it once: lgl-sync inventory allow-zero "
            f"{self.retailer.id} (examples: {', '.join(zeroing[:5])})"
        )

    def _write(self, batch: int, rows: pd.DataFrame, result: InventorySyncResult) -> None:
        """Sends one batch; after a conflict, re-reads the changed items and sends the rest
        again with their retargeted quantities, a bounded number of times."""
        pending = {r.inventory_item_id: (int(r.current), int(r.target)) for r in rows.itertuples()}
        for attempt in range(MAX_CONFLICT_ROUNDS + 1):
            if not pending:
                return
            errors = self._send_until_not_busy(batch, attempt, pending, result)
            if not errors:
                result.written += len(pending)
                return
            if not any(e.get("code") in REREAD_AND_RETRY for e in errors):
                raise UserErrorsError("inventorySetQuantities", errors)
            # Stale (someone wrote meanwhile), or Shopify says the key's earlier attempt
            # failed: read again and send under the next attempt's (new) key.
            result.conflicts_retried += 1
            pending = self._reread_conflicts(pending)
        raise UserErrorsError(
            "inventorySetQuantities",
            [
                {
                    "message": f"stock kept changing during {MAX_CONFLICT_ROUNDS} retries",
                    "code": "CHANGE_FROM_QUANTITY_STALE",
                }
            ],
        )

    def _send_until_not_busy(
        self, batch: int, attempt: int, pending: dict, result: InventorySyncResult
    ) -> list[dict]:
        """Sends a batch; while Shopify says the same key's first request is still running
        (IDEMPOTENCY_CONCURRENT_REQUEST) waits and sends it again under the same key, a
        bounded number of times (the client's clock and LGL_MAX_SLEEP_SECONDS bound each wait)."""
        for wait in BUSY_WAITS:
            errors = self._send_batch(batch, attempt, pending, result)
            if not any(e.get("code") == "IDEMPOTENCY_CONCURRENT_REQUEST" for e in errors):
                return errors
            self.client.pause(wait, "InventorySetQuantities", "a concurrent request to finish")
        return errors

    def _send_batch(
        self,
        batch: int,
        attempt: int,
        pending: dict[str, tuple[int, int]],
        result: InventorySyncResult,
    ) -> list[dict]:
        """One ``inventorySetQuantities`` call, recorded in the ledger; its user errors."""
        key = idempotency_key(Flow.INVENTORY, self.retailer.id, self.run_id, batch, attempt)
        ledger.claim_inventory_write(
            self.engine,
            idempotency_key=key,
            retailer_id=self.retailer.id,
            batch=batch,
            items=len(pending),
            run_id=self.run_id,
        )
        quantities = [
            {
                "inventoryItemId": item,
                "locationId": self.retailer.target_location_id,
                "quantity": target,
                "changeFromQuantity": current,
            }
            for item, (current, target) in pending.items()
        ]
        data = self.client.mutate(
            "InventorySetQuantities",
            {
                "idempotencyKey": key,
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "referenceDocumentUri": f"gid://lgl-sync/InventorySyncRun/{self.run_id}",
                    "quantities": quantities,
                },
            },
            idempotent=True,
        )
        result.batches += 1
        errors = data["inventorySetQuantities"]["userErrors"]
        status = WriteStatus.REJECTED if errors else WriteStatus.APPLIED
        ledger.finish_inventory_write(self.engine, key, status)
        return errors

    def _reread_conflicts(self, pending: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """Someone changed the retailer's stock between our read and our write: re-read it,
        take units sold meanwhile off the target, and keep what still differs."""
        now = current_quantities(self.client, list(pending), self.retailer.target_location_id)
        retargeted = {
            item: (now[item], retarget(target, current, now[item]))
            for item, (current, target) in pending.items()
            if now.get(item) is not None
        }
        return {k: v for k, v in retargeted.items() if v[0] != v[1]}
