"""Mutation resolvers: the registry of Shopify's write operations the sandbox implements
(Shopify's write semantics and user errors, FACTS.md §3-§5), one module per domain."""

from __future__ import annotations

from typing import Any

from shopify_sandbox.bulk import bulk_operation_run_query
from shopify_sandbox.mutations.edits import (
    order_edit_add_line_item_discount,
    order_edit_add_variant,
    order_edit_begin,
    order_edit_commit,
    order_edit_set_quantity,
    refund_create,
)
from shopify_sandbox.mutations.fulfillments import (
    fulfillment_cancel,
    fulfillment_create,
    fulfillment_order_hold,
    fulfillment_order_move,
    fulfillment_order_release_hold,
    fulfillment_tracking_update,
)
from shopify_sandbox.mutations.inventory import (
    group_changes,
    inventory_activate,
    inventory_adjust_quantities,
    inventory_set_quantities,
)
from shopify_sandbox.mutations.orders import (
    metafield_definition_create,
    order_cancel,
    order_create,
    order_mark_as_paid,
    order_update,
    tags_change,
)
from shopify_sandbox.mutations.returns import return_create, reverse_fulfillment_order_dispose
from shopify_sandbox.mutations.services import SERVICE_MUTATIONS
from shopify_sandbox.mutations.webhooks import WEBHOOK_MUTATIONS, webhook_subscriptions


def mutation_resolvers() -> dict[str, dict[str, Any]]:
    """Resolvers by GraphQL type and field, for the engine's schema."""
    return {
        "Mutation": {
            "orderCreate": order_create,
            "orderUpdate": order_update,
            "orderCancel": order_cancel,
            "orderMarkAsPaid": order_mark_as_paid,
            "tagsAdd": tags_change(add=True),
            "tagsRemove": tags_change(add=False),
            "fulfillmentCreate": fulfillment_create,
            "fulfillmentTrackingInfoUpdate": fulfillment_tracking_update,
            "fulfillmentCancel": fulfillment_cancel,
            "fulfillmentOrderHold": fulfillment_order_hold,
            "fulfillmentOrderReleaseHold": fulfillment_order_release_hold,
            "fulfillmentOrderMove": fulfillment_order_move,
            "orderEditBegin": order_edit_begin,
            "orderEditAddVariant": order_edit_add_variant,
            "orderEditSetQuantity": order_edit_set_quantity,
            "orderEditAddLineItemDiscount": order_edit_add_line_item_discount,
            "orderEditCommit": order_edit_commit,
            "refundCreate": refund_create,
            "inventorySetQuantities": inventory_set_quantities,
            "inventoryAdjustQuantities": inventory_adjust_quantities,
            "inventoryActivate": inventory_activate,
            "bulkOperationRunQuery": bulk_operation_run_query,
            "metafieldDefinitionCreate": metafield_definition_create,
            "returnCreate": return_create,
            "reverseFulfillmentOrderDispose": reverse_fulfillment_order_dispose,
            **SERVICE_MUTATIONS,
            **WEBHOOK_MUTATIONS,
        },
        "QueryRoot": {"webhookSubscriptions": webhook_subscriptions},
        "InventoryAdjustmentGroup": {"changes": group_changes},
    }
