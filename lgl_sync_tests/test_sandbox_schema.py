"""The sandbox's schema is a strict subset of Shopify's real Admin schema (2026-10).

Contract: every type, field, argument (with its type) and enum value the sandbox serves exists
in Shopify's schema with the same type, so a document the sandbox accepts is one Shopify accepts.
"""

from __future__ import annotations

import graphql
from shopify_sandbox.engine import SDL_PATH


def _sandbox_schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(SDL_PATH.read_text())


def test_every_sandbox_type_field_and_argument_exists_in_shopify(real_schema) -> None:
    ours = _sandbox_schema()
    missing: list[str] = []
    compared = 0
    for name, type_ in ours.type_map.items():
        if name.startswith("__"):
            continue
        real = real_schema.get_type(name)
        if real is None or type(real) is not type(type_):
            missing.append(f"type {name}")
            continue
        if isinstance(type_, graphql.GraphQLEnumType):
            missing += [f"{name}.{v}" for v in type_.values if v not in real.values]
        for field_name, field in getattr(type_, "fields", {}).items():
            compared += 1
            real_field = real.fields.get(field_name)
            if real_field is None or str(real_field.type) != str(field.type):
                missing.append(f"{name}.{field_name}: {field.type}")
                continue
            for arg_name, arg in getattr(field, "args", {}).items():
                real_arg = real_field.args.get(arg_name)
                if real_arg is None or str(real_arg.type) != str(arg.type):
                    missing.append(f"{name}.{field_name}({arg_name}: {arg.type})")
        for interface in getattr(type_, "interfaces", ()):
            if interface.name not in {i.name for i in real.interfaces}:
                missing.append(f"{name} implements {interface.name}")
    assert compared > 300
    assert missing == []


def test_sandbox_root_fields_cover_what_the_project_uses() -> None:
    ours = _sandbox_schema()
    assert {
        "orders",
        "productVariants",
        "inventoryItems",
        "fulfillmentOrders",
        "bulkOperation",
        "currentBulkOperation",
        "node",
        "nodes",
    } <= set(ours.query_type.fields)
    assert {
        "orderCreate",
        "tagsAdd",
        "fulfillmentCreate",
        "fulfillmentTrackingInfoUpdate",
        "inventorySetQuantities",
        "bulkOperationRunQuery",
    } <= set(ours.mutation_type.fields)
    assert "idempotent" in {d.name for d in ours.directives}
