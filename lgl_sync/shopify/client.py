"""One client for Shopify's Admin GraphQL API, per store.

It paces itself by Shopify's cost figures, retries what is safe to retry, and reports an
ambiguous write as such instead of retrying it blindly (FACTS.md §1, §1.4).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from lgl_sync import settings
from lgl_sync.shopify.bulk import bulk_objects, run_bulk_query
from lgl_sync.shopify.documents import document
from lgl_sync.shopify.domains import store_domain
from lgl_sync.shopify.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    NetworkError,
    NotFoundError,
    ServerError,
    ShopifyError,
    ThrottledError,
    UserErrorsError,
    ValidationError,
)
from lgl_sync.shopify.metrics import ClientMetrics
from lgl_sync.shopify.throttle import Clock, ThrottleGate, default_clock
from lgl_sync.shopify.tokens import StaticToken, TokenSource

logger = logging.getLogger(__name__)
DEFAULT_API_VERSION = "2026-10"
_FIRST_GUESS_COST = 50.0
MAX_PAGE = 250  # Shopify's largest ``first``
# A page's requested cost aims under Shopify's 1,000-point cap by this much: the observed cost
# is rounded up per connection, so a page sized from the last one can cost a point or two more.
PAGE_COST_TARGET = 960
# Page sizes learnt from the cost Shopify reported, per store endpoint and query, shared by
# every client of this process (a run reads one store through several clients).
_LEARNT_PAGES: dict[tuple[str, str], int] = {}


def endpoint_url(domain: str, api_version: str) -> str:
    """The GraphQL URL for a store: ``shop.myshopify.com`` over https, or a local base URL
    (the sandbox) when allowed."""
    value = store_domain(domain)
    base = value if value.startswith(("http://", "https://")) else f"https://{value}"
    return f"{base}/admin/api/{api_version}/graphql.json"


def idempotency_key(*business_key: object) -> str:
    """A deterministic key for an ``@idempotent`` mutation from its business key (e.g. retailer,
    run id, batch number): a retry of the same logical write sends the same key, so Shopify
    applies it once."""
    text = "\x1f".join(str(part) for part in business_key)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _sent_before_failure(exc: requests.RequestException) -> bool:
    """False when the request provably never reached the server (refused, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or type(cause).__name__ in (
            "NewConnectionError",
            "NameResolutionError",
        ):
            return False
        cause = (
            cause.__cause__
            or cause.__context__
            or (cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None)
        )
    return True


class ShopifyClient:
    """Talks to one store. Keyword-only configuration; nothing here ever prints the token."""

    def __init__(
        self,
        *,
        domain: str,
        token: str | None = None,
        tokens: TokenSource | None = None,
        api_version: str = DEFAULT_API_VERSION,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        max_throttle_seconds: float = 900.0,
        max_sleep_seconds: float | None = None,
        max_pages: int | None = None,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        seed: int | None = None,
    ) -> None:
        if not token and tokens is None:
            raise ConfigError("no access token for the store")
        self.endpoint = endpoint_url(domain, api_version)
        self.api_version = api_version
        self.metrics = ClientMetrics()
        self._tokens = tokens or StaticToken(token or "")
        self._headers = {"Content-Type": "application/json"}
        self._timeout = (
            connect_timeout or settings.connect_timeout(),
            read_timeout or settings.read_timeout(),
        )
        self._max_attempts = max_attempts
        self._max_retry_seconds = max_retry_seconds
        self._max_throttle_seconds = max_throttle_seconds
        self.max_sleep_seconds = max_sleep_seconds or settings.max_sleep_seconds()
        self._max_pages = max_pages or settings.max_pages()
        self._clock = clock or default_clock()
        self._random = random.Random(seed)
        self._gate = ThrottleGate(self._clock, self._random)
        self._expected_cost: dict[str, float] = {}
        # The share of the store's bucket this client leaves unspent for the store's other
        # clients (a backlog import sets it: see ``leaving``).
        self.reserve = 0.0
        self._session = session or requests.Session()
        self._session.mount("https://", HTTPAdapter(pool_maxsize=8))
        self._session.mount("http://", HTTPAdapter(pool_maxsize=8))

    def __repr__(self) -> str:
        return f"ShopifyClient(endpoint={self.endpoint!r})"

    def close(self) -> None:
        self._session.close()

    # -- calls ---------------------------------------------------------------------------------

    def query(self, name: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runs the named query; retried on throttling, 5xx, 429 and network errors."""
        return self._execute(name, variables or {}, retry_ambiguous=True)

    def mutate(
        self,
        name: str,
        variables: dict[str, Any] | None = None,
        *,
        idempotent: bool,
        before_attempt: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Runs the named mutation.

        Args:
            name: the operation name of a document in ``queries/``.
            variables: its variables (for an ``@idempotent`` mutation, including the key).
            idempotent: True only when Shopify deduplicates the write (``@idempotent``); then
                every failure is retried. Otherwise a failure after sending raises
                AmbiguousOutcomeError so the caller reconciles first.
            before_attempt: called right before each HTTP attempt, retries included (after
                every wait); raising there stops the call with nothing sent. A claim on a
                write checks and renews itself here (a fence).

        Returns:
            The response's ``data``; ``userErrors`` stay in it (see ``raise_user_errors``).
        """
        return self._execute(
            name, variables or {}, retry_ambiguous=idempotent, before_attempt=before_attempt
        )

    def paginate(
        self, name: str, variables: dict[str, Any] | None = None, *, path: str, page_size: int = 250
    ) -> Iterator[dict[str, Any]]:
        """Yields every node of the connection at ``path`` (dotted, e.g. ``order.lineItems``),
        following ``pageInfo.endCursor`` to the last page. A cursor that does not move on, or
        more than ``LGL_MAX_PAGES`` pages, ends the read with an error instead of looping.

        ``page_size`` is what Shopify's documented cost formula allows under its 1,000-point
        cap; real Shopify reports far less (FACTS.md §9), so each next page asks for as many
        nodes as fit under the cap at the cost the last page reported (at most 250), and the
        size is remembered for this store and query. A page refused for its cost
        (MAX_COST_EXCEEDED) is asked again at half the size, never below ``page_size``."""
        fixed = "first" in (variables or {})
        key = (self.endpoint, name)
        size = page_size if fixed else max(page_size, _LEARNT_PAGES.get(key, page_size))
        page_variables = {"first": size, **(variables or {})}
        seen: set[str] = set()
        for _ in range(self._max_pages):
            try:
                data = self.query(name, page_variables)
            except ValidationError as error:
                if fixed or size <= page_size or not _cost_exceeded(error):
                    raise
                size = _LEARNT_PAGES[key] = max(page_size, size // 2)
                page_variables["first"] = size
                continue
            if not fixed:
                size = page_variables["first"] = self._next_page_size(key, size, page_size)
            connection = _dig(data, path)
            if connection is None:
                return
            yield from connection_nodes(connection)
            info = connection["pageInfo"]
            if not info["hasNextPage"]:
                return
            cursor = info.get("endCursor")
            if not cursor or cursor in seen:
                raise ServerError(
                    f"{name}: Shopify returned the cursor of an earlier page again; the read "
                    "stops instead of looping",
                    operation=name,
                )
            seen.add(cursor)
            page_variables["after"] = cursor
        raise ServerError(
            f"{name}: more than {self._max_pages} pages (LGL_MAX_PAGES); the read stops",
            operation=name,
        )

    def _next_page_size(self, key: tuple[str, str], size: int, page_size: int) -> int:
        requested = self._expected_cost.get(key[1])
        if not requested:
            return size
        grown = min(MAX_PAGE, max(page_size, int(size * PAGE_COST_TARGET / requested)))
        _LEARNT_PAGES[key] = grown
        return grown

    def complete(
        self,
        connection: dict[str, Any],
        name: str,
        variables: dict[str, Any],
        *,
        path: str,
        page_size: int = 250,
    ) -> list[dict[str, Any]]:
        """Every node of a connection whose first page came nested in another answer: that
        page's nodes, then the rest read with the query ``name`` from its end cursor. The one
        way to read a nested connection, so that none silently stops at its first page."""
        if "pageInfo" not in connection:
            raise ValueError(f"{name}: the nested connection must select pageInfo")
        found = connection_nodes(connection)
        info = connection["pageInfo"]
        if info.get("hasNextPage"):
            rest = {**variables, "after": info.get("endCursor")}
            found += self.paginate(name, rest, path=path, page_size=page_size)
        return found

    def bulk_query(self, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Runs the named query as a bulk operation; root objects with children re-nested."""
        return run_bulk_query(self, document(name), **kwargs)

    def bulk_objects(
        self, name: str, *, literals: dict[str, str] | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Runs the named query as a bulk operation; its objects one at a time, streamed.
        ``literals`` replace placeholders in the query's text (a bulk query takes no
        variables); each must be plain text, never quotes or backslashes."""
        text = document(name)
        for placeholder, value in (literals or {}).items():
            if any(c in value for c in "'\"\\") or placeholder not in text:
                raise ValueError(f"{name}: cannot put {value!r} in place of {placeholder}")
            text = text.replace(placeholder, value)
        return bulk_objects(self, text, **kwargs)

    def download_lines(self, url: str) -> Iterator[bytes]:
        """A bulk result file's lines as they stream in (no token: a signed storage URL)."""
        try:
            with self._session.get(url, timeout=self._timeout, stream=True) as response:
                if response.status_code != 200:
                    raise ServerError(
                        f"bulk result download answered {response.status_code}",
                        status=response.status_code,
                    )
                yield from response.iter_lines(chunk_size=1 << 16)
        except requests.RequestException as exc:
            raise NetworkError(f"bulk result download failed: {type(exc).__name__}") from None

    def download(self, url: str) -> bytes:
        """Fetches a bulk result file. No token is sent: the URL is a signed storage URL."""
        try:
            response = self._session.get(url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise NetworkError(f"bulk result download failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ServerError(
                f"bulk result download answered {response.status_code}", status=response.status_code
            )
        return response.content

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- the loop ------------------------------------------------------------------------------

    def _execute(
        self,
        name: str,
        variables: dict[str, Any],
        *,
        retry_ambiguous: bool,
        before_attempt: Callable[[], None] | None = None,
    ) -> dict:
        text = document(name)
        body = json.dumps({"query": text, "variables": variables, "operationName": name})
        started = self._clock.monotonic()
        throttle_spent = 0.0
        throttled_in_a_row = 0
        attempt = 0
        while True:
            self._wait_for_bucket(name)
            if before_attempt is not None:
                before_attempt()
            failure, ambiguous, retry_after = self._attempt(name, body)
            if isinstance(failure, dict):
                return failure
            if failure is None:  # throttled: wait for the bucket, not counted as a failure
                # Throttled again: other clients share the bucket, so spread out further, but
                # never past the single-wait cap (the total is bounded below).
                throttled_in_a_row += 1
                spread = retry_after * (1 + self._random.uniform(0, throttled_in_a_row - 1))
                retry_after = min(spread, self.max_sleep_seconds)
                throttle_spent += retry_after
                if throttle_spent > self._max_throttle_seconds:
                    raise ThrottledError(
                        f"still throttled after {throttle_spent:.0f}s", operation=name
                    )
                self._sleep(retry_after, name, "Shopify's throttle")
                self.metrics.throttle_wait_seconds += retry_after
                continue
            if ambiguous and not retry_ambiguous:
                raise AmbiguousOutcomeError(
                    f"outcome unknown after {failure.args[0]}",
                    category=failure.category,
                    status=failure.status,
                    operation=name,
                )
            attempt += 1
            self.metrics.retries[failure.category] += 1
            elapsed = self._clock.monotonic() - started
            if attempt >= self._max_attempts or elapsed > self._max_retry_seconds:
                raise failure
            backoff = self._random.uniform(0, min(30.0, 0.5 * 2**attempt))
            logger.info("retrying %s after %s (attempt %d)", name, failure, attempt + 1)
            self._sleep(max(backoff, retry_after), name, f"a retry after {failure.args[0]}")

    def _wait_for_bucket(self, name: str) -> None:
        """Waits until the store's bucket can pay for this query (Shopify's throttleStatus)."""
        expected = self._expected_cost.get(name, _FIRST_GUESS_COST)
        wait = self._gate.wait_needed(expected, self.reserve)
        if wait > 0:
            wait = self._gate.jitter(wait)
            self._sleep(wait, name, "the throttle bucket to refill")
            self.metrics.throttle_wait_seconds += wait

    @contextmanager
    def leaving(self, share: float) -> Iterator[None]:
        """Meanwhile every call waits until the bucket holds its cost plus ``share`` of the
        bucket: a long run of calls (a backlog) spends the store's refill without ever taking
        the bucket below ``share``, so the other clients' calls, up to Shopify's 1,000-point
        query cap, find their points at once instead of queuing behind it."""
        before, self.reserve = self.reserve, share
        try:
            yield
        finally:
            self.reserve = before

    def pause(self, seconds: float, name: str, reason: str) -> None:
        """Waits on the client's clock before calling ``name`` again (bounded like every other
        wait by LGL_MAX_SLEEP_SECONDS)."""
        self._sleep(seconds, name, reason)

    def _sleep(self, seconds: float, name: str, reason: str) -> None:
        """Sleeps, unless the wait is longer than ``LGL_MAX_SLEEP_SECONDS``: then the call
        fails at once with the reason, and the next run carries on."""
        if seconds > self.max_sleep_seconds:
            raise ThrottledError(
                f"would have to wait {seconds:.0f}s for {reason}, more than "
                f"LGL_MAX_SLEEP_SECONDS={self.max_sleep_seconds:.0f}; giving up for this run",
                operation=name,
            )
        self._clock.sleep(seconds)

    def _post(self, body: str, token: str) -> requests.Response:
        # Never followed: a redirect would carry the token to wherever it points.
        return self._session.post(
            self.endpoint,
            data=body,
            headers={**self._headers, "X-Shopify-Access-Token": token},
            timeout=self._timeout,
            allow_redirects=False,
        )

    def _attempt(self, name: str, body: str) -> tuple[Any, bool, float]:
        """One HTTP call. Returns (data, _, _) on success; (None, _, wait) when throttled;
        (error, ambiguous, retry_after) when it failed in a retryable way; raises otherwise.
        A token refused with 401 is renewed once (an expired token: nothing ran) and the call
        sent again; refused again, it is an auth failure."""
        start = time.perf_counter()
        try:
            token = self._tokens.current()
            response = self._post(body, token)
            if response.status_code == 401:
                fresh = self._tokens.renewed(token)
                if fresh is not None and fresh != token:
                    self.metrics.token_renewals += 1
                    response = self._post(body, fresh)
        except requests.RequestException as exc:
            self.metrics.record(latency=time.perf_counter() - start)
            kind = "timed out" if isinstance(exc, requests.Timeout) else type(exc).__name__
            return (
                NetworkError(f"{kind} calling {name}", operation=name),
                _sent_before_failure(exc),
                0.0,
            )
        latency = time.perf_counter() - start
        status = response.status_code
        served = response.headers.get("X-Shopify-API-Version")
        if served and served != self.api_version:
            logger.warning("Shopify served API version %s instead of %s", served, self.api_version)
        if status != 200:
            self.metrics.record(latency=latency)
            return self._http_failure(name, response)
        try:
            payload = response.json()
        except ValueError:
            self.metrics.record(latency=latency)
            return ServerError("response was not JSON", status=status, operation=name), True, 0.0
        # The bucket figures are computed after the query ran, just before the answer left.
        observed_at = self._clock.monotonic()
        return self._read_payload(name, payload, latency, observed_at)

    def _http_failure(self, name: str, response: requests.Response) -> tuple[Any, bool, float]:
        """A non-200 answer: raises what no retry can fix; else (error, ambiguous, wait)."""
        status = response.status_code
        if 300 <= status < 400:
            raise ConfigError(
                f"HTTP {status}: {self.endpoint} redirects elsewhere; the request is not followed "
                "with the access token (check the store's domain)",
                status=status,
                operation=name,
            )
        if status in (401, 403):
            raise AuthError(
                f"HTTP {status}: {_shopify_says(response) or 'the access token was refused'}",
                status=status,
                operation=name,
            )
        if status == 404:
            raise NotFoundError(
                f"HTTP 404: no store or API version at {self.endpoint}",
                status=status,
                operation=name,
            )
        if status in (402, 423):
            raise ConfigError(
                f"HTTP {status}: the shop is frozen or locked", status=status, operation=name
            )
        if status == 429:
            retry_after = float(response.headers.get("Retry-After") or 1.0)
            error = ServerError("HTTP 429", category="throttled", status=429, operation=name)
            return error, False, retry_after
        if status >= 500:
            return ServerError(f"HTTP {status}", status=status, operation=name), True, 0.0
        raise ValidationError(
            f"HTTP {status}: the request was refused", status=status, operation=name
        )

    def _read_payload(
        self, name: str, payload: dict, latency: float, observed_at: float
    ) -> tuple[Any, bool, float]:
        cost = (payload.get("extensions") or {}).get("cost") or {}
        requested = float(cost.get("requestedQueryCost") or 0)
        self.metrics.record(
            latency=latency, requested=requested, actual=float(cost.get("actualQueryCost") or 0)
        )
        self._gate.observe(cost.get("throttleStatus"), observed_at)
        if requested:
            self._expected_cost[name] = requested
        errors = payload.get("errors")
        if not errors:
            return payload.get("data") or {}, False, 0.0
        if isinstance(errors, str):
            raise ValidationError(errors, operation=name)
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        messages = "; ".join(str(e.get("message")) for e in errors)[:500]
        if "THROTTLED" in codes:
            self.metrics.throttled_responses += 1
            wait = self._gate.throttled_wait(
                requested or self._expected_cost.get(name, _FIRST_GUESS_COST),
                cost.get("throttleStatus"),
            )
            return None, False, self._gate.jitter(wait)
        if "ACCESS_DENIED" in codes:
            raise AuthError(messages, operation=name)
        if "INTERNAL_SERVER_ERROR" in codes:
            return ServerError(messages, operation=name), True, 0.0
        raise ValidationError(messages, operation=name, details=errors)


def _shopify_says(response: requests.Response) -> str:
    """Shopify's own words in an error answer (``{"errors": "..."}``), one line, short."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return ""
    if isinstance(errors, list):
        errors = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return " ".join(str(errors or "").split())[:200]


def _cost_exceeded(error: ValidationError) -> bool:
    details = error.details if isinstance(error.details, list) else []
    return any(
        (e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED"
        for e in details
        if isinstance(e, dict)
    )


def connection_nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes of a connection, whether selected as ``nodes`` or ``edges { node }``."""
    if connection.get("nodes") is not None:
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges") or []]


def _dig(data: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if data is None:
            return None
        data = data.get(key)
    return data


def raise_user_errors(data: dict[str, Any], field: str, errors_key: str = "userErrors") -> dict:
    """Returns the payload of mutation ``field``, raising UserErrorsError if it has any."""
    payload = data.get(field) or {}
    if payload.get(errors_key):
        raise UserErrorsError(field, payload[errors_key])
    return payload


__all__ = ["DEFAULT_API_VERSION", "ShopifyClient", "ShopifyError", "raise_user_errors"]
