"""Access scopes come from Shopify's schema file, not from memory.

``lgl_sync/shopify/access_scopes.json`` is generated from the schema's ``offline_scopes`` for every
type and field LGL Sync's operations touch; `retailer validate` reads it for each enabled flow at
each store. These tests regenerate it from the real schema (it must be current), check that no
operation is outside a flow, and that a write scope grants its read scope, as Shopify documents
(https://shopify.dev/docs/api/usage/access-scopes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lgl_sync.defs.orders import imported_lgl_orders, retailer_paid_orders
from lgl_sync.shopify import scopes
from lgl_sync.shopify.documents import all_documents
from lgl_sync.sync.onboarding import check_retailer
from lgl_sync_tests.conftest import SCHEMA_CANDIDATES
from lgl_sync_tests.orders_world import RETAILER, seed


def _schema_path() -> Path:
    for candidate in SCHEMA_CANDIDATES:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    pytest.skip("Shopify's real schema not found (see ../shared/shopify/README.md)")


def test_the_scope_table_is_generated_from_the_current_queries_and_schema():
    assert scopes.generate(_schema_path()) == scopes.table(), (
        "regenerate: python -m lgl_sync.shopify.scopes PATH_TO_SCHEMA"
    )


def test_every_operation_belongs_to_a_flow_at_a_store():
    used = {
        op
        for table in (scopes.FLOW_OPERATIONS, scopes.SERVICE_OPERATIONS)
        for stores in table.values()
        for ops in stores.values()
        for op in ops
    }
    assert set(all_documents()) == used | set(scopes.ALWAYS) | set(scopes.CONNECT_OPERATIONS)


def test_the_table_names_what_each_write_needs():
    lacking = scopes.missing(["OrderCreate", "OrderEditBegin"], {"read_orders"})
    assert "write_orders" in next(k for k in lacking if "orderCreate" in str(lacking[k]))
    assert "write_order_edits" in lacking
    # write_order_edits grants read_order_edits (the calculated order read back).
    assert scopes.missing(["OrderEditBegin"], {"write_order_edits"}) == {}
    everything = {s for ops in scopes.table().values() for need in ops.values() for s in need}
    assert scopes.missing(list(all_documents()), everything) == {}


# -- The sandbox enforces them as Shopify does -------------------------------------------------

ORDERS_READ = "{ orders(first: 1) { nodes { id name } } }"
INVENTORY_WRITE = """
mutation {
  inventorySetQuantities(input: {name: "available", reason: "correction", quantities: []})
    @idempotent(key: "k1") { userErrors { message } }
}
"""


def test_the_sandbox_answers_access_denied_naming_the_scope(world):
    """https://shopify.dev/docs/api/usage/access-scopes: a field the token's scopes do not grant
    is refused with ACCESS_DENIED and the access it requires; a write scope grants its read."""
    seed(world.sandbox, normal=1)
    lgl = world.sandbox.store("lgl")
    assert "errors" not in world.sandbox.raw("lgl", ORDERS_READ).json()
    lgl.scopes = [s for s in lgl.scopes if s not in ("read_orders", "write_orders")]
    body = world.sandbox.raw("lgl", ORDERS_READ).json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "ACCESS_DENIED"
    assert "`read_orders` access scope" in error["message"] and body["data"] is None
    lgl.scopes.append("write_orders")  # grants read_orders
    assert "errors" not in world.sandbox.raw("lgl", ORDERS_READ).json()
    lgl.scopes.remove("write_inventory")
    (error,) = world.sandbox.raw("lgl", INVENTORY_WRITE).json()["errors"]
    assert "`write_inventory` access scope" in error["message"]


def test_an_lgl_token_without_write_orders_fails_the_run_naming_it_and_creates_nothing(world):
    seed(world.sandbox, normal=3)
    row = world.add_retailer(RETAILER)
    lgl, retailer = world.sandbox.store("lgl"), world.sandbox.store(RETAILER)
    lgl.scopes.remove("write_orders")
    report = check_retailer(row, world.sandbox.client(RETAILER), world.sandbox.client("lgl"))
    assert any(  # `validate` names it before any run
        p.startswith("import_orders is enabled but the LGL store's token lacks write_orders")
        for p in report.problems
    ), report.problems
    tagged = {o.id for o in retailer.orders.values() if "imported-to-LGL" in o.tags}
    result = world.materialize([retailer_paid_orders, imported_lgl_orders])
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "`write_orders` access scope" in str(failure.event_specific_data.error)
    assert lgl.orders == {}  # nothing created
    assert lgl.usage.by_operation["OrderCreate"] == 1  # refused once, not tried per order
    assert {o.id for o in retailer.orders.values() if "imported-to-LGL" in o.tags} == tagged


def test_an_order_whose_customer_data_is_redacted_is_held_never_imported_address_less(world):
    """Without protected customer data access Shopify returns no name, address, email or phone
    (https://shopify.dev/docs/apps/launch/protected-customer-data): such an order is held, with
    the reason, and imported once the app has the access."""
    seeded = seed(world.sandbox, normal=3)
    world.add_retailer(RETAILER)
    retailer = world.sandbox.store(RETAILER)
    retailer.protected_customer_data = False
    result = world.materialize([retailer_paid_orders, imported_lgl_orders])
    assert result.success
    outcomes = result.output_for_node("imported_lgl_orders")
    redacted = [o for o in outcomes if o.reason == "customer_data_redacted"]
    assert len(redacted) >= 3 and world.sandbox.store("lgl").orders == {}
    retailer.protected_customer_data = True
    assert world.materialize([retailer_paid_orders, imported_lgl_orders]).success
    imported = {o.source_identifier for o in world.sandbox.store("lgl").orders.values()}
    assert len(imported) == len(seeded.expected)
    for order in world.sandbox.store("lgl").orders.values():
        assert order.shipping_address  # never an address-less LGL order
