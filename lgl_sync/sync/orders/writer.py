"""Importing retailer orders into the LGL store exactly once.

``orderCreate`` has no idempotency, so (DESIGN.md, FACTS.md §4.1): the ledger row is written
before the call; the LGL order carries ``sourceIdentifier``; after any ambiguous outcome the LGL
store is searched for that identifier before anything is created again; and a claim left
pending by a crashed run is only taken over once Shopify's search index has had time to show
an order that run may have created.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.engine import Engine

from lgl_sync import settings
from lgl_sync.control_plane import ledger, records, store_facts
from lgl_sync.control_plane.database import aware
from lgl_sync.retailer import Retailer
from lgl_sync.shopify.client import ShopifyClient, raise_user_errors
from lgl_sync.shopify.errors import AmbiguousOutcomeError, ShopifyError
from lgl_sync.sync.lifecycle.rules import lines_fingerprint, wanted_units
from lgl_sync.sync.orders.reads import (
    custom_id_lookup,
    ensure_custom_id_definition,
    find_lgl_order,
    lookup_variants,
    parse_datetime,
    shop_currency,
)
from lgl_sync.sync.orders.rules import (
    IMPORTED_TAG,
    ORDER_OPTIONS,
    EligibleOrder,
    SourceOrder,
    address_fingerprint,
    build_order_input,
    map_lines,
    rejected_fields,
    repaired_input,
)

logger = logging.getLogger(__name__)


class ImportStatus(StrEnum):
    """What happened to one source order in a run."""

    IMPORTED = "imported"
    ALREADY_IMPORTED = "already_imported"
    HELD = "held"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    WOULD_IMPORT = "would_import"


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one source order in this run."""

    source_order_id: str
    source_order_name: str
    status: ImportStatus
    reason: str | None = None
    detail: str | None = None
    lgl_order_id: str | None = None
    lines: int = 0


