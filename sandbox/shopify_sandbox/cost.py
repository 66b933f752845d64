"""Shopify's calculated query cost (FACTS.md §1.2) and its input-size limit (§1.5).

Requested cost, before execution: scalars and enums 0, objects 1, a connection 2 plus
``first`` (or ``last``) times the cost of one node, nested connections multiplying, and a
mutation 10 per top-level field. Actual cost, after execution, counts what was returned.
Lists that are not connections cost their ``first``/``names``/``ids`` size, or one element
when unbounded (**inferred**: Shopify does not document it).

The "observed" mode (a store's ``cost_mode``) plays what real Shopify reports instead
(FACTS.md §9): a connection's nodes cost ``divisor`` times less than the formula, rounded up
(``products(first: 200) { id updatedAt }``: 2 + 200/20 = 12, as observed, against 202).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    value_from_ast_untyped,
)

MUTATION_COST = 10
MAX_INPUT_ITEMS = 250
MAX_PAGE = 250


@dataclass
class CostReport:
    requested: int = 0
    fields: list[dict[str, Any]] = field(default_factory=list)
    errors: list[GraphQLError] = field(default_factory=list)


class _Walker:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: dict, divisor: float = 1
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.divisor = divisor  # 1: the documented formula; above 1: the "observed" mode
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.report = CostReport()

    def _args(self, node: FieldNode) -> dict[str, Any]:
        return {
            a.name.value: value_from_ast_untyped(a.value, self.variables)
            for a in node.arguments or ()
        }

    def _fragment(self, sel: Any, parent: Any) -> tuple[SelectionSetNode, Any]:
        node = self.fragments[sel.name.value] if isinstance(sel, FragmentSpreadNode) else sel
        condition = node.type_condition
        return node.selection_set, (
            self.schema.get_type(condition.name.value) if condition else parent
        )

    def requested(self, selection_set: SelectionSetNode | None, parent: Any, path: list) -> int:
        if selection_set is None:
            return 0
        total, fragment_max = 0, 0
        for sel in selection_set.selections:
            if isinstance(sel, InlineFragmentNode | FragmentSpreadNode):
                sub, type_ = self._fragment(sel, parent)
                fragment_max = max(fragment_max, self.requested(sub, type_, path))
                continue
            name = sel.name.value
            fields = getattr(parent, "fields", {})
            if name.startswith("__") or name not in fields:
                continue
            definition = fields[name]
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                continue
            args = self._args(sel)
            here = [*path, (sel.alias or sel.name).value]
            if named.name.endswith("Connection"):
                size = args.get("first") if args.get("first") is not None else args.get("last")
                if size is not None and size > MAX_PAGE:
                    self.report.errors.append(
                        GraphQLError(
                            f"The {'first' if args.get('first') is not None else 'last'} argument "
                            f"must be between 0 and {MAX_PAGE} (got {size}).",
                            extensions={"code": "BAD_REQUEST"},
                        )
                    )
                children = self._node_cost(sel.selection_set, named, here)
                cost = 2 + math.ceil((size or 0) * children / self.divisor)
            elif is_list_type(get_nullable_type(definition.type)):
                size = args.get("first") or len(args.get("names") or args.get("ids") or ()) or 1
                children = self.requested(sel.selection_set, named, here)
                cost = size * (1 + children)
            else:
                children = self.requested(sel.selection_set, named, here)
                cost = 1 + children
            self.report.fields.append(
                {
                    "path": here,
                    "definedCost": 1,
                    "requestedTotalCost": cost,
                    "requestedChildrenCost": children,
                }
            )
            total += cost
        return total + fragment_max

    def _node_cost(self, selection_set: SelectionSetNode | None, connection: Any, path) -> int:
        best = 0
        for sel in selection_set.selections if selection_set else ():
            if not isinstance(sel, FieldNode):
                continue
            if sel.name.value == "nodes":
                node_type = get_named_type(connection.fields["nodes"].type)
                best = max(best, 1 + self.requested(sel.selection_set, node_type, path))
            elif sel.name.value == "edges":
                edge_type = get_named_type(connection.fields["edges"].type)
                for inner in sel.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        node_type = get_named_type(edge_type.fields["node"].type)
                        best = max(best, 1 + self.requested(inner.selection_set, node_type, path))
        return best

    def actual(self, selection_set: SelectionSetNode | None, parent: Any, data: Any) -> int:
        if selection_set is None or not isinstance(data, dict):
            return 0
        total, fragment_max = 0, 0
        for sel in selection_set.selections:
            if isinstance(sel, InlineFragmentNode | FragmentSpreadNode):
                sub, type_ = self._fragment(sel, parent)
                fragment_max = max(fragment_max, self.actual(sub, type_, data))
                continue
            name = sel.name.value
            fields = getattr(parent, "fields", {})
            value = data.get((sel.alias or sel.name).value)
            if name.startswith("__") or name not in fields or value is None:
                continue
            named = get_named_type(fields[name].type)
            if is_leaf_type(named):
                continue
            if named.name.endswith("Connection"):
                nodes = self._actual_nodes(sel.selection_set, named, value)
                total += 2 + math.ceil(nodes / self.divisor)
            elif isinstance(value, list):
                total += sum(1 + self.actual(sel.selection_set, named, v) for v in value if v)
            else:
                total += 1 + self.actual(sel.selection_set, named, value)
        return total + fragment_max

    def _actual_nodes(self, selection_set: SelectionSetNode, connection: Any, value: dict) -> int:
        best = 0
        for sel in selection_set.selections:
            if not isinstance(sel, FieldNode):
                continue
            items = value.get((sel.alias or sel.name).value) or []
            if sel.name.value == "nodes":
                node_type = get_named_type(connection.fields["nodes"].type)
                best = max(
                    best, sum(1 + self.actual(sel.selection_set, node_type, n) for n in items if n)
                )
            elif sel.name.value == "edges":
                edge_type = get_named_type(connection.fields["edges"].type)
                node_type = get_named_type(edge_type.fields["node"].type)
                for inner in sel.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        key = (inner.alias or inner.name).value
                        best = max(
                            best,
                            sum(
                                1 + self.actual(inner.selection_set, node_type, e.get(key))
                                for e in items
                            ),
                        )
        return best


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict,
    divisor: float = 1,
) -> CostReport:
    """The cost Shopify reserves before running ``operation`` (a connection's nodes divided by
    ``divisor`` in the observed mode)."""
    walker = _Walker(schema, document, variables, divisor)
    if operation.operation == OperationType.MUTATION:
        roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
        walker.report.requested = MUTATION_COST * len(roots)
        return walker.report
    walker.report.requested = walker.requested(operation.selection_set, schema.query_type, [])
    return walker.report


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict,
    data: Any,
    divisor: float = 1,
) -> int:
    """The cost Shopify charges after running ``operation``, from what it returned."""
    if operation.operation == OperationType.MUTATION:
        return requested_cost(schema, document, operation, variables).requested
    return _Walker(schema, document, variables, divisor).actual(
        operation.selection_set, schema.query_type, data
    )


def oversized_inputs(variables: Any, path: tuple = ("variables",)) -> list[GraphQLError]:
    """Input arrays over 250 items, which Shopify refuses before running anything."""
    errors: list[GraphQLError] = []
    if isinstance(variables, dict):
        for key, value in variables.items():
            errors += oversized_inputs(value, (*path, key))
    elif isinstance(variables, list):
        if len(variables) > MAX_INPUT_ITEMS:
            errors.append(
                GraphQLError(
                    f"The input array size of {len(variables)} is greater than the maximum allowed "
                    f"of {MAX_INPUT_ITEMS}.",
                    extensions={"code": "MAX_INPUT_SIZE_EXCEEDED", "path": list(path)},
                )
            )
        for index, value in enumerate(variables):
            errors += oversized_inputs(value, (*path, index))
    return errors
