"""The exactly-once ledgers: one row per write to Shopify, guarded by unique keys.

Each ``claim_*`` inserts the row for a write *before* the write is made. The database's unique
constraint decides between two concurrent claimants: exactly one gets ``True``; the other gets
``False`` ("already recorded") and must not write. Rows come back as frozen records with a
status enum, and every status change has one function here (``mark_*``): nothing else writes
a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from lgl_sync.control_plane import records
from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import (
    fulfillment_links,
    inventory_writes,
    order_links,
    shipment_history,
)


class LinkStatus(StrEnum):
    """Where one write to Shopify stands.

    pending: claimed, the write may or may not have happened; created: the write happened;
    tagged: (orders) the source order carries the import tag too; skipped: (shipments) will
    never be written, ``reason`` says why; failed: refused, retried by a later run; voided:
    (shipments) LGL voided it after the push and the retailer's fulfillment was cancelled;
    unconfirmed: (orders) the create's answer was lost or Shopify refused a create because the
    custom ID is taken, and no lookup shows the order yet: looked up, not created again blindly.
    After import, when the retailer cancels: cancelling (orderCancel sent, its job not seen
    done), cancelled (the LGL order is cancelled), held_shipped (part had shipped: the rest is on
    hold at LGL and a person was told). Before import: held (not importable yet, ``reason``
    says why; re-read by id every run until imported) and dismissed (a person, or the order
    itself — cancelled, fulfilled elsewhere — ended the hold).
    """

    PENDING = "pending"
    CREATED = "created"
    TAGGED = "tagged"
    SKIPPED = "skipped"
    FAILED = "failed"
    VOIDED = "voided"
    UNCONFIRMED = "unconfirmed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    HELD_SHIPPED = "held_shipped"
    HELD = "held"
    DISMISSED = "dismissed"


class ClaimLostError(Exception):
    """Another run took this claim over: the write must not be made by this run."""


class WriteStatus(StrEnum):
    """An inventory batch: sent and not yet answered, applied, or rejected by Shopify."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"


@dataclass(frozen=True)
class OrderLink:
    """One source order's import into the LGL store."""

    retailer_id: str
    source_order_id: str
    source_order_name: str | None
    lgl_order_id: str | None
    status: LinkStatus
    run_id: str | None
    updated_at: datetime  # as stored: the compare-and-set of a take-over compares it exactly
    reason: str | None = None  # why unconfirmed: lost_answer | custom_id_taken
    address_fp: str | None = None  # the shipping address the LGL order was given (digest)
    lines_fp: str | None = None  # the retailer's LGL lines it was last matched to (digest)
    prefulfilled: dict[str, int] | None = None  # fulfilled there by others before import
    lgl_hold: bool | None = None  # LGL Sync's hold may be on the LGL order (None: not known)

    @property
    def imported(self) -> bool:
        """The LGL order exists (whether or not the source order is tagged yet)."""
        return self.status in (LinkStatus.CREATED, LinkStatus.TAGGED, *AFTER_CANCELLATION)

    def age(self, now: datetime) -> float:
        """Seconds since the row last changed."""
        return (now - aware(self.updated_at)).total_seconds()


@dataclass(frozen=True)
class FulfillmentLink:
    """One LGL shipment's push onto the retailer's order."""

    lgl_fulfillment_id: str
    retailer_id: str
    lgl_order_id: str
    retailer_fulfillment_id: str | None
    tracking_fingerprint: str | None
    status: LinkStatus
    reason: str | None
    run_id: str | None
    updated_at: datetime

    @property
    def settled(self) -> bool:
        """Pushed or reported for good: no later run writes it again."""
        return self.status in (LinkStatus.CREATED, LinkStatus.SKIPPED, LinkStatus.VOIDED)

    def age(self, now: datetime) -> float:
        return (now - aware(self.updated_at)).total_seconds()


def _order_link(row: sa.Row) -> OrderLink:
    return OrderLink(
        row.retailer_id,
        row.source_order_id,
        row.source_order_name,
        row.lgl_order_id,
        LinkStatus(row.status),
        row.run_id,
        row.updated_at,
        row.reason,
        row.address_fp,
        row.lines_fp,
        row.prefulfilled,
        row.lgl_hold,
    )


