"""LGL's world in the sandbox: the LGL store and the four retailers of DESIGN.md.

``default_scenario`` builds them with realistic, deterministic data: shared and retailer-only
SKUs, stock, and paid, pending, cancelled and old orders, some mixing LGL and non-LGL
fulfillment orders and some with SKUs LGL does not carry.
"""

from __future__ import annotations

import random
from typing import Any

from shopify_sandbox.engine import Sandbox
from shopify_sandbox.scenario import load_scenario, token_for
from shopify_sandbox.state import Store

__all__ = ["token_for"]

LGL_HANDLE = "lgl"
LGL_WAREHOUSE = "LGL Warehouse"
RETAILER_LGL_LOCATION = "LGL Fulfillment"
RETAILER_MAIN_LOCATION = "Main Store"
RETAILERS = (
    ("nationwide-plants", "Nationwide Plants"),
    ("botanical-interests", "Botanical Interests"),
    ("epic-gardening", "Epic Gardening"),
    ("test-retail-store", "Test Retail Store"),
)
SERVICE_NAME = "LGL Sync"  # LGL_FULFILLMENT_SERVICE_NAME's default
# A retailer store whose LGL location is LGL's fulfillment service: the assigned-fulfillment-order
# scopes instead of the merchant-managed ones.
SERVICE_SCOPES = (
    "read_orders",
    "write_orders",
    "read_all_orders",
    "read_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
    "read_fulfillments",
    "write_fulfillments",
    "read_returns",
)
_PLANTS = (
    "Monstera",
    "Fiddle Leaf Fig",
    "Snake Plant",
    "Pothos",
    "Basil Seeds",
    "Tomato Seeds",
    "Lavender",
    "Aloe Vera",
    "Peace Lily",
    "ZZ Plant",
    "Raised Bed",
    "Potting Mix",
)
_CITIES = (
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Portland", "OR", "97201"),
    ("Raleigh", "NC", "27601"),
    ("Madison", "WI", "53703"),
)


def retailer_names(count: int) -> list[tuple[str, str]]:
    """The four retailers of DESIGN.md, then ``retailer-05`` … for larger benchmarks."""
    extra = [(f"retailer-{n:02d}", f"Retailer {n:02d}") for n in range(5, count + 1)]
    return [*RETAILERS, *extra][:count]


def default_scenario(
    *,
    skus: int = 200,
    orders: int = 25,
    seed: int = 1,
    retailers: int = len(RETAILERS),
    fulfillment_service: tuple[str, ...] = (),
) -> dict[str, Any]:
    """LGL's store with ``skus`` SKUs and ``retailers`` retailers (four by default) with
    ``orders`` orders each. In the stores named in ``fulfillment_service`` the LGL location is
    LGL's own fulfillment service, and Shopify requests fulfillment of paid orders there."""
    rng = random.Random(seed)
    catalog = [f"LGL-{i:06d}" for i in range(1, skus + 1)]
    lgl = {
        "handle": LGL_HANDLE,
        "name": "Live Good Logistics",
        "locations": [LGL_WAREHOUSE],
        "products": [
            {
                "title": f"{rng.choice(_PLANTS)} {i + 1}",
                "variants": [
                    {
                        "sku": sku,
                        "price": f"{rng.randint(8, 60)}.00",
                        "retailer_cost": f"{rng.randint(3, 30)}.50",
                        "inventory": {LGL_WAREHOUSE: rng.randint(0, 120)},
                    }
                ],
            }
            for i, sku in enumerate(catalog)
        ],
    }
    stores = [lgl]
    for index, (handle, name) in enumerate(retailer_names(retailers)):
        store = _retailer(rng, handle, name, catalog, index, orders)
        if handle in fulfillment_service:
            store |= {
                "services": {RETAILER_LGL_LOCATION: SERVICE_NAME},
                "auto_request": True,
                "scopes": [*SERVICE_SCOPES],
            }
        stores.append(store)
    return {"seed": seed, "stores": stores}


