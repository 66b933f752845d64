"""LGL's warehouse in the sandbox: ships some of the open LGL orders, whole or in parts, with
tracking numbers, the way LGL's staff do in the LGL store."""

from __future__ import annotations

import random

from shopify_sandbox.models import TrackingInfo
from shopify_sandbox.state import Store

CARRIERS = ("UPS", "FedEx", "USPS")


def ship_some(lgl: Store, rng: random.Random, share: float = 0.5, partial: float = 0.3) -> int:
    """Ships ``share`` of the LGL orders that still have something to ship; ``partial`` of those
    only in part (one shipment now, the rest later). Returns the number of shipments made."""
    shipments = 0
    lgl.run_due_jobs()  # the store as it is now: a cancellation whose job has run is cancelled
    for order in list(lgl.orders.values()):
        if order.cancelled_at is not None or rng.random() >= share:
            continue
        for fo_id in order.fulfillment_order_ids:
            fo = lgl.fulfillment_orders[fo_id]
            open_lines = [li for li in fo.line_items if li.remaining_quantity > 0]
            if fo.status not in ("OPEN", "IN_PROGRESS") or not open_lines:
                continue
            if rng.random() < partial and (
                len(open_lines) > 1 or open_lines[0].remaining_quantity > 1
            ):
                if len(open_lines) > 1:
                    chosen = open_lines[: len(open_lines) // 2]
                    wanted = [(li.id, li.remaining_quantity) for li in chosen]
                else:
                    wanted = [(open_lines[0].id, open_lines[0].remaining_quantity // 2)]
            else:
                wanted = [(li.id, li.remaining_quantity) for li in open_lines]
            carrier = rng.choice(CARRIERS)
            number = f"{carrier[:2].upper()}{rng.randrange(10**9, 10**10)}"
            lgl.create_fulfillment([(fo, wanted)], [TrackingInfo(carrier, number, None)], True)
            shipments += 1
    return shipments
