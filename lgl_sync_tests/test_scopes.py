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

from lgl_sync.shopify import scopes
from lgl_sync.shopify.documents import all_documents
from lgl_sync_tests.conftest import SCHEMA_CANDIDATES


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
        op for stores in scopes.FLOW_OPERATIONS.values() for ops in stores.values() for op in ops
    }
    assert set(all_documents()) == used | set(scopes.ALWAYS)


def test_the_table_names_what_each_write_needs():
    lacking = scopes.missing(["OrderCreate", "OrderEditBegin"], {"read_orders"})
    assert "write_orders" in next(k for k in lacking if "orderCreate" in str(lacking[k]))
    assert "write_order_edits" in lacking
    # write_order_edits grants read_order_edits (the calculated order read back).
    assert scopes.missing(["OrderEditBegin"], {"write_order_edits"}) == {}
    everything = {s for ops in scopes.table().values() for need in ops.values() for s in need}
    assert scopes.missing(list(all_documents()), everything) == {}
