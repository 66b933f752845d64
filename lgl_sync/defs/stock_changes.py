"""LGL's stock changes, pushed to every retailer they concern in one run.

The webhook sensor gathers the LGL items named by ``inventory_levels/update`` deliveries and
starts one ``sync_stock_changes`` run for every retailer carrying any of them (as its last full
sync found it), each with its own items. The run reads those items at LGL once, by id, for all
of them (one request instead of one per retailer), then sets each retailer's levels of its
SKUs, a few retailers at a time (different stores, different budgets).

One retailer's failure is that retailer's alone: every other retailer is synced and recorded as
a materialization of its own ``retailer_inventory`` partition; the failed ones get no
materialization, an observation saying why, and the run fails at the end naming them (the
failure alert, and the schedule's reconciliation catches their changes). Each retailer is
written under its own lock, as every inventory run is: the run waits up to ``LOCK_WAIT``
seconds for a retailer whose other inventory run holds it, then counts it as failed.

One run instead of one per retailer: a stock change at an item ten retailers carry started ten
runs, each a process and an execution plan, and those runs were most of the webhook sensor's
work and of the queue.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from lgl_sync.control_plane import unimported
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.inventory import (
    LOCK_WAIT,
    read_scope,
    refuse_stale_units,
    sync_metadata,
    tell_discontinued,
)
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
)
from lgl_sync.flows import STOCK_CHANGES_JOB, Flow
from lgl_sync.ops.redaction import redact
from lgl_sync.sync.inventory.rules import pending_units
from lgl_sync.sync.inventory.writer import InventorySyncer, ZeroGuardError

logger = logging.getLogger(__name__)
INVENTORY = dg.AssetKey("retailer_inventory")
PARALLEL = 4  # retailers synced at once (each its own store and budget)


class StockChangesConfig(dg.Config):
    # Retailer id -> the LGL inventory item ids (GIDs) whose SKUs to set at that retailer.
    items: dict[str, list[str]]


@dataclass
class _Outcome:
    retailer_id: str
    metadata: dict | None = None  # synced
    skipped: str | None = None  # disabled meanwhile: its store left alone
    error: str | None = None
    category: str = "unexpected"


def _sync_one(
    retailer_id: str,
    lgl: pd.DataFrame,
    pending: pd.DataFrame,
    run_id: str,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    notifier: NotifierResource,
) -> _Outcome:
    """One retailer's SKUs of ``lgl`` set, under its lock; never raises."""
    try:
        retailer = control_plane.active_retailer(retailer_id, Flow.INVENTORY)
        if retailer is None:
            return _Outcome(retailer_id, skipped="disabled, or its inventory flow off")
        refuse_stale_units(control_plane, retailer)
        client = retailer_stores.client(retailer)
        engine = control_plane.engine()
        syncer = InventorySyncer(retailer=retailer, client=client, engine=engine, run_id=run_id)
        with control_plane.flow_lock(retailer.id, Flow.INVENTORY, wait=LOCK_WAIT):
            result = syncer.sync(lgl, pending, scoped=True)
        tell_discontinued(notifier, engine, retailer, result)
    except ZeroGuardError as exc:
        return _Outcome(retailer_id, error=redact(str(exc)), category="guard")
    except dg.Failure as exc:
        category = exc.metadata.get("error_category")
        return _Outcome(
            retailer_id,
            error=redact(exc.description or str(exc)),
            category=str(category.value) if category else "unexpected",
        )
    except Exception as exc:  # one retailer's failure is its own
        # Its stack in the logs (their redaction filter holds for every handler).
        logger.warning("%s: stock changes failed", retailer_id, exc_info=True)
        error = redact(f"{type(exc).__name__}: {exc}")
        return _Outcome(retailer_id, error=error, category=getattr(exc, "category", "unexpected"))
    metadata = sync_metadata(result, dry_run=False)
    metadata["scope"] = f"{len(lgl)} SKUs named by LGL's webhooks"
    metadata.update(client.metrics.as_metadata("retailer_api"))
    return _Outcome(retailer_id, metadata=metadata)


def _pending(engine) -> pd.DataFrame:
    """Units in every retailer's paid orders not yet at LGL, as last read: what the last
    ``unimported_order_units`` counted, or a later read (its failures keep the last known)."""
    counted = {
        r.id for r in list_retailers(engine, enabled_only=True) if Flow.ORDERS.enabled_for(r)
    }
    return pending_units(
        [
            (sku, units)
            for known in unimported.known_all(engine)
            if known.retailer_id in counted
            for sku, units in known.units.items()
        ]
    )


@dg.op(out={})
def stock_changes(
    context: dg.OpExecutionContext,
    config: StockChangesConfig,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
):
    """Sets each named retailer's levels of its named LGL items, read once at LGL by id; one
    materialization of ``retailer_inventory`` per retailer synced."""
    wanted = {r: sorted(set(ids)) for r, ids in sorted(config.items.items()) if ids}
    every = sorted({i for ids in wanted.values() for i in ids})
    lgl = read_scope(context.log, lgl_shopify, control_plane, every, dry_run=False)
    pending = _pending(control_plane.engine())
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        outcomes = list(
            pool.map(
                lambda item: _sync_one(
                    item[0],
                    lgl[lgl["inventory_item_id"].isin(item[1])].reset_index(drop=True),
                    pending,
                    context.run_id,
                    control_plane,
                    retailer_stores,
                    notifier,
                ),
                wanted.items(),
            )
        )
    yield from _events(context, outcomes)
    failed = [o for o in outcomes if o.error]
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(outcomes)} retailers not synced: "
            + "; ".join(f"{o.retailer_id}: {o.error}" for o in failed),
            metadata={
                "error_category": failed[0].category,
                "failed_retailers": dg.MetadataValue.json([o.retailer_id for o in failed]),
            },
        )


def _events(context: dg.OpExecutionContext, outcomes: list[_Outcome]):
    """A materialization per retailer synced; an observation per retailer not."""
    for outcome in outcomes:
        if outcome.metadata is not None:
            yield dg.AssetMaterialization(
                asset_key=INVENTORY, partition=outcome.retailer_id, metadata=outcome.metadata
            )
            continue
        why = outcome.skipped or f"{outcome.category}: {outcome.error}"
        context.log.warning("%s: stock changes not synced (%s)", outcome.retailer_id, why)
        yield dg.AssetObservation(
            asset_key=INVENTORY,
            partition=outcome.retailer_id,
            metadata={"not_synced": why, "error_category": outcome.category},
        )


@dg.job(
    name=STOCK_CHANGES_JOB,
    description="Set the levels LGL's stock webhooks named at every retailer carrying them, "
    "in one run (the run config names each retailer's items); one retailer's failure is "
    "its own.",
)
def sync_stock_changes_job():
    stock_changes()
