"""Scenarios: what the sandbox's stores hold when it starts (format in docs/sandbox.md).

A scenario is plain data: stores with locations, products, stock and orders. Worlds that
generate scenarios (LGL's retailers, say) live with the project that needs them and are handed
to ``load_scenario`` (and to the server) as a ``ScenarioFactory``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shopify_sandbox import services
from shopify_sandbox.engine import Sandbox
from shopify_sandbox.models import Metafield
from shopify_sandbox.state import Store, next_id

# Builds a full scenario from a short description such as {"name": "default", "skus": 200}.
ScenarioFactory = Callable[[dict[str, Any]], dict[str, Any]]


def token_for(handle: str) -> str:
    """The sandbox's access token for a store (not a secret: the sandbox is local)."""
    return f"sandbox-token-{handle}"


def load_scenario(
    sandbox: Sandbox, scenario: dict[str, Any], *, generate: ScenarioFactory | None = None
) -> dict[str, Store]:
    """Replaces the sandbox's stores with the scenario's. A scenario without ``stores`` is a
    description that ``generate`` turns into one."""
    if "stores" not in scenario:
        if generate is None:
            raise ValueError("a scenario needs 'stores' (no scenario generator is configured)")
        scenario = generate(scenario)
    sandbox.reset()
    return {spec["handle"]: _build_store(sandbox, spec) for spec in scenario["stores"]}


def _build_store(sandbox: Sandbox, spec: dict[str, Any]) -> Store:
    store = sandbox.add_store(
        spec["handle"], spec.get("token") or token_for(spec["handle"]), name=spec.get("name", "")
    )
    store.apply_settings(spec)
    locations = {name: store.add_location(name) for name in spec.get("locations", ["Shop"])}
    for location_name, service_name in (spec.get("services") or {}).items():
        # That location is the app's own fulfillment service's (services.py).
        services.attach_service(store, locations[location_name], service_name)
    for product in spec.get("products", []):
        variants = [
            {**v, "ships_from": locations[v["ships_from"]].id if v.get("ships_from") else None}
            for v in product["variants"]
        ]
        created = store.add_product(product["title"], variants)
        for variant_id, v in zip(created.variant_ids, product["variants"], strict=True):
            item_id = store.variants[variant_id].inventory_item_id
            for location_name, quantity in (v.get("inventory") or {}).items():
                store.stock(item_id, locations[location_name].id, quantity)
    now = store.now()
    for order in spec.get("orders", []):
        lines = []
        for line in order["lines"]:
            matches = store.variants_by_sku(line["sku"])
            lines.append(
                {"variant_id": matches[0].id, "quantity": line["quantity"]}
                if matches
                else {
                    "sku": line["sku"],
                    "title": line.get("title", line["sku"]),
                    "quantity": line["quantity"],
                    "price": line.get("price", "10.00"),
                    "location_id": locations[line["location"]].id if line.get("location") else None,
                }
            )
        created = store.create_order(
            lines=lines,
            financial_status=order.get("financial_status", "PAID"),
            created_at=now - timedelta(hours=order.get("created_hours_ago", 1)),
            email=order.get("email"),
            note=order.get("note"),
            tags=list(order.get("tags", [])),
            shipping_address=order.get("shipping_address"),
            billing_address=order.get("billing_address"),
        )
        for key, value in (order.get("metafields") or {}).items():
            namespace, name = key.split(".", 1)
            created.metafields[(namespace, name)] = Metafield(next_id(), namespace, name, value)
        if order.get("cancelled"):
            store.cancel_order(created, restock=False)
    return store
