"""What the sandbox's stores hold, seen from LGL Sync's promises: each retailer order in the LGL
store once, each LGL shipment on the retailer's order once with its tracking. Used by the demo's
summary and the chaos test's invariants."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from lgl_sync.devkit.world import LGL_HANDLE


@dataclass
class RetailerAudit:
    lgl_orders: int = 0
    duplicated_sources: list[str] = field(default_factory=list)
    lgl_shipments: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated_shipments: list[str] = field(default_factory=list)
    # Shipped by LGL before the retailer's cancellation reached it: Shopify takes no
    # fulfillment on a cancelled order, so the pushback reports them (retailer_order_cancelled).
    after_cancellation: list[str] = field(default_factory=list)
    # Shipped by LGL, then the retailer cut the order below what LGL had shipped (an edit or a
    # refund before the shipment was pushed): Shopify takes no more than the order still holds,
    # so the pushback reports it (quantity_exceeds_remaining / already_fulfilled) and the
    # order change is told to a person (edit_for_person).
    beyond_order: list[str] = field(default_factory=list)


def _tracking(fulfillment) -> tuple:
    return tuple(sorted((t.company or "", t.number or "") for t in fulfillment.tracking_info))


def _units_shipped(store, order) -> Counter:
    shipped: Counter = Counter()
    for fulfillment_id in order.fulfillment_ids:
        fulfillment = store.fulfillments[fulfillment_id]
        if fulfillment.status == "SUCCESS":
            for line in fulfillment.line_items:
                shipped[store.line_items[line.line_item_id].sku] += line.quantity
    return shipped


def _beyond(lgl, retailer, order, source, shipment) -> bool:
    """Did the retailer order end up wanting fewer units of this shipment's SKUs than LGL
    shipped in all (so the whole shipment cannot be put on it)?"""
    wanted: Counter = Counter()
    for line in source.line_items:
        wanted[line.sku] += line.current_quantity
    shipped = _units_shipped(lgl, order)
    skus = {lgl.line_items[li.line_item_id].sku for li in shipment.line_items}
    return any(shipped[sku] > wanted[sku] for sku in skus)


def audit(sandbox) -> dict[str, RetailerAudit]:
    """Per retailer handle: LGL orders, duplicates, LGL shipments and how they reached it."""
    lgl = sandbox.stores[LGL_HANDLE]
    result: dict[str, RetailerAudit] = {
        h: RetailerAudit() for h in sandbox.stores if h != LGL_HANDLE
    }
    sources: Counter = Counter()
    for order in lgl.orders.values():
        if not order.source_identifier or order.cancelled_at is not None:
            continue
        handle, _, source_id = order.source_identifier.partition(":")
        if handle not in result:
            continue
        sources[order.source_identifier] += 1
        found = result[handle]
        found.lgl_orders += 1
        retailer = sandbox.stores[handle]
        source = retailer.orders.get(int(source_id))
        on_retailer = Counter(
            _tracking(retailer.fulfillments[f])
            for f in (source.fulfillment_ids if source else [])
            if retailer.fulfillments[f].status == "SUCCESS"
        )
        for fulfillment_id in order.fulfillment_ids:
            shipment = lgl.fulfillments[fulfillment_id]
            if shipment.status != "SUCCESS":
                continue
            found.lgl_shipments += 1
            seen = on_retailer.get(_tracking(shipment), 0)
            if seen == 0 and source is not None and source.cancelled_at is not None:
                found.after_cancellation.append(shipment.name)
            elif (
                seen == 0 and source is not None and _beyond(lgl, retailer, order, source, shipment)
            ):
                found.beyond_order.append(shipment.name)
            elif seen == 0:
                found.missing.append(shipment.name)
            elif seen > 1:
                found.duplicated_shipments.append(shipment.name)
    for source, n in sources.items():
        if n > 1:
            result[source.partition(":")[0]].duplicated_sources.append(source)
    return result
