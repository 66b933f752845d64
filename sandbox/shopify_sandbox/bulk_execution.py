"""A lean executor for bulk queries: the same resolvers and the same answer as graphql-core's
``execute``, without its per-field bookkeeping (paths, awaitables, argument coercion per
object), which made a 100,000-item bulk read take the sandbox 30 s of CPU where its modelled
duration is 10 sandbox seconds. A document it does not cover (directives, variables) goes to
graphql-core; any resolver error fails the operation, as an error in ``execute`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution.values import get_argument_values


class Unsupported(Exception):
    """A document this executor does not cover: run it with graphql-core instead."""


class _Plan:
    """Per (selection set, object type): each response key with its resolver, arguments, info
    and a completer compiled for its type, built once however many objects it is applied to."""

    def __init__(self, executor: BulkExecutor, selections: list, type_: Any) -> None:
        self.fields: list[tuple] = []
        for key, nodes in executor.collect(selections, type_).items():
            node = nodes[0]
            name = node.name.value
            if name == "__typename":
                self.fields.append((key, None, None, None, type_.name))
                continue
            field = type_.fields[name]
            args = get_argument_values(field, node, {})
            info = GraphQLResolveInfo(
                name, nodes, field.type, type_, None, executor.schema, executor.fragments,
                None, executor.operation, {}, executor.context, None,
            )  # fmt: skip
            sub = [s for n in nodes if n.selection_set for s in n.selection_set.selections]
            completer = executor.completer(field.type, sub, name)
            self.fields.append((key, field.resolve or executor.default, args, info, completer))


class BulkExecutor:
    """Runs one bulk query document against a store's resolvers."""

    def __init__(self, schema: GraphQLSchema, document: Any, context: Any, default) -> None:
        self.schema, self.context, self.default = schema, context, default
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operation = next(
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        )
        if self.operation.variable_definitions:
            raise Unsupported("variables")
        self.plans: dict[tuple[int, str], _Plan] = {}

    def run(self) -> dict[str, Any]:
        root = self.operation.selection_set.selections
        return self.complete_object(root, self.schema.query_type, None)

    def collect(self, selections: list, type_: Any) -> dict[str, list[FieldNode]]:
        found: dict[str, list[FieldNode]] = {}
        for selection in selections:
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                found.setdefault(key, []).append(selection)
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set.selections
            elif isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set.selections
            else:
                raise Unsupported(type(selection).__name__)
            if condition is None or self._applies(condition.name.value, type_):
                for key, nodes in self.collect(inner, type_).items():
                    found.setdefault(key, []).extend(nodes)
        return found

    def _applies(self, name: str, type_: Any) -> bool:
        if name == type_.name:
            return True
        condition = self.schema.get_type(name)
        return is_abstract_type(condition) and self.schema.is_sub_type(condition, type_)

    def complete_object(self, selections: list, type_: Any, source: Any) -> dict[str, Any]:
        plan_key = (id(selections), type_.name)
        plan = self.plans.get(plan_key)
        if plan is None:
            plan = self.plans[plan_key] = _Plan(self, selections, type_)
        out: dict[str, Any] = {}
        for key, resolve, args, info, complete in plan.fields:
            out[key] = complete if info is None else complete(resolve(source, info, **args))
        return out

    def completer(self, type_: Any, sub: list, field: str) -> Callable[[Any], Any]:
        """A function completing a resolved value of ``type_``, as graphql-core's
        ``complete_value`` does, with its type tests made once here instead of per value."""
        if is_non_null_type(type_):
            inner = self.completer(type_.of_type, sub, field)

            def non_null(value: Any) -> Any:
                completed = inner(value)
                if completed is None:
                    raise ValueError(f"Cannot return null for non-nullable field {field}.")
                return completed

            return non_null
        if is_list_type(type_):
            item = self.completer(type_.of_type, sub, field)
            return lambda value: None if value is None else [item(v) for v in value]
        if is_leaf_type(type_):
            serialize = type_.serialize

            def leaf(value: Any) -> Any:
                if value is None:
                    return None
                serialized = serialize(value)
                if serialized is None:
                    raise ValueError(f"Expected a value of type {type_.name} for {field}.")
                return serialized

            return leaf
        if is_abstract_type(type_):
            if type_.resolve_type is None:
                raise Unsupported("an abstract type without resolve_type")

            def abstract(value: Any) -> Any:
                if value is None:
                    return None
                resolved = type_.resolve_type(value, None, type_)
                concrete = self.schema.get_type(resolved) if isinstance(resolved, str) else resolved
                return self.complete_object(sub, concrete, value)

            return abstract
        return lambda value: None if value is None else self.complete_object(sub, type_, value)
