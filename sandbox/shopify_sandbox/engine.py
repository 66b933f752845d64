"""The sandbox's request pipeline, independent of HTTP: auth, version, faults, input limits,
cost and throttle, execution, and Shopify's response shapes (FACTS.md §1.3-§1.4)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError

from shopify_sandbox import returns
from shopify_sandbox.access import denied
from shopify_sandbox.clock import SandboxClock
from shopify_sandbox.cost import actual_cost, oversized_inputs, requested_cost
from shopify_sandbox.faults import FaultPlan, FaultRule
from shopify_sandbox.mutations import mutation_resolvers
from shopify_sandbox.resolvers import (
    QUERY_RESOLVERS,
    RequestContext,
    default_resolver,
    resolve_node_type,
)
from shopify_sandbox.state import SUPPORTED_VERSIONS, Store
from shopify_sandbox.throttle import MAX_QUERY_COST
from shopify_sandbox.webhooks import Dispatcher

logger = logging.getLogger(__name__)
SDL_PATH = Path(__file__).with_name("schema.graphql")
ANSWER_FAULTS = ("stuck_cursor", "null_field")  # a real answer, altered
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"


def load_schema() -> GraphQLSchema:
    """The sandbox schema with its resolvers attached."""
    schema = build_schema(SDL_PATH.read_text())
    for resolvers in (QUERY_RESOLVERS, mutation_resolvers(), returns.RESOLVERS):
        for type_name, fields in resolvers.items():
            type_ = schema.type_map[type_name]
            for field_name, resolver in fields.items():
                type_.fields[field_name].resolve = resolver
    schema.type_map["Node"].resolve_type = resolve_node_type
    schema.type_map["ReturnLineItemType"].resolve_type = resolve_node_type
    return schema


@dataclass
class Response:
    """What the transport sends: a status and JSON body, or an action instead."""

    status: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # "drop" or "hang"
    hang_seconds: float = 0.0


class Sandbox:
    """Many stores behind one endpoint; the Python API the tests and the server share."""

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.stores: dict[str, Store] = {}
        self.faults: dict[str, FaultPlan] = {}
        self._documents: dict[str, tuple[Any, list[GraphQLError]]] = {}
        # Per store: called with (store, root field names) just before a request runs, so a
        # test can make the world change between a client's read and its write.
        self.before_request: dict[str, Any] = {}
        self.webhooks = Dispatcher(self.clock)  # webhooks.py

    @cached_property
    def schema(self) -> GraphQLSchema:
        return load_schema()

    def _parsed(self, query: str) -> tuple[Any, list[GraphQLError]]:
        """Parses and validates a document once; clients send the same few over and over."""
        cached = self._documents.get(query)
        if cached is None:
            document = parse(query)
            cached = (document, validate(self.schema, document))
            if len(self._documents) < 512:
                self._documents[query] = cached
        return cached

    def add_store(self, handle: str, token: str, **settings: Any) -> Store:
        if handle in self.stores:
            raise ValueError(f"store {handle!r} exists already")
        store = Store(handle, token, self.clock, **settings)
        store.dispatcher = self.webhooks
        self.stores[handle] = store
        return store

    def reset(self) -> None:
        self.webhooks.reset()
        self.stores.clear()
        self.faults.clear()

    def set_faults(self, handle: str, rules: list[FaultRule], seed: int = 0) -> None:
        self.stores[handle]
        self.faults[handle] = FaultPlan(rules, seed)

    def clear_faults(self, handle: str | None = None) -> None:
        if handle is None:
            self.faults.clear()
        else:
            self.faults.pop(handle, None)

    # -- the GraphQL endpoint ------------------------------------------------------------------

    def handle_graphql(
        self,
        handle: str,
        version: str,
        token: str | None,
        raw_body: bytes,
        *,
        base_url: str,
        cost_debug: bool = False,
    ) -> Response:
        store = self.stores.get(handle)
        if store is None or version not in SUPPORTED_VERSIONS:
            return Response(404, {"errors": "Not Found"})
        if not store.authorized(token):
            return Response(
                401,
                {"errors": INVALID_TOKEN},
            )
        try:
            body = json.loads(raw_body or b"{}")
            query = body["query"]
            variables = body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return Response(400, {"errors": {"query": "Required parameter missing or invalid"}})
        try:
            document, errors = self._parsed(query)
        except GraphQLSyntaxError as exc:
            return Response(200, {"errors": [exc.formatted]})
        if errors:
            return Response(200, {"errors": [e.formatted for e in errors]})
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = body.get("operationName")
        operation = next(
            (o for o in operations if not chosen or (o.name and o.name.value == chosen)), None
        )
        if operation is None:
            return Response(200, {"errors": [{"message": f"Unknown operation {chosen}"}]})
        name = operation.name.value if operation.name else "anonymous"
        roots = {
            s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
        }
        with store.lock:
            store.run_due_jobs()
            store.usage.requests += 1
            store.usage.by_operation[name] = store.usage.by_operation.get(name, 0) + 1
        fault = self.faults.get(handle)
        rule = fault.pick({name, *roots}) if fault else None
        if rule is not None and not rule.after_apply and rule.kind not in ANSWER_FAULTS:
            store.usage.faults += 1
            return self._log(store, name, 0, 0, rule.kind, self._fault_response(store, rule))
        response, requested, actual = self._run(
            store, document, operation, variables, version, base_url, cost_debug, roots,
            app=store.grants.owners.get(token or ""),
        )  # fmt: skip
        if rule is not None and rule.kind in ANSWER_FAULTS:
            store.usage.faults += 1
            if rule.kind == "stuck_cursor":
                _stick_cursors(response.body, (variables or {}).get("after"))
            else:
                _null_field(response.body, rule.field)
            return self._log(store, name, requested, actual, rule.kind, response)
        if rule is not None:
            store.usage.faults += 1
            return self._log(
                store, name, requested, actual, rule.kind, self._fault_response(store, rule)
            )
        outcome = (
            "throttled"
            if _throttled(response)
            else ("ok" if response.status == 200 else str(response.status))
        )
        return self._log(store, name, requested, actual, outcome, response)

    def _run(
        self,
        store: Store,
        document: Any,
        operation: OperationDefinitionNode,
        variables: dict,
        version: str,
        base_url: str,
        cost_debug: bool,
        roots: set[str],
        app: str | None = None,
    ) -> tuple[Response, int, int]:
        input_errors = oversized_inputs(variables)
        if input_errors:
            return Response(200, {"errors": [e.formatted for e in input_errors]}), 0, 0
        refused = denied(self.schema, document, operation, store.scopes)
        if refused:
            return Response(200, {"errors": refused, "data": None}), 0, 0
        report = requested_cost(self.schema, document, operation, variables, store.cost_divisor)
        if report.errors:
            return Response(200, {"errors": [e.formatted for e in report.errors]}), 0, 0
        requested = report.requested
        if requested > MAX_QUERY_COST:
            return (
                Response(
                    200,
                    {
                        "errors": [
                            {
                                "message": f"Query cost is {requested}, which exceeds the single "
                                f"query max cost limit ({MAX_QUERY_COST}).",
                                "extensions": {
                                    "code": "MAX_COST_EXCEEDED",
                                    "cost": requested,
                                    "maxCost": MAX_QUERY_COST,
                                    "documentation": RATE_LIMIT_DOCS,
                                },
                            }
                        ]
                    },
                ),
                requested,
                0,
            )
        with store.lock:
            if "orderCreate" in roots:
                wait = store.record_order_create()
                if wait is not None:
                    return (
                        Response(
                            429,
                            {"errors": "Exceeded 5 orders per minute for a development store."},
                            {"Retry-After": f"{wait:.1f}"},
                        ),
                        0,
                        0,
                    )
            if not store.bucket.try_take(requested):
                store.usage.throttled += 1
                return Response(200, self._throttled_body(store, requested)), requested, 0
            hook = self.before_request.get(store.handle)
            if hook is not None:
                hook(store, roots)
            ctx = RequestContext(store=store, version=version, base_url=base_url, app=app)
            result = execute(
                self.schema,
                document,
                operation_name=operation.name.value if operation.name else None,
                variable_values=variables,
                context_value=ctx,
                field_resolver=default_resolver,
            )
            actual = actual_cost(
                self.schema, document, operation, variables, result.data or {}, store.cost_divisor
            )
            store.bucket.refund(max(0, requested - actual))
            store.usage.cost_requested += requested
            store.usage.cost_actual += actual
            spent = store.usage.cost_by_operation
            key = operation.name.value if operation.name else "anonymous"
            spent[key] = spent.get(key, 0.0) + actual
            cost = {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": store.bucket.status().as_json(),
            }
        if cost_debug:
            cost["fields"] = report.fields
        body: dict[str, Any] = {"data": result.data, "extensions": {"cost": cost}}
        if ctx.search_warnings:
            body["extensions"]["search"] = [
                {"warnings": [{"message": w} for w in ctx.search_warnings]}
            ]
        if result.errors:
            body["errors"] = [_format(e) for e in result.errors]
        return Response(200, body), requested, actual

    def _throttled_body(self, store: Store, requested: int) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
                }
            ],
            "extensions": {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": None,
                    "throttleStatus": store.bucket.status().as_json(),
                }
            },
        }

    def _fault_response(self, store: Store, rule: FaultRule) -> Response:
        if rule.kind in ("timeout", "apply_then_timeout"):
            return Response(0, action="hang", hang_seconds=rule.hang_seconds)
        if rule.kind in ("drop", "apply_then_drop"):
            return Response(0, action="drop")
        if rule.kind == "throttled":
            store.usage.throttled += 1
            return Response(200, self._throttled_body(store, 0))
        if rule.kind == "too_many_requests":
            return Response(
                429, {"errors": "Exceeded rate limit"}, {"Retry-After": str(rule.retry_after)}
            )
        if rule.status == 401:  # a token revoked while a run goes on
            return Response(401, {"errors": INVALID_TOKEN})
        return Response(
            rule.status,
            {"errors": "Internal Server Error"} if rule.status < 503 else "Service Unavailable",
        )

    def _log(
        self, store: Store, name: str, requested: int, actual: int, outcome: str, response: Response
    ) -> Response:
        entry = {
            "at": self.clock.monotonic(),
            "operation": name,
            "requested": requested,
            "actual": actual,
            "outcome": outcome,
            "status": response.status,
        }
        store.request_log.append(entry)
        logger.debug("sandbox %s %s cost=%s/%s %s", store.handle, name, requested, actual, outcome)
        return response


def _throttled(response: Response) -> bool:
    body = response.body
    return isinstance(body, dict) and any(
        (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in body.get("errors") or []
        if isinstance(e, dict)
    )


def _format(error: GraphQLError) -> dict[str, Any]:
    formatted = error.formatted
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        logger.exception("sandbox resolver failed", exc_info=error.original_error)
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
    return formatted


def _stick_cursors(body: Any, after: str | None) -> None:
    """The ``stuck_cursor`` fault: every page claims a next page, and a page asked for with a
    cursor hands back that same cursor (the first page keeps its real one)."""
    if isinstance(body, dict):
        info = body.get("pageInfo")
        if isinstance(info, dict) and "hasNextPage" in info:
            info.update(hasNextPage=True, endCursor=after or info.get("endCursor") or "stuck")
        for value in body.values():
            _stick_cursors(value, after)
    elif isinstance(body, list):
        for value in body:
            _stick_cursors(value, after)


def _null_field(body: Any, name: str | None) -> None:
    """The ``null_field`` fault: every ``name`` in the answer comes back null."""
    if isinstance(body, dict):
        for key in body:
            if key == name:
                body[key] = None
            else:
                _null_field(body[key], name)
    elif isinstance(body, list):
        for value in body:
            _null_field(value, name)
