"""Relay cursor pagination as Shopify serves it: ``first``/``last`` required, at most 250."""

from __future__ import annotations

import base64
import bisect
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
    key: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """One page of ``records`` per the connection arguments, in Shopify's response shape.

    Cursors carry the sort key and id of their record, so a page boundary stays put when
    records are added or removed elsewhere in the list. Sorted by id unless ``key`` is given.
    """
    if key is None:
        # Ids only grow and records are stored in creation order, so this is usually sorted
        # already; the check costs far less than sorting 100,000 records on every page.
        rows = list(records)
        ids = [r.id for r in rows]
        if ids != sorted(ids):
            rows.sort(key=lambda r: r.id)
            ids = [r.id for r in rows]
        positions: Any = _IdPositions(ids)
    else:
        decorated = sorted(((sort_value(key(r)), r.id, r) for r in records), key=lambda t: t[:2])
        rows = [t[2] for t in decorated]
        positions = [t[:2] for t in decorated]
    if args.get("reverse"):
        rows.reverse()
        positions.reverse()
    start, stop = 0, len(rows)
    has_next = has_previous = False
    if not bulk:
        first, last = args.get("first"), args.get("last")
        check_page_size(first, last)
        reverse = bool(args.get("reverse"))
        if args.get("after"):
            start = _boundary(positions, tuple(_decode(args["after"])), reverse)
        if args.get("before"):
            stop = _boundary(positions, tuple(_decode(args["before"])), reverse, before=True)
        stop = max(start, stop)
        if first is not None and stop - start > first:
            stop, has_next = start + first, True
        if last is not None and stop - start > last:
            start, has_previous = stop - last, True
        has_previous = has_previous or bool(args.get("after"))
    edges = [{"cursor": _cursor(*positions[i]), "node": rows[i]} for i in range(start, stop)]
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


def _boundary(positions: Any, mark: tuple, reverse: bool, before: bool = False) -> int:
    """Index of the first position after ``mark`` (or, with ``before``, of ``mark`` itself or
    the first past it), in the list's own order."""
    if isinstance(positions, _IdPositions):
        return positions.boundary(mark, reverse, before)
    if reverse:
        keys = [_Desc(p) for p in positions]
        target = _Desc(mark)
    else:
        keys, target = positions, mark
    return bisect.bisect_left(keys, target) if before else bisect.bisect_right(keys, target)


class _IdPositions:
    """Positions of records sorted by id, without building a tuple per record."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.reversed = False

    def reverse(self) -> None:
        self.reversed = not self.reversed

    def __getitem__(self, index: int) -> tuple[int, int]:
        value = self.ids[len(self.ids) - 1 - index] if self.reversed else self.ids[index]
        return (value, value)

    def boundary(self, mark: tuple, reverse: bool, before: bool) -> int:
        target = int(mark[1])
        if reverse:
            keys = [-i for i in reversed(self.ids)]
            target = -target
        else:
            keys = self.ids
        return bisect.bisect_left(keys, target) if before else bisect.bisect_right(keys, target)


class _Desc:
    """Inverts ordering, so bisect works on a descending list."""

    __slots__ = ("value",)

    def __init__(self, value: tuple) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return other.value < self.value
