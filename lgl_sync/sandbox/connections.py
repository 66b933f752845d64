"""Relay cursor pagination as Shopify serves it: ``first``/``last`` required, at most 250."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from graphql import GraphQLError

MAX_PAGE_SIZE = 250


def _cursor(key: Any, record_id: int) -> str:
    return base64.b64encode(json.dumps([key, record_id]).encode()).decode()


def _decode(cursor: str) -> tuple[Any, int]:
    try:
        key, record_id = json.loads(base64.b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc
    return key, record_id


def sort_value(value: Any) -> Any:
    """A JSON-safe value that orders like ``value`` (datetimes as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""
    return value


def check_page_size(first: int | None, last: int | None) -> None:
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and (size < 0 or size > MAX_PAGE_SIZE):
            raise GraphQLError(
                f"The {name} argument must be between 0 and {MAX_PAGE_SIZE} (got {size}).",
                extensions={"code": "BAD_REQUEST"},
            )


def connection(
    records: Iterable[Any],
    args: dict[str, Any],
    *,
    bulk: bool = False,
    key: Callable[[Any], Any] = lambda r: r.id,
) -> dict[str, Any]:
    """One page of ``records`` per the connection arguments, in Shopify's response shape.

    Cursors carry the sort key and id of their record, so a page boundary stays put when
    records are added or removed elsewhere in the list.
    """
    ordered = sorted(((sort_value(key(r)), r.id, r) for r in records), key=lambda t: t[:2])
    if args.get("reverse"):
        ordered.reverse()
    if bulk:
        page = ordered
        has_next = has_previous = False
    else:
        first, last = args.get("first"), args.get("last")
        check_page_size(first, last)
        before_cut = ordered
        if args.get("after"):
            after = tuple(_decode(args["after"]))
            before_cut = [t for t in ordered if _after(t[:2], after, args.get("reverse"))]
        if args.get("before"):
            before = tuple(_decode(args["before"]))
            before_cut = [t for t in before_cut if _after(before, t[:2], args.get("reverse"))]
        page = before_cut
        has_next = has_previous = False
        if first is not None:
            has_next = len(page) > first
            page = page[:first]
        if last is not None:
            has_previous = len(page) > last
            page = page[-last:] if last else []
        has_previous = has_previous or bool(args.get("after"))
    edges = [{"cursor": _cursor(k, i), "node": r} for k, i, r in page]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _after(position: tuple, mark: tuple, reverse: bool | None) -> bool:
    return position < mark if reverse else position > mark
