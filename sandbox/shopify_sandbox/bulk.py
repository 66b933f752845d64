"""Bulk operations (FACTS.md §2): a query run in the background, its result a JSONL file.

Nested connections are flattened: each child object is its own line with ``__parentId``. With
``groupObjects: false`` (the default since 2026-01) children are not next to their parent; the
sandbox writes every root object first and the children after them, so a reader that assumes
grouping fails here as it would on Shopify.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from graphql import (
    FieldNode,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    execute,
    get_named_type,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError

from shopify_sandbox.bulk_execution import BulkExecutor, Unsupported
from shopify_sandbox.models import BulkOperation
from shopify_sandbox.resolvers import RequestContext, default_resolver
from shopify_sandbox.state import SandboxError, Store, next_id

MAX_CONCURRENT_QUERIES = 5  # per app and shop from 2026-01
MAX_CONNECTIONS = 5
MAX_NESTING = 2
# Seconds a bulk job takes at the least, and objects it writes per second (sandbox clock).
MIN_DURATION = 1.0
OBJECTS_PER_SECOND = 20_000.0
PROGRESS_STEPS = 20  # objectCount moves on this many times over a job's duration


def _user_error(message: str, code: str = "INVALID") -> dict[str, Any]:
    return {
        "bulkOperation": None,
        "userErrors": [{"field": ["query"], "message": message, "code": code}],
    }


def _connections(selection_set: Any, parent: Any, depth: int, found: list[int]) -> None:
    for sel in selection_set.selections if selection_set else ():
        if not isinstance(sel, FieldNode) or sel.name.value not in getattr(parent, "fields", {}):
            continue
        named = get_named_type(parent.fields[sel.name.value].type)
        if named.name.endswith("Connection"):
            found.append(depth + 1)
            for inner in sel.selection_set.selections:
                if inner.name.value in ("edges", "nodes"):
                    node_parent = named.fields[inner.name.value].type
                    node_type = get_named_type(node_parent)
                    target = inner.selection_set
                    if inner.name.value == "edges":
                        node_fields = [s for s in target.selections if s.name.value == "node"]
                        target = node_fields[0].selection_set if node_fields else None
                        node_type = get_named_type(node_type.fields["node"].type)
                    _connections(target, node_type, depth + 1, found)
        else:
            _connections(sel.selection_set, named, depth, found)


def bulk_operation_run_query(
    _: Any, info: GraphQLResolveInfo, query: str, groupObjects: bool = False
) -> dict:
    """Validates a bulk query and starts it in the background."""
    ctx: RequestContext = info.context
    store = ctx.store
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        return _user_error(f"Invalid bulk query: {exc.message}")
    errors = validate(info.schema, document)
    if errors:
        return _user_error(f"Invalid bulk query: {errors[0].message}")
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    roots = [s.name.value for s in operation.selection_set.selections]
    if any(name in ("node", "nodes") for name in roots):
        return _user_error("Bulk queries cannot contain a top level `node` or `nodes` field.")
    depths: list[int] = []
    _connections(operation.selection_set, info.schema.query_type, 0, depths)
    if not depths:
        return _user_error("Bulk queries must contain at least one connection.")
    if len(depths) > MAX_CONNECTIONS:
        return _user_error(f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections.")
    if max(depths) > MAX_NESTING:
        return _user_error(
            "Bulk queries cannot contain connections with a nesting depth "
            f"greater than {MAX_NESTING}."
        )
    running = [
        op
        for op in store.bulk_operations.values()
        if op.type == "QUERY" and op.status in ("CREATED", "RUNNING")
    ]
    if len(running) >= MAX_CONCURRENT_QUERIES:
        return _user_error(
            "A bulk query operation limit has been reached for this app and shop.", "LIMIT_REACHED"
        )
    op = BulkOperation(id=next_id(), query=query, status="CREATED", created_at=store.now())
    store.bulk_operations[op.id] = op
    worker = threading.Thread(
        target=_run, args=(info.schema, store, op, document, groupObjects, ctx), daemon=True
    )
    worker.start()
    return {"bulkOperation": op, "userErrors": []}


def _run(
    schema: Any,
    store: Store,
    op: BulkOperation,
    document: Any,
    group: bool,
    request: RequestContext,
) -> None:
    started = store.clock.monotonic()
    op.status = "RUNNING"
    ctx = RequestContext(store=store, version=request.version, base_url=request.base_url, bulk=True)
    with store.lock:
        data, errors = _execute(schema, document, ctx)
        failure = store.__dict__.pop("bulk_failure", None)
    if errors or failure:
        op.status, op.error_code = "FAILED", failure or "INTERNAL_SERVER_ERROR"
        op.completed_at = store.now()
        return
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    op.object_count, done = 0, [0]

    def written(lines: int) -> None:
        # objectCount grows as the file is written, never faster than the modelled pace.
        done[0] += lines
        pace = int((store.clock.monotonic() - started) * OBJECTS_PER_SECOND)
        op.object_count = min(done[0], pace)

    objects = _objects(operation.selection_set, schema.query_type, data, None, written)
    roots = [line for line, _ in objects]
    if group:
        lines = [line for root, nested in objects for line in (root, *nested)]
    else:
        lines = roots + [line for _, nested in objects for line in nested]
    duration = max(MIN_DURATION, len(lines) / OBJECTS_PER_SECOND)
    # objectCount is "the running count of all objects processed" (docs/sandbox.md): it grows
    # over the job's modelled duration, so a client can tell how far along a job is.
    remaining = max(0.0, started + duration - store.clock.monotonic())
    for step in range(1, PROGRESS_STEPS + 1):
        store.clock.sleep(remaining / PROGRESS_STEPS)
        op.object_count = max(op.object_count, len(lines) * step // PROGRESS_STEPS)
    op.body = ("\n".join(lines) + "\n").encode() if lines else b""
    op.object_count = len(lines)
    op.root_object_count = len(roots)
    op.file_size = len(op.body) if lines else None
    op.url = f"{request.base_url}/_sandbox/bulk/{store.handle}/{op.id}.jsonl" if lines else None
    op.completed_at = store.now()
    op.status = "COMPLETED"


def _execute(schema: Any, document: Any, ctx: RequestContext) -> tuple[dict | None, list]:
    """The query's data and errors: by the lean executor (``bulk_execution.py``), or by
    graphql-core for a document it does not cover. A resolver error fails the operation."""
    try:
        return BulkExecutor(schema, document, ctx, default_resolver).run(), []
    except Unsupported:
        result = execute(schema, document, context_value=ctx, field_resolver=default_resolver)
        return result.data, list(result.errors or [])
    except Exception as exc:  # as graphql-core: an error in the result
        return None, [exc]


def _objects(
    selection_set: Any, parent: Any, data: dict, parent_id: str | None, written=None
) -> list[tuple[str, list[str]]]:
    """Each connection node under ``selection_set`` as (its JSONL line, its descendants' lines).

    Nested connections are removed from their parent object and become lines of their own
    carrying ``__parentId``; other nested objects stay inline, as on Shopify.
    """
    found: list[tuple[str, list[str]]] = []
    for sel in selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.name.value not in parent.fields:
            continue
        named = get_named_type(parent.fields[sel.name.value].type)
        if not named.name.endswith("Connection"):
            continue
        value = data.pop((sel.alias or sel.name).value, None) or {}
        for inner in sel.selection_set.selections:
            if inner.name.value not in ("edges", "nodes"):
                continue
            items = value.get((inner.alias or inner.name).value) or []
            node_type = get_named_type(named.fields[inner.name.value].type)
            node_selection = inner.selection_set
            if inner.name.value == "edges":
                node_sel = next(s for s in inner.selection_set.selections if s.name.value == "node")
                node_type = get_named_type(node_type.fields["node"].type)
                node_selection = node_sel.selection_set
                items = [edge.get((node_sel.alias or node_sel.name).value) for edge in items]
            for node in items:
                nested = _objects(node_selection, node_type, node, node.get("id"))
                if parent_id is not None:
                    node["__parentId"] = parent_id
                line = json.dumps(node, separators=(",", ":"), default=str)
                found.append((line, [x for child, more in nested for x in (child, *more)]))
                if written is not None:
                    written(1 + len(found[-1][1]))
            break
    return found


def fail_next_bulk(store: Store, error_code: str = "INTERNAL_SERVER_ERROR") -> None:
    """Makes the store's next bulk operation end FAILED with this error code."""
    if error_code not in ("ACCESS_DENIED", "INTERNAL_SERVER_ERROR", "TIMEOUT"):
        raise SandboxError(f"unknown bulk error code {error_code}")
    store.__dict__["bulk_failure"] = error_code
