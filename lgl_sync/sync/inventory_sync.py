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

from lgl_sync.shopify.client import ShopifyClient, idempotency_key
from lgl_sync.shopify.errors import UserErrorsError
from lgl_sync.store import ledger
from lgl_sync.store.retailers import Retailer
from lgl_sync.sync.inventory import (
    current_quantities,
    read_location_inventory,
    retarget,
    targets,
    write_plan,
)
from lgl_sync.sync.order_import import read_candidates
from lgl_sync.sync.orders import ineligibility

logger = logging.getLogger(__name__)
BATCH = 250  # Shopify's input-array cap (FACTS.md §1.5)
MAX_CONFLICT_ROUNDS = 3


@dataclass
class InventorySyncResult:
    compared: int = 0
    changed: int = 0
    written: int = 0
    conflicts_retried: int = 0
    batches: int = 0
    report: dict[str, list[str]] = field(default_factory=dict)
    plan: pd.DataFrame = field(default_factory=pd.DataFrame)


def unimported_units(
    retailer: Retailer, client: ShopifyClient, engine: Engine
) -> list[tuple[str, int]]:
    """(sku, units) of one retailer's paid orders that have not reached the LGL store."""
    since = datetime.now(UTC) - timedelta(hours=retailer.lookback_hours)
    lines = []
    for order in read_candidates(client, retailer.target_location_id, since):
        if ineligibility(order, since) is not None:
            continue
        link = ledger.order_link(engine, retailer.id, order.id)
        if link and link["status"] in ("created", "tagged"):
            continue  # already in the LGL store, so already in LGL's available
        lines += [(line.sku, line.quantity) for line in order.lines if line.sku]
    return lines


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
        inventory = read_location_inventory(
            self.client, location_id=self.retailer.target_location_id
        )
        target = targets(lgl, pending, self.retailer.inventory_safety_buffer)
        plan, report = write_plan(
            inventory, target, activate=self.retailer.activate_missing_inventory
        )
        compared = len(set(inventory["sku"]) & set(target["sku"]))
        return InventorySyncResult(compared=compared, changed=len(plan), report=report, plan=plan)

    def sync(self, lgl: pd.DataFrame, pending: pd.DataFrame) -> InventorySyncResult:
        result = self.plan(lgl, pending)
        if self.dry_run:
            return result
        for batch, start in enumerate(range(0, len(result.plan), BATCH)):
            self._write(batch, result.plan.iloc[start : start + BATCH], result)
        return result

    def _write(self, batch: int, rows: pd.DataFrame, result: InventorySyncResult) -> None:
        location = self.retailer.target_location_id
        pending = {r.inventory_item_id: (int(r.current), int(r.target)) for r in rows.itertuples()}
        for attempt in range(MAX_CONFLICT_ROUNDS + 1):
            if not pending:
                return
            key = idempotency_key("inventory", self.retailer.id, self.run_id, batch, attempt)
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
                    "locationId": location,
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
            if not errors:
                ledger.finish_inventory_write(self.engine, key, "applied")
                result.written += len(pending)
                return
            ledger.finish_inventory_write(self.engine, key, "rejected")
            if not any(e.get("code") == "CHANGE_FROM_QUANTITY_STALE" for e in errors):
                raise UserErrorsError("inventorySetQuantities", errors)
            # Someone changed the retailer's stock between our read and our write.
            result.conflicts_retried += 1
            now = current_quantities(self.client, list(pending), location)
            pending = {
                item: (now[item], retarget(target, current, now[item]))
                for item, (current, target) in pending.items()
                if item in now
            }
            pending = {k: v for k, v in pending.items() if v[0] != v[1]}
        raise UserErrorsError(
            "inventorySetQuantities",
            [
                {
                    "message": f"stock kept changing during {MAX_CONFLICT_ROUNDS} retries",
                    "code": "CHANGE_FROM_QUANTITY_STALE",
                }
            ],
        )
