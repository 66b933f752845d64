"""Access scopes, enforced as Shopify does (https://shopify.dev/docs/api/usage/access-scopes).

Each type and field the sandbox serves needs one of the scopes Shopify's schema file lists for
it (``access_scopes.json``, generated with the schema subset by ``tools/schema_subset.py``); a
``write_`` scope grants its ``read_`` scope. A request that selects anything its token's scopes
do not grant is answered ``ACCESS_DENIED``, naming the field and the access it requires, and
nothing of it runs (so a mutation is never half done).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import graphql

SCOPES_PATH = Path(__file__).with_name("access_scopes.json")
DOCS = "https://shopify.dev/api/usage/access-scopes"


@cache
def table() -> dict[str, list[str]]:
    return json.loads(SCOPES_PATH.read_text())


def grants(granted: set[str] | list[str], scope: str) -> bool:
    return scope in granted or (
        scope.startswith("read_") and "write_" + scope.removeprefix("read_") in granted
    )


def denied(
    schema: graphql.GraphQLSchema, document: Any, operation: Any, granted: list[str]
) -> list[dict[str, Any]]:
    """ACCESS_DENIED errors for what the operation selects and the token may not touch."""
    errors: list[dict[str, Any]] = []
    info = graphql.TypeInfo(schema)
    seen: set[str] = set()
    needs = table()

    def check(coordinate: str, field_name: str) -> None:
        anyof = needs.get(coordinate)
        if not anyof or coordinate in seen or any(grants(granted, s) for s in anyof):
            return
        seen.add(coordinate)
        access = " or ".join(f"`{s}` access scope" for s in anyof)
        errors.append(
            {
                "message": f"Access denied for {field_name} field. Required access: {access}.",
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": DOCS,
                    "requiredAccess": f"{access}.",
                },
            }
        )

    class Visitor(graphql.Visitor):
        def enter_field(self, node, *_args):
            parent, field = info.get_parent_type(), info.get_field_def()
            if parent is None or field is None:
                return
            check(f"{parent.name}.{node.name.value}", node.name.value)
            check(graphql.get_named_type(field.type).name, node.name.value)

    fragments = [d for d in document.definitions if isinstance(d, graphql.FragmentDefinitionNode)]
    for definition in [operation, *fragments]:
        graphql.visit(definition, graphql.TypeInfoVisitor(info, Visitor()))
    return errors
