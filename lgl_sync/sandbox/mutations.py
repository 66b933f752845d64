"""Mutation resolvers: the registry and helpers shared by the inventory, order and
fulfillment mutation modules (Shopify's write semantics and user errors, FACTS.md §3-§5)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from lgl_sync.sandbox.resolvers import RequestContext
from lgl_sync.sandbox.state import SandboxError


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    return info.context


def _payload(errors_key: str = "userErrors", **fields: Any):
    def build(error: SandboxError | None = None) -> dict[str, Any]:
        body = {k: (None if error else v) for k, v in fields.items()}
        body[errors_key] = [error.as_user_error()] if error else []
        return body

    return build


def mutation_resolvers() -> dict[str, dict[str, Any]]:
    from lgl_sync.sandbox.bulk import bulk_operation_run_query
    from lgl_sync.sandbox.fulfillment_mutations import (
        fulfillment_cancel,
        fulfillment_create,
        fulfillment_tracking_update,
    )
    from lgl_sync.sandbox.inventory_mutations import (
        _group_changes,
        inventory_activate,
        inventory_adjust_quantities,
        inventory_set_quantities,
    )
    from lgl_sync.sandbox.order_mutations import (
        _tags_change,
        order_cancel,
        order_create,
        order_update,
    )

    return {
        "Mutation": {
            "orderCreate": order_create,
            "orderUpdate": order_update,
            "orderCancel": order_cancel,
            "tagsAdd": _tags_change(add=True),
            "tagsRemove": _tags_change(add=False),
            "fulfillmentCreate": fulfillment_create,
            "fulfillmentTrackingInfoUpdate": fulfillment_tracking_update,
            "fulfillmentCancel": fulfillment_cancel,
            "inventorySetQuantities": inventory_set_quantities,
            "inventoryAdjustQuantities": inventory_adjust_quantities,
            "inventoryActivate": inventory_activate,
            "bulkOperationRunQuery": bulk_operation_run_query,
        },
        "InventoryAdjustmentGroup": {"changes": _group_changes},
    }