def _fulfillment_link(row: sa.Row) -> FulfillmentLink:
    return FulfillmentLink(
        row.lgl_fulfillment_id,
        row.retailer_id,
        row.lgl_order_id,
        row.retailer_fulfillment_id,
        row.tracking_fingerprint,
        LinkStatus(row.status),
        row.reason,
        row.run_id,
        row.updated_at,
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    # Statuses are stored as their text, whatever the database driver makes of a str subclass.
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}


def _insert_once(connection: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    # Explicit timestamps: SQLite's CURRENT_TIMESTAMP has no fraction, which would make a
    # later compare-and-set on updated_at compare unlike strings.
    now = datetime.now(UTC)
    values = {"created_at": now, "updated_at": now, **_plain(values)}
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return connection.execute(statement).rowcount == 1


def _update(engine: Engine, table: sa.Table, where: list, **values: Any) -> int:
    with engine.begin() as connection:
        result = connection.execute(
            table.update().where(*where).values(**_plain(values), updated_at=datetime.now(UTC))
        )
    return result.rowcount


# -- order links -------------------------------------------------------------------------------


def _order_key(retailer_id: str, source_order_id: str) -> list:
    return [
        order_links.c.retailer_id == retailer_id,
        order_links.c.source_order_id == source_order_id,
    ]


def claim_order(
    engine: Engine,
    *,
    retailer_id: str,
    source_order_id: str,
    source_order_name: str | None = None,
    run_id: str | None = None,
) -> bool:
    """Records that this source order is being imported; False if it was recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            order_links,
            {
                "retailer_id": retailer_id,
                "source_order_id": source_order_id,
                "source_order_name": source_order_name,
                "status": LinkStatus.PENDING,
                "run_id": run_id,
                "lgl_hold": False,  # nothing of LGL Sync's holds an order it has not made
            },
        )


def order_link(engine: Engine, retailer_id: str, source_order_id: str) -> OrderLink | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(order_links).where(*_order_key(retailer_id, source_order_id))
        ).first()
    return _order_link(row) if row else None


def imported_orders(engine: Engine, retailer_id: str, source_order_ids: list[str]) -> set[str]:
    """Which of these source orders already have their LGL order (one query)."""
    if not source_order_ids:
        return set()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(order_links.c.source_order_id).where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.source_order_id.in_(source_order_ids),
                order_links.c.status.in_((LinkStatus.CREATED, LinkStatus.TAGGED)),
            )
        ).scalars()
        return set(rows)


def mark_order_created(
    engine: Engine,
    retailer_id: str,
    source_order_id: str,
    *,
    lgl_order_id: str,
    run_id: str | None,
    units: dict[str, int] | None = None,
    answered: bool = False,
    address_fp: str | None = None,
    prefulfilled: dict[str, int] | None = None,
    lines_fp: str | None = None,
    fulfill_by: datetime | None = None,
) -> None:
    """pending -> created: the LGL order exists (made by this run or found after a retry);
    ``units`` are the {sku: units} it holds for the retailer's LGL location; ``answered``: this
    run just got orderCreate's answer for it (not found by a lookup); ``lines_fp``: the digest
    of the retailer's LGL lines it was made from, when it holds exactly those."""
    extra = {"answered_at": datetime.now(UTC)} if answered else {}
    if address_fp is not None:
        extra["address_fp"] = address_fp
    if lines_fp is not None:
        extra["lines_fp"] = lines_fp
    if prefulfilled:
        extra["prefulfilled"] = prefulfilled
    if fulfill_by is not None:
        extra["fulfill_by"] = fulfill_by
    _update(
        engine,
        order_links,
        _order_key(retailer_id, source_order_id),
        status=LinkStatus.CREATED,
        lgl_order_id=lgl_order_id,
        run_id=run_id,
        units=units,
        reason=None,
        **extra,
    )


def answered_after(engine: Engine, since: datetime) -> OrderLink | None:
    """An order (of any retailer: the LGL store is one) whose orderCreate answer arrived after
    ``since``: if the custom-ID lookup shows it, the lookup has caught up past ``since``."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(order_links)
            .where(order_links.c.answered_at > since)
            .order_by(order_links.c.answered_at)
            .limit(1)
        ).first()
    return _order_link(row) if row else None


def units_in_transit(engine: Engine, retailer_id: str, since: datetime) -> dict[str, int]:
    """{sku: units} of this retailer's orders imported since ``since`` that are not yet
    fulfilled at the retailer: in LGL's stock numbers already, still committed there.

    Imported units minus the units of the shipments pushed back for those orders (a voided
    push counts as not pushed). Rows from before units were recorded count as none."""
    imported = sa.select(order_links.c.lgl_order_id, order_links.c.units).where(
        order_links.c.retailer_id == retailer_id,
        order_links.c.status.in_((LinkStatus.CREATED, LinkStatus.TAGGED)),
        order_links.c.created_at >= since,
    )
    with engine.connect() as connection:
        orders = connection.execute(imported).all()
        pushed = connection.execute(
            sa.select(fulfillment_links.c.units).where(
                fulfillment_links.c.retailer_id == retailer_id,
                fulfillment_links.c.status == LinkStatus.CREATED.value,
                fulfillment_links.c.lgl_order_id.in_([o.lgl_order_id for o in orders]),
            )
        ).scalars()
        total: dict[str, int] = {}
        for units, sign in [(o.units, 1) for o in orders] + [(u, -1) for u in pushed]:
            for sku, quantity in (units or {}).items():
                total[sku] = total.get(sku, 0) + sign * int(quantity)
    return {sku: n for sku, n in total.items() if n > 0}


def mark_order_tagged(engine: Engine, retailer_id: str, source_order_id: str) -> None:
    """created -> tagged: the source order carries the import tag."""
    _update(engine, order_links, _order_key(retailer_id, source_order_id), status=LinkStatus.TAGGED)


def mark_order_unconfirmed(
    engine: Engine, retailer_id: str, source_order_id: str, *, reason: str
) -> None:
    """pending -> unconfirmed: the LGL order may exist (``lost_answer``) or does
    (``custom_id_taken``); only a lookup may settle it now."""
    _update(
        engine,
        order_links,
        _order_key(retailer_id, source_order_id),
        status=LinkStatus.UNCONFIRMED,
        reason=reason,
    )


AFTER_CANCELLATION = (LinkStatus.CANCELLING, LinkStatus.CANCELLED, LinkStatus.HELD_SHIPPED)


def order_links_of(
    engine: Engine, retailer_id: str, source_order_ids: list[str]
) -> dict[str, OrderLink]:
    """The ledger rows of these source orders (one query per 500)."""
    found: dict[str, OrderLink] = {}
    with engine.connect() as connection:
        for start in range(0, len(source_order_ids), 500):
            rows = connection.execute(
                sa.select(order_links).where(
                    order_links.c.retailer_id == retailer_id,
                    order_links.c.source_order_id.in_(source_order_ids[start : start + 500]),
                )
            )
            found.update({row.source_order_id: _order_link(row) for row in rows})
    return found


def mark_order_after_cancellation(
    engine: Engine, link: OrderLink, status: LinkStatus, *, reason: str | None = None
) -> bool:
    """imported -> cancelling / cancelled / held_shipped, only from the status read (compare
    and set): False when another run moved it first, and then this one reports nothing."""
    where = [
        *_order_key(link.retailer_id, link.source_order_id),
        order_links.c.status == link.status.value,
    ]
    moved = _update(engine, order_links, where, status=status, reason=reason) == 1
    if moved and status == LinkStatus.CANCELLED:  # nothing shipped: not billed
        records.record_cancelled(engine, link.retailer_id, link.source_order_id, datetime.now(UTC))
    return moved


# Imports still to settle: re-read by id every run, whatever search shows.
TRACKED = (
    LinkStatus.HELD,
    LinkStatus.PENDING,
    LinkStatus.FAILED,
    LinkStatus.UNCONFIRMED,
    LinkStatus.CREATED,
)


def record_hold(
    engine: Engine, retailer_id: str, source_order_id: str, name: str, reason: str
) -> None:
    """The order cannot be imported now (``reason``): tracked from now on, re-read by id."""
    with engine.begin() as connection:
        inserted = _insert_once(
            connection,
            order_links,
            {
                "retailer_id": retailer_id,
                "source_order_id": source_order_id,
                "source_order_name": name,
                "status": LinkStatus.HELD,
                "reason": reason,
            },
        )
    if not inserted:
        where = [
            *_order_key(retailer_id, source_order_id),
            order_links.c.status.in_((LinkStatus.HELD.value, LinkStatus.FAILED.value)),
        ]
        _update(engine, order_links, where, status=LinkStatus.HELD, reason=reason)


def tracked_orders(engine: Engine, retailer_id: str, statuses=TRACKED) -> list[OrderLink]:
    """This retailer's imports not settled yet (held, claimed, failed, unconfirmed, untagged)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(order_links).where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.status.in_([s.value for s in statuses]),
            )
        )
        return [_order_link(row) for row in rows]