class OrderImporter:
    """Imports one retailer's orders; every write is recorded so none happens twice."""

    def __init__(
        self,
        *,
        retailer: Retailer,
        source: ShopifyClient,
        lgl: ShopifyClient,
        engine: Engine,
        run_id: str | None,
        dry_run: bool = False,
        reconcile_after: timedelta = timedelta(minutes=2),
        today: date | None = None,
    ) -> None:
        self.retailer = retailer
        self.source = source
        self.lgl = lgl
        self.engine = engine
        self.run_id = run_id
        self.dry_run = dry_run
        self.reconcile_after = reconcile_after
        self.today = today or datetime.now(UTC).date()
        self._currency: str | None = None
        self._currency_lock = threading.Lock()

    def run(self, orders: list[SourceOrder]) -> list[ImportOutcome]:
        """Imports each order; one order's failure never stops the others, except a refused
        token, after which nothing more is created for this retailer in this run.

        Up to LGL_IMPORT_CONCURRENCY orders are imported at once (a backlog is bound by each
        create's round trip, not by the store's budget); each keeps its own claim, create and
        tag, so the exactly-once protocol is the same as one at a time."""
        skus = {line.sku for order in orders for line in order.lines if line.sku}
        variants = lookup_variants(self.lgl, skus)
        outcomes: dict[int, ImportOutcome] = {}
        eligible: list[tuple[int, EligibleOrder]] = []
        for index, order in enumerate(orders):
            mapped, hold = map_lines(order, variants)
            if hold:
                if not self.dry_run:  # tracked from now on, re-read by id until it imports
                    ledger.record_hold(
                        self.engine, self.retailer.id, order.id, order.name, hold.reason
                    )
                outcomes[index] = _outcome(order, ImportStatus.HELD, hold.reason, hold.detail)
            elif self.dry_run:
                outcomes[index] = _outcome(order, ImportStatus.WOULD_IMPORT, lines=len(mapped))
            else:
                eligible.append((index, EligibleOrder(order, mapped)))
        if eligible:  # an order to create, not only held ones tried again
            store_facts.remembered(
                self.engine,
                self.lgl.endpoint,
                "custom_id_definition",
                lambda: (ensure_custom_id_definition(self.lgl) and "created") or "defined",
            )
        # A backlog (a flash sale, a first run) leaves part of the shared LGL store's budget
        # unspent: every other retailer's run still finds its points at once.
        backlog = len(eligible) >= settings.backlog_orders()
        with self.lgl.leaving(settings.backlog_reserve() if backlog else 0.0):
            outcomes.update(self._import_all(eligible))
        return [outcomes[index] for index in range(len(orders))]

    def _import_all(self, eligible: list[tuple[int, EligibleOrder]]) -> dict[int, ImportOutcome]:
        refused = threading.Event()

        def one(item: tuple[int, EligibleOrder]) -> tuple[int, ImportOutcome]:
            index, order = item
            if refused.is_set():
                # A refused token will refuse the next call too: nothing more is created for
                # this retailer in this run (an LGL order it could not tag would be left behind).
                return index, _outcome(order.order, ImportStatus.FAILED, "auth", NOT_ATTEMPTED)
            outcome = self._import_safely(order)
            if _auth_failed([outcome]):
                refused.set()
            return index, outcome

        # The first order alone: a token or scope the store refuses is refused once, not once
        # per worker; the rest several at a time.
        done = dict(map(one, eligible[:1]))
        rest = eligible[1:]
        workers = min(settings.import_concurrency(), len(rest))
        if workers <= 1:
            return done | dict(map(one, rest))
        with ThreadPoolExecutor(workers, thread_name_prefix="lgl-import") as pool:
            return done | dict(pool.map(one, rest))

    def _import_safely(self, eligible: EligibleOrder) -> ImportOutcome:
        try:
            return self._import(eligible)
        except ShopifyError as exc:
            logger.warning("order %s failed: %s", eligible.order.name, exc)
            return _outcome(eligible.order, ImportStatus.FAILED, exc.category, str(exc)[:300])

    # -- the protocol --------------------------------------------------------------------------

    def _import(self, eligible: EligibleOrder) -> ImportOutcome:
        order = eligible.order
        if ledger.claim_order(
            self.engine,
            retailer_id=self.retailer.id,
            source_order_id=order.id,
            source_order_name=order.name,
            run_id=self.run_id,
        ):
            return self._create(eligible)
        link = ledger.order_link(self.engine, self.retailer.id, order.id)
        if link.imported:
            self._tag(order)
            return _outcome(order, ImportStatus.ALREADY_IMPORTED, lgl_order_id=link.lgl_order_id)
        if link.status == ledger.LinkStatus.UNCONFIRMED:
            return self._resolve(eligible, link)
        age = link.age(datetime.now(UTC))
        if link.status == ledger.LinkStatus.PENDING and age < self.reconcile_after.total_seconds():
            return _outcome(
                order,
                ImportStatus.IN_PROGRESS,
                "claimed_by_another_run",
                f"claimed {age:.0f}s ago by run {link.run_id}",
            )
        existing = find_lgl_order(self.lgl, self.retailer.id, order.id)
        if existing:
            return self._recorded(order, existing, ImportStatus.ALREADY_IMPORTED)
        if not ledger.take_over_order(self.engine, link, to_run=self.run_id):
            return _outcome(order, ImportStatus.IN_PROGRESS, "claimed_by_another_run")
        return self._create(eligible)

    def _create(self, eligible: EligibleOrder, payload: dict | None = None) -> ImportOutcome:
        """Creates the LGL order; ``payload`` is a repaired input, sent once after a refusal."""
        order, retry = eligible.order, payload is not None
        if payload is None:
            with self._currency_lock:
                if self._currency is None:
                    self._currency = store_facts.remembered(
                        self.engine, self.lgl.endpoint, "currency", lambda: shop_currency(self.lgl)
                    )
            payload = build_order_input(
                order, eligible.lines, self.retailer, self._currency, self.today
            )
        try:
            data = self.lgl.mutate(
                "OrderCreate",
                {"order": payload, "options": ORDER_OPTIONS},
                idempotent=False,
                before_attempt=lambda: ledger.renew_order_claim(
                    self.engine, self.retailer.id, order.id, self.run_id
                ),
            )
        except ledger.ClaimLostError:
            # This run waited (a throttle, a Retry-After) long enough for another run to take
            # the order over; that run creates it, this one must not.
            return _outcome(order, ImportStatus.IN_PROGRESS, "claim_taken_over", TAKEN_OVER)
        except AmbiguousOutcomeError:
            existing = find_lgl_order(self.lgl, self.retailer.id, order.id)
            if existing:
                return self._recorded(order, existing, ImportStatus.IMPORTED, len(eligible.lines))
            # Not found may only mean the lookup lags: looked up again by later runs, created
            # again only once the lookup provably shows orders answered after this moment.
            ledger.mark_order_unconfirmed(
                self.engine, self.retailer.id, order.id, reason=LOST_ANSWER
            )
            return _outcome(order, ImportStatus.IN_PROGRESS, "unconfirmed", LOST)
        except ShopifyError:
            ledger.mark_order_failed(self.engine, self.retailer.id, order.id)
            raise
        result = data["orderCreate"]
        if any(_custom_id_taken(e) for e in result["userErrors"]):
            # Shopify refuses a second order with this custom ID: an earlier create landed.
            ledger.mark_order_unconfirmed(
                self.engine, self.retailer.id, order.id, reason=CUSTOM_ID_TAKEN
            )
            return _outcome(order, ImportStatus.IN_PROGRESS, "unconfirmed", UNCONFIRMED)
        if result["userErrors"]:
            return self._refused(eligible, payload, result["userErrors"], retry)
        return self._answered(order, result["order"], len(eligible.lines))

    def _refused(
        self, eligible: EligibleOrder, payload: dict, errors: list[dict], retried: bool
    ) -> ImportOutcome:
        """Shopify refused the input (nothing was created): a phone it refused is normalised
        to E.164, or dropped, and the order sent once more; anything else holds the order,
        naming the field."""
        repaired = None if retried else repaired_input(payload, errors)
        if repaired is not None:
            return self._create(eligible, repaired)
        ledger.mark_order_failed(self.engine, self.retailer.id, eligible.order.id)
        if any("metafields" in (e.get("field") or []) for e in errors):  # definition gone?
            store_facts.forget(self.engine, self.lgl.endpoint, "custom_id_definition")
        messages = "; ".join(e["message"] for e in errors)
        detail = f"Shopify refused {', '.join(rejected_fields(errors))}: {messages}"
        return _outcome(eligible.order, ImportStatus.HELD, "user_error", detail[:300])

    def _answered(self, order: SourceOrder, created: dict, lines: int) -> ImportOutcome:
        """orderCreate answered with the LGL order: recorded, with its creation time."""
        return self._recorded(
            order,
            created["id"],
            ImportStatus.IMPORTED,
            lines,
            answered=True,
            created_at=created.get("createdAt"),
        )

    def _resolve(self, eligible: EligibleOrder, link: ledger.OrderLink) -> ImportOutcome:
        """An order that may exist but no lookup shows yet: found, it is recorded.

        After a lost answer it is created again only once the lookup has caught up: an order
        whose create was answered after the loss shows in it, so ours would show too. Where
        Shopify refused a create because the custom ID is taken, it exists and is never created
        again. Either way, after LGL_UNCONFIRMED_MINUTES a person is told."""
        order = eligible.order
        existing = find_lgl_order(self.lgl, self.retailer.id, order.id)
        if existing:
            return self._recorded(order, existing, ImportStatus.ALREADY_IMPORTED)
        if (
            link.reason == LOST_ANSWER
            and self._lookup_caught_up(link)
            and ledger.take_over_order(self.engine, link, to_run=self.run_id)
        ):
            return self._create(eligible)
        minutes = link.age(datetime.now(UTC)) / 60
        if minutes < settings.unconfirmed_minutes():
            waiting = LOST if link.reason == LOST_ANSWER else UNCONFIRMED
            return _outcome(order, ImportStatus.IN_PROGRESS, "unconfirmed", waiting)
        return _outcome(
            order,
            ImportStatus.FAILED,
            "unresolved_claim",
            f"orderCreate was sent {minutes:.0f} min ago and its order is still not found. "
            f"Look for an LGL order with source identifier {self.retailer.id}:{order.id}; if "
            f"there is none, let the next run import it: lgl-sync orders release "
            f"{self.retailer.id} {order.id}",
        )

    def _lookup_caught_up(self, link: ledger.OrderLink) -> bool:
        """Does the custom-ID lookup show an order whose create was answered after this
        link's answer was lost? Then a lookup that misses this one is not lagging."""
        proof = ledger.answered_after(self.engine, aware(link.updated_at))
        if proof is None or proof.lgl_order_id is None:
            return False
        return custom_id_lookup(self.lgl, proof.retailer_id, proof.source_order_id) == (
            proof.lgl_order_id
        )

    def _recorded(
        self,
        order: SourceOrder,
        lgl_order_id: str,
        status: ImportStatus,
        lines: int = 0,
        *,
        answered: bool = False,
        created_at: str | None = None,
    ) -> ImportOutcome:
        ledger.mark_order_created(
            self.engine,
            self.retailer.id,
            order.id,
            lgl_order_id=lgl_order_id,
            run_id=self.run_id,
            units=order.units(),
            answered=answered,
            address_fp=address_fingerprint(order.shipping_address),
            prefulfilled=dict(order.fulfilled),
            lines_fp=_lines_fp(order),
            fulfill_by=_fulfill_by(order),
        )
        self._record(order, lgl_order_id, created_at)
        self._tag(order)
        return _outcome(order, status, lgl_order_id=lgl_order_id, lines=lines)

    def _record(self, order: SourceOrder, lgl_order_id: str, created_at: str | None) -> None:
        """The order in the history reports stand on, at the LGL order's own createdAt; for one
        found by a lookup (its answer was lost), at this run's claim on it, renewed just before
        each attempt to create it (no extra request to Shopify)."""
        if created_at is not None:
            received = parse_datetime(created_at)
        else:
            link = ledger.order_link(self.engine, self.retailer.id, order.id)
            received = aware(link.updated_at) if link else datetime.now(UTC)
        records.record_order(
            self.engine,
            retailer_id=self.retailer.id,
            source_order_id=order.id,
            name=order.name,
            lgl_order_id=lgl_order_id,
            ordered_at=order.created_at,
            received_at=received,
            skus=order.units(),
        )

    def _tag(self, order: SourceOrder) -> None:
        # Adding a tag twice changes nothing, so this write is safe to retry.
        data = self.source.mutate(
            "TagsAdd", {"id": order.id, "tags": [IMPORTED_TAG]}, idempotent=True
        )
        raise_user_errors(data, "tagsAdd")
        ledger.mark_order_tagged(self.engine, self.retailer.id, order.id)


