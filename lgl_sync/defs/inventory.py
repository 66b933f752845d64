"""Inventory assets: what LGL can ship per SKU, what retailers sold that LGL has not seen yet,
and each retailer's stock set from them."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from lgl_sync import settings
from lgl_sync.control_plane import stock_scope, unimported
from lgl_sync.control_plane.retailers import list_retailers
from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.partitions import retailer_asset, retailers
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
    idle,
)
from lgl_sync.flows import Flow
from lgl_sync.notify.notices import discontinued_notice
from lgl_sync.ops.redaction import redact
from lgl_sync.shopify.errors import ShopifyError
from lgl_sync.sync.inventory.reads import (
    primary_location_id,
    read_items_by_id,
    read_location_inventory,
    unimported_units,
)
from lgl_sync.sync.inventory.rules import pending_units, rotating_sample
from lgl_sync.sync.inventory.writer import InventorySyncer, InventorySyncResult, ZeroGuardError

# Seconds an inventory run waits for a retailer's lock: a stock-changes run holds each retailer's
# for about a second (defs/stock_changes.py), which is no reason to fail.
LOCK_WAIT = 30.0
# The drift check's rotating sample: this many SKUs a turn, the next ones each turn.
DRIFT_SAMPLE = 250
DRIFT_TURN_SECONDS = 600


def _preview(frame: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        frame.head(rows).to_markdown(index=False) if len(frame) else "(empty)"
    )


def _known(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """LGL's stocked rows whose quantity Shopify gave, and the SKUs whose quantity it did not:
    unknown, not 0, so left out (and so left alone at every retailer) and reported."""
    frame = frame[frame["stocked"]].drop(columns=["stocked", "committed"])
    unreadable = sorted(frame.loc[frame["available"].isna(), "sku"])
    frame = frame[frame["available"].notna()].astype({"available": int})
    return frame.reset_index(drop=True), unreadable


def _last_row_count(context: dg.AssetExecutionContext) -> int | None:
    """How many SKUs the last snapshot held (None before the first)."""
    latest = context.instance.get_latest_materialization_event(context.asset_key)
    rows = latest.asset_materialization.metadata.get("dagster/row_count") if latest else None
    return int(rows.value) if rows else None


@dg.asset(group_name=Flow.INVENTORY.value, kinds={"shopify", "pandas"})
def lgl_inventory_snapshot(
    context: dg.AssetExecutionContext, lgl_shopify: ShopifyStoreResource
) -> dg.MaterializeResult:
    """The LGL store's available quantity per SKU at its warehouse location.

    One row per SKU: sku, inventory_item_id, available. Read once per cycle (in bulk for a large
    catalog) and shared by every retailer's inventory sync. ``attrs["read_at"]``: when the read
    began (a webhook's scoped read after it wins over it).
    """
    client = lgl_shopify.get_client()
    read_at = datetime.now(UTC)
    snapshot, unreadable = _known(
        read_location_inventory(
            client,
            location_id=lgl_shopify.location_id,
            with_status=True,
            expected_items=_last_row_count(context),
        )
    )
    snapshot.attrs["read_at"] = read_at
    snapshot.attrs["unreadable"] = unreadable  # unknown, never taken for gone
    archived = sorted(snapshot.loc[snapshot["product_status"].eq("ARCHIVED"), "sku"])
    if unreadable:
        context.log.warning("LGL snapshot: no quantity for %d SKUs; left alone", len(unreadable))
    context.log.info("LGL snapshot: %d SKUs", len(snapshot))
    return dg.MaterializeResult(
        value=snapshot,
        metadata={
            "dagster/row_count": len(snapshot),
            "units_available": int(snapshot["available"].sum()) if len(snapshot) else 0,
            "unreadable_quantities": len(unreadable),
            "archived_skus": len(archived),
            "unreadable_examples": dg.MetadataValue.json(unreadable[:20]),
            "preview": _preview(snapshot),
            **client.metrics.as_metadata(),
        },
    )


@dg.asset(group_name=Flow.INVENTORY.value, kinds={"shopify", "pandas"})
def unimported_order_units(
    context: dg.AssetExecutionContext,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
) -> dg.MaterializeResult:
    """Units per SKU in paid orders of every retailer that have not reached the LGL store.

    One row per SKU. LGL stock is one pool: these units are taken already, at whichever
    retailer sold them, but LGL's available does not show it yet. A retailer whose orders
    cannot be read counts with its last known units (their age in ``stale_retailers``) and is
    not synced itself until it can be read again.
    """
    engine = control_plane.engine()
    lines: list[tuple[str, int]] = []
    requests, stale = 0, {}
    for retailer in list_retailers(engine, enabled_only=True):
        if not Flow.ORDERS.enabled_for(retailer):
            continue
        try:
            client = retailer_stores.client(retailer)
            units = pending_units(unimported_units(retailer, client, engine))
            requests += client.metrics.requests
            found = dict(zip(units["sku"], (int(u) for u in units["units"]), strict=True))
            unimported.record_read(engine, retailer.id, found)
        except ShopifyError as exc:
            last = unimported.record_failure(engine, retailer.id, redact(str(exc)))
            found = last.units
            age = (datetime.now(UTC) - last.read_at).total_seconds() if last.read_at else None
            stale[retailer.id] = f"{age / 60:.0f} min old" if age is not None else "never read"
            context.log.warning("%s: units not read (%s); last known used", retailer.id, exc)
        lines += list(found.items())
    pending = pending_units(lines)
    return dg.MaterializeResult(
        value=pending,
        metadata={
            "dagster/row_count": len(pending),
            "units": int(pending["units"].sum()),
            "api_requests": requests,
            "stale_retailers": dg.MetadataValue.json(stale),
            "preview": _preview(pending),
        },
    )


class InventorySyncConfig(dg.Config):
    dry_run: bool = False
    # Sync only the SKUs of these LGL inventory items, read again by id now (what the webhook
    # sensor sets from LGL's inventory_levels/update). Empty: every SKU, from the snapshot.
    lgl_inventory_item_ids: list[str] = []


@retailer_asset(
    Flow.INVENTORY,
    kinds={"shopify", "pandas"},
    # Every retailer syncs as soon as a new LGL snapshot exists, all from that one snapshot,
    # even while the next snapshot is already running (a webhook's): eager() would wait for
    # it, and under a steady stream of stock webhooks the retailers' runs kept waiting. The
    # snapshot a run reads is whole either way (the handoff is one transaction), and the next
    # one starts another sync when it lands.
    automation_condition=dg.AutomationCondition.eager().without(
        ~dg.AutomationCondition.any_deps_in_progress()
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "inventory_sku_coverage",
            asset="retailer_inventory",
            description="Share of the retailer's SKUs at its LGL "
            "location that the LGL store carries.",
        )
    ],
)
def retailer_inventory(
    context: dg.AssetExecutionContext,
    config: InventorySyncConfig,
    lgl_inventory_snapshot: pd.DataFrame,
    unimported_order_units: pd.DataFrame,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
    lgl_shopify: ShopifyStoreResource,
    notifier: NotifierResource,
):  # no return annotation: it would type the output as Nothing beside check_specs
    """The retailer's available quantity at its LGL location, set to what LGL can ship.

    One row per SKU written. Compare-and-set batches of 250 with idempotency keys; SKUs on one
    side only are reported, not written. With ``lgl_inventory_item_ids`` (a webhook's run) only
    those items' SKUs, LGL's quantities read again by id.
    """
    retailer = control_plane.active_retailer(context.partition_key, Flow.INVENTORY)
    refuse_stale_units(control_plane, retailer)
    if retailer is None:
        skipped = idle(context.partition_key, Flow.INVENTORY, InventorySyncResult())
        return dg.MaterializeResult(
            value=skipped.value,
            metadata=skipped.metadata,
            check_results=[_coverage([], 0)],
        )
    client = retailer_stores.client(retailer)
    engine, dry_run = control_plane.engine(), config.dry_run
    syncer = InventorySyncer(
        retailer=retailer, client=client, engine=engine, run_id=context.run_id, dry_run=dry_run
    )
    ids = config.lgl_inventory_item_ids
    scoped = bool(ids)
    try:
        with control_plane.flow_lock(retailer.id, Flow.INVENTORY, wait=LOCK_WAIT):
            lgl = lgl_inventory_snapshot
            if scoped:
                lgl = read_scope(context.log, lgl_shopify, control_plane, ids, dry_run=dry_run)
            result = syncer.sync(lgl, unimported_order_units, scoped=scoped)
    except ZeroGuardError as exc:
        raise dg.Failure(str(exc), metadata={"error_category": "guard"}) from None
    tell_discontinued(notifier, engine, retailer, result)
    coverage = (
        _scoped_coverage(control_plane, retailer.id, lgl_inventory_snapshot)
        if scoped
        else _coverage(result.report.get("only_retailer", []), result.compared)
    )
    metadata = sync_metadata(result, dry_run=config.dry_run)
    metadata["scope"] = f"{len(lgl)} SKUs named by LGL's webhooks" if scoped else "all SKUs"
    metadata.update(client.metrics.as_metadata("retailer_api"))
    return dg.MaterializeResult(value=result, check_results=[coverage], metadata=metadata)


def tell_discontinued(notifier: NotifierResource, engine, retailer, result) -> None:
    """The SKUs LGL no longer sells that no sync had found before: told once."""
    if result.new_discontinued:
        notice = discontinued_notice(retailer_name=retailer.name, skus=result.new_discontinued)
        notifier.notifier(engine).notify(notice)


def refuse_stale_units(control_plane: ControlPlaneResource, retailer) -> None:
    """Its own sales could not be read: setting its stock now could undo them."""
    last = unimported.known(control_plane.engine(), retailer.id) if retailer else None
    if last is not None and last.stale:
        raise dg.Failure(
            f"{retailer.id}: its unimported orders could not be read ({last.error}); not "
            "synced from stale numbers. The other retailers still count its last known units.",
            metadata={"error_category": "stale_units"},
        )


def read_scope(
    log,
    lgl_shopify: ShopifyStoreResource,
    control_plane: ControlPlaneResource,
    item_ids: list[str],
    *,
    dry_run: bool,
) -> pd.DataFrame:
    """LGL's rows of the named items, read now by id; recorded, so that a full sync still
    working from an older snapshot takes them instead of the snapshot's."""
    client = lgl_shopify.get_client()
    location = lgl_shopify.location_id or primary_location_id(client)
    read_at = datetime.now(UTC)
    ids = sorted(set(item_ids))
    rows, unreadable = _known(read_items_by_id(client, ids, location))
    if not dry_run:
        engine = control_plane.engine()
        stock_scope.record_lgl_reads(
            engine,
            zip(rows["inventory_item_id"], rows["sku"], rows["available"], strict=True),
            read_at,
        )
        # No sync loads a snapshot older than the handoff's retention: reads before it are moot.
        keep = timedelta(hours=settings.handoff_retention_hours())
        stock_scope.prune_lgl_reads(engine, read_at - keep)
    log.info(
        "LGL: %d of %d named items stocked at the location (%d without a quantity)",
        len(rows),
        len(ids),
        len(unreadable),
    )
    return rows


def _scoped_coverage(
    control_plane: ControlPlaneResource, retailer_id: str, lgl: pd.DataFrame
) -> dg.AssetCheckResult:
    """Coverage for a scoped run, which reads too few SKUs to say: the retailer's SKUs as its
    last full sync found them against LGL's last snapshot."""
    mine = set(stock_scope.retailer_items(control_plane.engine(), retailer_id, None))
    carried = set(lgl["sku"])
    return _coverage(sorted(mine - carried), len(mine & carried))


def sync_metadata(result: InventorySyncResult, *, dry_run: bool) -> dict:
    return {
        "dagster/row_count": result.written,
        "skus_compared": result.compared,
        "skus_changed": result.changed,
        "skus_written": result.written,
        "conflicts_retried": result.conflicts_retried,
        "only_in_lgl": len(result.report["only_lgl"]),
        "only_in_retailer": len(result.report["only_retailer"]),
        "not_stocked_at_location": len(result.report["not_stocked"]),
        "unreadable_at_retailer": len(result.report["unreadable"]),
        "skus_set_to_zero": result.zeroed,
        "discontinued_at_lgl": dg.MetadataValue.json(result.discontinued),
        "unseen_committed_units": result.unseen_units,
        "zero_allowed_once": result.zero_allowed,
        "dry_run": dry_run,
        "plan": _preview(result.plan, 20),
    }


@dg.asset_check(
    asset=retailer_inventory,
    blocking=False,
    partitions_def=retailers,  # its result belongs to the retailer it checked
    additional_ins={
        "lgl_inventory_snapshot": dg.AssetIn("lgl_inventory_snapshot"),
        "unimported_order_units": dg.AssetIn("unimported_order_units"),
    },
    description="After the sync, no mapped SKU differs from its target quantity.",
)
def inventory_drift(
    context: dg.AssetCheckExecutionContext,
    retailer_inventory: InventorySyncResult,
    lgl_inventory_snapshot: pd.DataFrame,
    unimported_order_units: pd.DataFrame,
    control_plane: ControlPlaneResource,
    retailer_stores: RetailerStoresResource,
) -> dg.AssetCheckResult:
    """Re-reads, by id, the SKUs the sync wrote (up to 250; past that a rotating 250 of them)
    and a rotating sample of 250 others, and counts those whose quantity is not the target:
    at most 2 requests and about 2,000 cost points. Every SKU is in a sample within a day's
    turns for up to 36,000 SKUs (250 per 10-minute turn). A full re-read of 100,000 SKUs was a
    bulk read as large as the sync's own."""
    retailer = control_plane.active_retailer(context.partition_key, Flow.INVENTORY)
    if retailer is None:  # a disabled retailer's store is not read, not even to check it
        return dg.AssetCheckResult(
            passed=True, metadata={"skipped": "retailer disabled or its inventory flow off"}
        )
    engine = control_plane.engine()
    wrote = set(retailer_inventory.plan["sku"]) if len(retailer_inventory.plan) else set()
    turn = int(datetime.now(UTC).timestamp() // DRIFT_TURN_SECONDS)
    # All it wrote, up to DRIFT_SAMPLE; of more (a first sync), a rotating sample of those too.
    written = set(rotating_sample(wrote, DRIFT_SAMPLE, turn))
    sample = rotating_sample(
        stock_scope.retailer_items(engine, retailer.id, None), DRIFT_SAMPLE, turn
    )
    # The same plan the sync makes (its targets, this retailer's unseen sales included),
    # without writing: every row of it is a SKU whose quantity is not the target.
    result = InventorySyncer(
        retailer=retailer,
        client=retailer_stores.client(retailer),
        engine=engine,
        run_id=context.run.run_id,
        dry_run=True,
    ).plan_some(lgl_inventory_snapshot, unimported_order_units, written | set(sample))
    drifted = result.plan.rename(columns={"current": "available"})
    return dg.AssetCheckResult(
        passed=len(drifted) == 0,
        metadata={
            "drifted_skus": len(drifted),
            "checked_skus": result.compared,
            "written_skus": len(wrote),
            "written_skus_checked": len(written),
            "sampled_skus": len(sample),
            "examples": _preview(drifted[["sku", "available", "target"]]),
        },
    )


def _coverage(missing: list[str], compared: int) -> dg.AssetCheckResult:
    """Warns when the retailer lists SKUs at the LGL location that the LGL store lacks."""
    total = compared + len(missing)
    return dg.AssetCheckResult(
        check_name="inventory_sku_coverage",
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "coverage": round(compared / total, 4) if total else 1.0,
            "missing_in_lgl": dg.MetadataValue.json(missing[:50]),
        },
    )