def end_holds(engine: Engine, retailer_id: str, reasons: dict[str, str]) -> int:
    """held -> dismissed for orders that ended their own hold ({source id: why}: cancelled,
    fulfilled elsewhere...), or a person dismissed."""
    ended = 0
    for source_order_id, reason in reasons.items():
        where = [
            *_order_key(retailer_id, source_order_id),
            order_links.c.status == LinkStatus.HELD.value,
        ]
        ended += _update(engine, order_links, where, status=LinkStatus.DISMISSED, reason=reason)
    return ended


def record_lgl_hold(engine: Engine, retailer_id: str, lgl_order_ids, held: bool) -> None:
    """Whether LGL Sync's mirror of a retailer hold may be on these LGL orders: True before
    it places one, False once none is there (released, or read and not found)."""
    ids = sorted(set(lgl_order_ids))
    with engine.begin() as connection:  # updated_at untouched: a fact about LGL, not the row
        for start in range(0, len(ids), 500):
            connection.execute(
                order_links.update()
                .where(
                    order_links.c.retailer_id == retailer_id,
                    order_links.c.lgl_order_id.in_(ids[start : start + 500]),
                    order_links.c.lgl_hold.is_distinct_from(held),
                )
                .values(lgl_hold=held)
            )


def record_address(engine: Engine, link: OrderLink, address_fp: str) -> None:
    """The LGL order now has the shipping address with this digest."""
    _update(
        engine,
        order_links,
        _order_key(link.retailer_id, link.source_order_id),
        address_fp=address_fp,
    )