UNCONFIRMED = "Shopify says this order exists; looked up until it shows, never re-created"
LOST = "orderCreate's answer was lost; looked up until it shows or the lookup provably caught up"
LOST_ANSWER = "lost_answer"
CUSTOM_ID_TAKEN = "custom_id_taken"
TAKEN_OVER = "another run took the claim over while this one waited; that run writes it"
NOT_ATTEMPTED = "not attempted: an earlier call in this run was refused (auth)"


def _auth_failed(outcomes: list[ImportOutcome]) -> bool:
    return (
        bool(outcomes)
        and outcomes[-1].status == ImportStatus.FAILED
        and (outcomes[-1].reason == "auth")
    )


def _custom_id_taken(error: dict) -> bool:
    """Shopify's refusal of a second order with our custom ID (a metafields value taken)."""
    return "metafields" in (error.get("field") or []) and "taken" in error["message"].lower()


def _outcome(
    order: SourceOrder,
    status: ImportStatus,
    reason: str | None = None,
    detail: str | None = None,
    lgl_order_id: str | None = None,
    lines: int = 0,
) -> ImportOutcome:
    return ImportOutcome(
        order.id, order.name, status, reason, detail, lgl_order_id, lines or len(order.lines)
    )


def _fulfill_by(order: SourceOrder) -> datetime | None:
    """When the retailer's LGL fulfillment order must be fulfilled by, if Shopify says."""
    value = order.delivery.fulfill_by if order.delivery else None
    return parse_datetime(value) if value else None


def _lines_fp(order: SourceOrder) -> str | None:
    """The digest the changes flow compares the retailer's LGL lines with, when the LGL order
    was made from exactly those (else None: the first change read matches them by state)."""
    wanted = wanted_units(order.assigned, dict(order.fulfilled))
    return lines_fingerprint(wanted) if wanted == order.units() else None