def _retailer(
    rng: random.Random, handle: str, name: str, catalog: list[str], index: int, orders: int
) -> dict[str, Any]:
    # Retailers overlap: each carries 60% of LGL's catalog, so SKUs are shared between them.
    carried = sorted(rng.sample(catalog, max(1, int(len(catalog) * 0.6))))
    own = [f"{handle[:3].upper()}-OWN-{i:04d}" for i in range(1, max(2, len(catalog) // 20) + 1)]
    unknown = f"{handle[:3].upper()}-NEW-0001"  # at the LGL location, missing in LGL's store
    variants = [
        {
            "sku": s,
            "price": f"{rng.randint(10, 80)}.00",
            "ships_from": RETAILER_LGL_LOCATION,
            "inventory": {RETAILER_LGL_LOCATION: rng.randint(0, 50)},
        }
        for s in [*carried, unknown]
    ]
    variants += [
        {
            "sku": s,
            "price": "15.00",
            "ships_from": RETAILER_MAIN_LOCATION,
            "inventory": {RETAILER_MAIN_LOCATION: 30},
        }
        for s in own
    ]
    store_orders = [_order(rng, n, carried, own, unknown) for n in range(orders)]
    return {
        "handle": handle,
        "name": name,
        "locations": [RETAILER_MAIN_LOCATION, RETAILER_LGL_LOCATION],
        "products": [{"title": f"{name} item {v['sku']}", "variants": [v]} for v in variants],
        "orders": store_orders,
    }


def generate(description: dict[str, Any]) -> dict[str, Any]:
    """The scenario factory the sandbox server uses for ``{"name": "default", ...}``."""
    return default_scenario(
        skus=int(description.get("skus", 200)),
        orders=int(description.get("orders", 25)),
        seed=int(description.get("seed", 1)),
        retailers=int(description.get("retailers", len(RETAILERS))),
        fulfillment_service=tuple(description.get("fulfillment_service") or ()),
    )


def load_world(sandbox: Sandbox, description: dict[str, Any] | None = None) -> dict[str, Store]:
    """Loads LGL's world into the sandbox (``{"skus": N, "orders": N, "seed": N, ...}``)."""
    return load_scenario(sandbox, {"name": "default", **(description or {})}, generate=generate)


def _order(
    rng: random.Random, n: int, carried: list[str], own: list[str], unknown: str
) -> dict[str, Any]:
    """One retailer order: mostly paid LGL lines; some mixed, held, pending, cancelled or old."""
    city, province, zip_code = rng.choice(_CITIES)
    roll = rng.random()
    lines = [
        {"sku": s, "quantity": rng.randint(1, 3)}
        for s in rng.sample(carried, min(len(carried), rng.randint(1, 4)))
    ]
    if roll < 0.15:
        lines.append({"sku": rng.choice(own), "quantity": 1})  # mixed LGL / non-LGL
    elif roll < 0.2:
        lines.append({"sku": unknown, "quantity": 1})  # held: SKU unknown at LGL
    order = {
        "financial_status": "PENDING" if 0.2 <= roll < 0.28 else "PAID",
        "cancelled": 0.28 <= roll < 0.33,
        "created_hours_ago": rng.randint(30, 200)
        if 0.33 <= roll < 0.38
        else round(rng.uniform(0.1, 5.0), 2),
        "email": f"customer{n + 1}@example.com",
        "note": "Leave at the side door" if rng.random() < 0.3 else None,
        "tags": ["wholesale"] if rng.random() < 0.2 else [],
        "shipping_address": {
            "firstName": "Customer",
            "lastName": f"No. {n + 1}",
            "address1": f"{rng.randint(1, 999)} Garden Way",
            "city": city,
            "province": province,
            "provinceCode": province,
            "zip": zip_code,
            "country": "United States",
            "countryCode": "US",
        },
        "lines": lines,
    }
    if rng.random() < 0.3:
        order["metafields"] = {"custom.ship_date": f"2026-12-{rng.randint(1, 20):02d}"}
    return order