def record_lines(engine: Engine, link: OrderLink, lines_fp: str, units: dict[str, int]) -> None:
    """The LGL order now matches (or a person was told how it differs from) the retailer's LGL
    lines with this digest; ``units`` are its {sku: units} for the stock arithmetic."""
    _update(
        engine,
        order_links,
        _order_key(link.retailer_id, link.source_order_id),
        lines_fp=lines_fp,
        units=units,
    )
    records.record_edit(engine, link.retailer_id, link.source_order_id, units)


@dataclass(frozen=True)
class HeldOrder:
    source_order_id: str
    name: str | None
    reason: str | None
    held_since: datetime
    reminded: int


def held_orders(engine: Engine, retailer_id: str) -> list[HeldOrder]:
    """This retailer's held orders, with when they were first held and the reminders sent."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(order_links).where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.status == LinkStatus.HELD.value,
            )
        )
        return [
            HeldOrder(
                r.source_order_id,
                r.source_order_name,
                r.reason,
                aware(r.created_at),
                r.reminded or 0,
            )
            for r in rows
        ]


def mark_reminded(engine: Engine, retailer_id: str, held: HeldOrder, steps: int) -> bool:
    """Reminder step ``steps`` is to be sent for a held order (compare and set on the steps
    read): False when another run claimed it first, and then this one sends nothing."""
    before = order_links.c.reminded == held.reminded
    if not held.reminded:
        before = sa.or_(order_links.c.reminded.is_(None), order_links.c.reminded == 0)
    where = [*_order_key(retailer_id, held.source_order_id), before]
    return _update(engine, order_links, where, reminded=steps) == 1


def release_order(engine: Engine, retailer_id: str, source_order_id: str) -> bool:
    """unconfirmed -> failed, by a person who found no LGL order for it: the next run looks it
    up once more and creates it if it is still not there. False when it is not unconfirmed."""
    where = [
        *_order_key(retailer_id, source_order_id),
        order_links.c.status == LinkStatus.UNCONFIRMED.value,
    ]
    return _update(engine, order_links, where, status=LinkStatus.FAILED, reason="released") == 1


def mark_order_failed(engine: Engine, retailer_id: str, source_order_id: str) -> None:
    """pending -> failed: Shopify refused the create, so a later run may claim it again."""
    _update(engine, order_links, _order_key(retailer_id, source_order_id), status=LinkStatus.FAILED)


def take_over_order(engine: Engine, link: OrderLink, *, to_run: str | None) -> bool:
    """Moves a stale claim to this run, only if nobody changed it since it was read
    (compare-and-set on run id and timestamp); False means another run got there first."""
    return (
        _update(
            engine,
            order_links,
            [
                *_order_key(link.retailer_id, link.source_order_id),
                _same_run(order_links, link.run_id),
                order_links.c.updated_at == link.updated_at,
            ],
            run_id=to_run,
            status=LinkStatus.PENDING,
        )
        == 1
    )


def renew_order_claim(
    engine: Engine, retailer_id: str, source_order_id: str, run_id: str | None
) -> None:
    """The fence before every ``orderCreate`` attempt: still ours and still pending? Then the
    claim is renewed (a fresh ``updated_at`` keeps others from taking it over); otherwise
    ClaimLostError, and this run must not create the order."""
    _renew(engine, order_links, _order_key(retailer_id, source_order_id), run_id)


def _renew(engine: Engine, table: sa.Table, key: list, run_id: str | None) -> None:
    where = [*key, _same_run(table, run_id), table.c.status == LinkStatus.PENDING.value]
    if _update(engine, table, where) != 1:
        raise ClaimLostError(str(key))


def _same_run(table: sa.Table, run_id: str | None):
    return table.c.run_id.is_(None) if run_id is None else table.c.run_id == run_id


def lgl_order_for(engine: Engine, retailer_id: str, lgl_order_id: str) -> str | None:
    """The source order an LGL order was imported from, per the import ledger."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(order_links.c.source_order_id).where(
                order_links.c.retailer_id == retailer_id, order_links.c.lgl_order_id == lgl_order_id
            )
        ).scalar()


