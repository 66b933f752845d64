"""A retailer store and the LGL store seeded for order-import tests, with the expected result."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from shopify_sandbox.models import Metafield, gid
from shopify_sandbox.state import next_id

from lgl_sync.devkit.world import RETAILER_LGL_LOCATION, token_for

RETAILER = "nationwide-plants"
# A customer's shipping address (an order without one is held: customer_data_redacted).
BUYER_ADDRESS = {
    "firstName": "Buyer", "lastName": "One", "address1": "2 Elm St", "city": "Austin",
    "provinceCode": "TX", "zip": "73301", "countryCode": "US",
}  # fmt: skip


@dataclass
class Seeded:
    """What the import must do: expected LGL lines per source order, and the holds."""

    expected: dict[str, dict[str, int]] = field(default_factory=dict)  # source gid -> sku -> qty
    holds: dict[str, str] = field(default_factory=dict)  # source gid -> reason
    not_eligible: dict[str, str] = field(default_factory=dict)
    costs: dict[str, Decimal] = field(default_factory=dict)


def seed(
    sandbox,
    *,
    normal: int,
    big: int = 0,
    seed_value: int = 4,
    lgl_skus: int = 300,
    lgl_plan: str = "plus",
) -> Seeded:
    """Replaces the sandbox's stores with LGL + one retailer and ``normal`` ordinary eligible
    orders, ``big`` 300-line orders, and a few of every other kind."""
    rng = random.Random(seed_value)
    sandbox.engine.reset()
    seeded = Seeded()
    lgl = sandbox.engine.add_store(
        "lgl", token_for("lgl"), plan=lgl_plan, name="Live Good Logistics"
    )
    warehouse = lgl.add_location("LGL Warehouse")
    retailer = sandbox.engine.add_store(
        RETAILER, token_for(RETAILER), plan="plus", name="Nationwide Plants"
    )
    main = retailer.add_location("Main Store")
    at_lgl = retailer.add_location(RETAILER_LGL_LOCATION)
    skus = [f"LGL-{i:04d}" for i in range(lgl_skus)]
    for sku in skus:
        cost = Decimal(f"{rng.randint(2, 40)}.25")
        seeded.costs[sku] = cost
        product = lgl.add_product(sku, [{"sku": sku, "price": "50", "retailer_cost": cost}])
        lgl.stock(lgl.variants[product.variant_ids[0]].inventory_item_id, warehouse.id, 1000)
    variant = {}
    for sku in [*skus, "NEW-0001"]:
        p = retailer.add_product(sku, [{"sku": sku, "price": "60", "ships_from": at_lgl.id}])
        variant[sku] = p.variant_ids[0]
    for i in range(60):
        p = retailer.add_product(
            f"OWN-{i}", [{"sku": f"OWN-{i:02d}", "price": "9", "ships_from": main.id}]
        )
        variant[f"OWN-{i:02d}"] = p.variant_ids[0]

    def order(lines: list[tuple[str, int]], **kwargs):
        city = rng.choice(["Austin", "Denver", "Madison"])
        created = retailer.create_order(
            lines=[{"variant_id": variant[s], "quantity": q} for s, q in lines],
            created_at=retailer.now() - timedelta(hours=kwargs.pop("hours", rng.uniform(0.1, 5))),
            email="buyer@example.com",
            note="ring twice",
            shipping_address={
                "firstName": "Buyer",
                "lastName": "One",
                "address1": "2 Elm St",
                "city": city,
                "provinceCode": "TX",
                "zip": "73301",
                "countryCode": "US",
            },
            **kwargs,
        )
        return created

    def expect(created, lines):
        wanted: dict[str, int] = {}
        for sku, quantity in lines:
            if sku.startswith("LGL-"):
                wanted[sku] = wanted.get(sku, 0) + quantity
        seeded.expected[gid("Order", created.id)] = wanted

    for n in range(normal):
        lines = [(s, rng.randint(1, 4)) for s in rng.sample(skus, rng.randint(1, 4))]
        if n % 5 == 0:
            lines.append((f"OWN-{rng.randint(0, 59):02d}", 1))  # mixed LGL / non-LGL
        created = order(lines)
        if n % 7 == 0:
            created.metafields[("custom", "ship_date")] = Metafield(
                next_id(), "custom", "ship_date", "2026-12-03"
            )
        expect(created, lines)
    for _ in range(big):  # 300 lines, 250 of them LGL: imports normally
        lines = [(s, 1) for s in skus[:250]] + [(f"OWN-{i:02d}", 1) for i in range(50)]
        expect(order(lines), lines)
    for _ in range(3):  # partly shipped already: only the remaining quantity is imported
        created = order([(skus[5], 3), (skus[6], 2)])
        fo = retailer.fulfillment_orders[created.fulfillment_order_ids[0]]
        retailer.create_fulfillment([(fo, [(fo.line_items[0].id, 1)])], [], False)
        seeded.expected[gid("Order", created.id)] = {skus[5]: 2, skus[6]: 2}
    if big:
        held = order([(s, 1) for s in skus[:260]])
        seeded.holds[gid("Order", held.id)] = "too_many_lines"
    for _ in range(3):
        held = order([(skus[1], 1), ("NEW-0001", 2)])
        seeded.holds[gid("Order", held.id)] = "unknown_sku"
    for kind in range(4):
        for _ in range(3):
            if kind == 0:
                created = order([(skus[2], 1)], financial_status="PENDING")
            elif kind == 1:
                created = order([(skus[2], 1)], hours=30)
            elif kind == 2:
                created = order([(skus[2], 1)], tags=["imported-to-LGL"])
            else:
                created = order([("OWN-01", 1)])
            seeded.not_eligible[gid("Order", created.id)] = str(kind)
        cancelled = order([(skus[3], 1)])
        retailer.cancel_order(cancelled, restock=False)
        seeded.not_eligible[gid("Order", cancelled.id)] = "cancelled"
    return seeded


def lgl_orders_by_source(sandbox) -> dict[str, list]:
    """LGL orders grouped by the source order they came from."""
    found: dict[str, list] = {}
    for o in sandbox.store("lgl").orders.values():
        if o.source_identifier:
            source = "gid://shopify/Order/" + o.source_identifier.split(":", 1)[1]
            found.setdefault(source, []).append(o)
    return found


def lines_of(order) -> dict[str, int]:
    lines: dict[str, int] = {}
    for li in order.line_items:
        lines[li.sku] = lines.get(li.sku, 0) + li.quantity
    return lines
