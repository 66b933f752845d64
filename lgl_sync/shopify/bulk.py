"""Bulk queries (FACTS.md §2): start, poll with backoff, download, re-nest the JSONL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from lgl_sync.shopify.errors import ServerError, ThrottledError, UserErrorsError
from lgl_sync.shopify.throttle import Clock

logger = logging.getLogger(__name__)
BUSY_CODES = {"LIMIT_REACHED", "OPERATION_IN_PROGRESS"}
PACE_MARGIN = 1.1  # a poll at the pace so far, a tenth later: rather done than one poll early
PACE_CAP = 120.0  # seconds: a slowing job is still looked at every two minutes


class BulkClient(Protocol):
    """What a bulk query needs of the client (``ShopifyClient`` is one)."""

    clock: Clock

    def query(self, name: str, variables: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def mutate(self, name: str, variables: dict[str, Any], *, idempotent: bool) -> dict: ...

    def download(self, url: str) -> bytes: ...

    def download_lines(self, url: str) -> Iterator[bytes]: ...


def run_bulk_query(client: BulkClient, query: str, **polling: float) -> list[dict[str, Any]]:
    """Runs ``query`` as a bulk operation and returns its root objects.

    Children (lines with ``__parentId``) are attached to their parent under
    ``__children[<GraphQL type>]``, in file order; the file is read whole before re-nesting
    because with ``groupObjects: false`` a child need not follow its parent.
    """
    url = bulk_result_url(client, query, **polling)
    return renest(client.download(url)) if url else []


def bulk_objects(client: BulkClient, query: str, **polling: Any) -> Iterator[dict[str, Any]]:
    """Runs ``query`` as a bulk operation and yields its objects one JSONL line at a time, as
    the file streams in (children keep ``__parentId``): a 100,000-item result is never held
    whole, in bytes or in objects, so a caller keeps only what it needs of each."""
    url = bulk_result_url(client, query, **polling)
    if url:
        for line in client.download_lines(url):
            if line.strip():
                yield json.loads(line)


def bulk_result_url(
    client: BulkClient,
    query: str,
    *,
    poll_start: float = 0.5,
    poll_cap: float = 10.0,
    max_wait: float = 3600.0,
    expected_objects: int | None = None,
) -> str | None:
    """Starts ``query`` as a bulk operation (waiting for a free slot) and polls it to the end,
    with backoff, within ``max_wait``: the result file's URL (None when there is no result).
    ``expected_objects`` (about how many lines the job writes, as the last read found): polls
    at the pace the job's ``objectCount`` shows instead."""
    clock = client.clock
    started = clock.monotonic()
    operation_id = _start(client, query, poll_start, poll_cap, started + max_wait)
    delay, running_since = poll_start, clock.monotonic()
    while True:
        clock.sleep(delay)
        status = client.query("BulkOperationStatus", {"id": operation_id})["bulkOperation"]
        state = status.get("status")
        if state == "COMPLETED":
            break
        if state in ("FAILED", "CANCELED", "EXPIRED"):
            raise ServerError(
                f"bulk operation {state.lower()} ({status.get('errorCode')})",
                operation="bulk",
                details={"partialDataUrl": bool(status.get("partialDataUrl"))},
            )
        if clock.monotonic() - started > max_wait:
            raise ServerError("bulk operation did not finish in time", operation="bulk")
        delay = _next_delay(
            delay,
            poll_cap,
            done=int(status.get("objectCount") or 0),
            expected=expected_objects,
            elapsed=clock.monotonic() - running_since,
        )
    return status.get("url") or None


def _start(client: BulkClient, query: str, delay: float, cap: float, deadline: float) -> str:
    """Starts the bulk operation, waiting with backoff while every slot is taken: its id."""
    clock = client.clock
    while True:
        data = client.mutate("BulkOperationRunQuery", {"query": query}, idempotent=False)
        payload = data["bulkOperationRunQuery"]
        errors = payload.get("userErrors") or []
        if not errors:
            return payload["bulkOperation"]["id"]
        if not BUSY_CODES & {e.get("code") for e in errors}:
            raise UserErrorsError("bulkOperationRunQuery", errors)
        if clock.monotonic() > deadline:
            raise ThrottledError("no bulk operation slot became free", operation="bulk")
        clock.sleep(delay)
        delay = min(cap, delay * 2)


def _next_delay(delay: float, cap: float, *, done: int, expected: int | None, elapsed: float):
    """The wait before the next poll: when the caller knows about how many objects the job
    writes and it has written some, until it should be done at its pace so far (one poll more,
    not a dozen, for a long job); otherwise backing off up to ``cap``."""
    if expected and 0 < done < expected:
        at_pace = (expected - done) * elapsed / done * PACE_MARGIN
        return max(delay, min(PACE_CAP, at_pace))
    return min(cap, delay * 1.5)


def renest(body: bytes) -> list[dict[str, Any]]:
    """JSONL lines -> root objects, children under ``__children[type]``."""
    objects = [json.loads(line) for line in body.splitlines() if line.strip()]
    by_id = {obj["id"]: obj for obj in objects if "id" in obj}
    roots = []
    for obj in objects:
        parent_id = obj.pop("__parentId", None)
        if parent_id is None:
            roots.append(obj)
            continue
        kind = obj.get("id", "gid://shopify/Unknown/0").split("/")[3]
        by_id[parent_id].setdefault("__children", {}).setdefault(kind, []).append(obj)
    return roots