# -- fulfillment links -------------------------------------------------------------------------


def restore_links(engine: Engine, orders: list[dict], fulfillments: list[dict]) -> tuple[int, int]:
    """Writes rows rebuilt from the stores (``lgl-sync ledger rebuild``) where the ledger has
    none; a row it has (a run's claim included) is kept as it is. Rows are given as column
    values, ``created_at`` the LGL order's or shipment's own time. Returns the rows written."""
    with engine.begin() as connection:
        written = sum(_insert_once(connection, order_links, row) for row in orders)
        pushed = sum(_insert_once(connection, fulfillment_links, row) for row in fulfillments)
    return written, pushed


def overdue_orders(engine: Engine, retailer_id: str, now: datetime) -> list[dict[str, Any]]:
    """Imported orders past their fulfill-by date with no shipment pushed and no person told
    yet: told, then marked (one notice per order, whatever the runs)."""
    pushed = sa.select(fulfillment_links.c.lgl_order_id).where(
        fulfillment_links.c.retailer_id == retailer_id,
        fulfillment_links.c.status == LinkStatus.CREATED.value,
    )
    query = sa.select(order_links).where(
        order_links.c.retailer_id == retailer_id,
        order_links.c.status.in_((LinkStatus.CREATED.value, LinkStatus.TAGGED.value)),
        order_links.c.fulfill_by < now,
        order_links.c.overdue_told_at.is_(None),
        order_links.c.lgl_order_id.not_in(pushed),
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        {
            "source_order_id": r.source_order_id,
            "name": r.source_order_name or r.source_order_id,
            "fulfill_by": aware(r.fulfill_by),
        }
        for r in rows
    ]


def mark_overdue_told(engine: Engine, retailer_id: str, source_order_ids: list[str]) -> None:
    with engine.begin() as connection:
        connection.execute(
            order_links.update()
            .where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.source_order_id.in_(source_order_ids),
            )
            .values(overdue_told_at=datetime.now(UTC))
        )


def imported_since(engine: Engine, retailer_id: str, since: datetime) -> int:
    """How many of the retailer's orders were imported into LGL since ``since``."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.lgl_order_id.is_not(None),
                order_links.c.created_at >= since,
            )
        ).scalar_one()


def orders_attempted_since(engine: Engine, retailer_id: str, since: datetime) -> list[str]:
    """Source orders whose import row changed since ``since``, other than orders only held:
    every source order a create was tried for in that time is one of them."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(order_links.c.source_order_id).where(
                order_links.c.retailer_id == retailer_id,
                order_links.c.updated_at >= since,
                order_links.c.status.not_in([LinkStatus.HELD.value, LinkStatus.DISMISSED.value]),
            )
        )
        return sorted(row.source_order_id for row in rows)


def linked_lgl_orders(engine: Engine, retailer_id: str) -> set[str]:
    """The LGL orders the ledger links to this retailer's orders, whatever their state."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(order_links.c.lgl_order_id).where(
                order_links.c.retailer_id == retailer_id, order_links.c.lgl_order_id.is_not(None)
            )
        ).scalars()
        return set(rows)


def _fulfillment_key(lgl_fulfillment_id: str) -> list:
    return [fulfillment_links.c.lgl_fulfillment_id == lgl_fulfillment_id]


def claim_fulfillment(
    engine: Engine,
    *,
    lgl_fulfillment_id: str,
    retailer_id: str,
    lgl_order_id: str,
    run_id: str | None = None,
) -> bool:
    """Records that this LGL fulfillment is being pushed; False if recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            fulfillment_links,
            {
                "lgl_fulfillment_id": lgl_fulfillment_id,
                "retailer_id": retailer_id,
                "lgl_order_id": lgl_order_id,
                "status": LinkStatus.PENDING,
                "run_id": run_id,
            },
        )


def fulfillment_link(engine: Engine, lgl_fulfillment_id: str) -> FulfillmentLink | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(fulfillment_links).where(*_fulfillment_key(lgl_fulfillment_id))
        ).first()
    return _fulfillment_link(row) if row else None


def fulfillment_links_of(engine: Engine, retailer_id: str) -> dict[str, FulfillmentLink]:
    """Every fulfillment link of a retailer, by LGL fulfillment id (one query per run)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(fulfillment_links).where(fulfillment_links.c.retailer_id == retailer_id)
        ).all()
    return {row.lgl_fulfillment_id: _fulfillment_link(row) for row in rows}


def shipments_waiting(engine: Engine, retailer_id: str) -> int:
    """Shipments claimed but not pushed yet (pending, or refused and to be retried)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(
                fulfillment_links.c.retailer_id == retailer_id,
                fulfillment_links.c.status.in_((LinkStatus.PENDING, LinkStatus.FAILED)),
            )
        ).scalar_one()


def mark_fulfillment_created(
    engine: Engine,
    lgl_fulfillment_id: str,
    *,
    retailer_fulfillment_id: str,
    tracking_fingerprint: str,
    run_id: str | None,
    units: dict[str, int] | None = None,
) -> None:
    """pending -> created: the retailer fulfillment exists, with this tracking and these
    {sku: units}."""
    _update(
        engine,
        fulfillment_links,
        _fulfillment_key(lgl_fulfillment_id),
        status=LinkStatus.CREATED,
        retailer_fulfillment_id=retailer_fulfillment_id,
        tracking_fingerprint=tracking_fingerprint,
        run_id=run_id,
        units=units,
    )


def mark_fulfillment_skipped(engine: Engine, lgl_fulfillment_id: str, *, reason: str) -> None:
    """pending -> skipped: never pushed; reported once, with ``reason``."""
    _update(
        engine,
        fulfillment_links,
        _fulfillment_key(lgl_fulfillment_id),
        status=LinkStatus.SKIPPED,
        reason=reason,
    )


def mark_fulfillment_voided(engine: Engine, lgl_fulfillment_id: str) -> None:
    """created -> voided: LGL voided the shipment and its retailer fulfillment is cancelled."""
    _update(
        engine,
        fulfillment_links,
        _fulfillment_key(lgl_fulfillment_id),
        status=LinkStatus.VOIDED,
        reason="lgl_fulfillment_voided",
    )


def pushed_lgl_orders(engine: Engine, retailer_id: str, since: datetime) -> tuple[str, ...]:
    """LGL orders with a shipment pushed (and not voided) since ``since``: the pushback reads
    them by id, so a void of their last shipment is seen."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(fulfillment_links.c.lgl_order_id)
            .where(
                fulfillment_links.c.retailer_id == retailer_id,
                fulfillment_links.c.status == LinkStatus.CREATED.value,
                fulfillment_links.c.updated_at >= since,
            )
            .distinct()
        ).scalars()
        return tuple(sorted(rows))


def unsettled_lgl_orders(engine: Engine, retailer_id: str, since: datetime) -> tuple[str, ...]:
    """LGL orders with a live shipment (seen since ``since``) not pushed or reported for good:
    a failed or interrupted push, read again by id until it settles, changed or not."""
    settled = sa.select(fulfillment_links.c.lgl_fulfillment_id).where(
        fulfillment_links.c.retailer_id == retailer_id,
        fulfillment_links.c.status.in_(
            [s.value for s in (LinkStatus.CREATED, LinkStatus.SKIPPED, LinkStatus.VOIDED)]
        ),
    )
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(shipment_history.c.lgl_order_id)
            .where(
                shipment_history.c.retailer_id == retailer_id,
                shipment_history.c.shipped_at >= since,
                shipment_history.c.cancelled.is_(False),
                shipment_history.c.lgl_fulfillment_id.not_in(settled),
            )
            .distinct()
        ).scalars()
        return tuple(sorted(rows))


def mark_fulfillment_failed(engine: Engine, lgl_fulfillment_id: str) -> None:
    """pending -> failed: refused or unconfirmed with nothing created; retried next run."""
    _update(
        engine, fulfillment_links, _fulfillment_key(lgl_fulfillment_id), status=LinkStatus.FAILED
    )


def record_tracking(engine: Engine, lgl_fulfillment_id: str, tracking_fingerprint: str) -> None:
    """The tracking now on the retailer fulfillment (status unchanged: created)."""
    _update(
        engine,
        fulfillment_links,
        _fulfillment_key(lgl_fulfillment_id),
        tracking_fingerprint=tracking_fingerprint,
    )


def renew_fulfillment_claim(engine: Engine, lgl_fulfillment_id: str, run_id: str | None) -> None:
    """The fence before every ``fulfillmentCreate`` attempt (see renew_order_claim)."""
    _renew(engine, fulfillment_links, _fulfillment_key(lgl_fulfillment_id), run_id)


def take_over_fulfillment(engine: Engine, link: FulfillmentLink, *, to_run: str | None) -> bool:
    """Compare-and-set move of a stale claim to this run (see take_over_order)."""
    return (
        _update(
            engine,
            fulfillment_links,
            [
                *_fulfillment_key(link.lgl_fulfillment_id),
                _same_run(fulfillment_links, link.run_id),
                fulfillment_links.c.updated_at == link.updated_at,
            ],
            run_id=to_run,
            status=LinkStatus.PENDING,
        )
        == 1
    )


# -- inventory writes --------------------------------------------------------------------------


def claim_inventory_write(
    engine: Engine,
    *,
    idempotency_key: str,
    retailer_id: str,
    batch: int,
    items: int,
    run_id: str | None = None,
) -> bool:
    """Records an inventory batch before it is sent; False if that key was recorded before."""
    with engine.begin() as connection:
        return _insert_once(
            connection,
            inventory_writes,
            {
                "idempotency_key": idempotency_key,
                "retailer_id": retailer_id,
                "batch": batch,
                "items": items,
                "status": WriteStatus.PENDING,
                "run_id": run_id,
            },
        )


def finish_inventory_write(engine: Engine, idempotency_key: str, status: WriteStatus) -> None:
    """pending -> applied or rejected, as Shopify answered."""
    _update(
        engine,
        inventory_writes,
        [inventory_writes.c.idempotency_key == idempotency_key],
        status=WriteStatus(status),
    )
