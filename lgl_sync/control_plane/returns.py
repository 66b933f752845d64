"""The returns ledger: each retailer return of goods LGL shipped, mirrored once onto the LGL
order (``return_links``), and told once when LGL's warehouse has received it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.ledger import _insert_once
from lgl_sync.control_plane.tables import return_links as table


class ReturnStatus(StrEnum):
    """pending: claimed, returnCreate may or may not have run; created: the LGL return exists
    (an expected receipt); failed: refused or unanswered, looked up and retried by a later run;
    received: the warehouse disposed every line, and the retailer was told; skipped: never
    mirrored (``reason``: none of its goods were shipped by LGL, or Shopify refused it)."""

    PENDING = "pending"
    CREATED = "created"
    FAILED = "failed"
    RECEIVED = "received"
    SKIPPED = "skipped"


SETTLED = (ReturnStatus.CREATED, ReturnStatus.RECEIVED, ReturnStatus.SKIPPED)


@dataclass(frozen=True)
class ReturnLink:
    retailer_return_id: str
    retailer_id: str
    source_order_id: str
    return_name: str | None
    lgl_order_id: str | None
    lgl_return_id: str | None
    status: ReturnStatus
    reason: str | None
    run_id: str | None
    units: dict[str, int] | None
    updated_at: datetime

    def age(self, now: datetime) -> float:
        return (now - aware(self.updated_at)).total_seconds()


def _link(row: Any) -> ReturnLink:
    return ReturnLink(
        row.retailer_return_id,
        row.retailer_id,
        row.source_order_id,
        row.return_name,
        row.lgl_order_id,
        row.lgl_return_id,
        ReturnStatus(row.status),
        row.reason,
        row.run_id,
        row.units,
        row.updated_at,
    )


def links_of(engine: Engine, retailer_id: str) -> dict[str, ReturnLink]:
    """Every return link of a retailer, by retailer return id (one query per run)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.retailer_id == retailer_id))
        return {row.retailer_return_id: _link(row) for row in rows}


def expected(engine: Engine, retailer_id: str) -> list[ReturnLink]:
    """The retailer's returns mirrored at LGL and not yet received: the expected receipts."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table).where(
                table.c.retailer_id == retailer_id,
                table.c.status == ReturnStatus.CREATED.value,
                table.c.lgl_return_id.is_not(None),
            )
        )
        return [_link(row) for row in rows]


def claim(engine: Engine, values: dict[str, Any]) -> bool:
    """Records that this retailer return is being mirrored; False if it was recorded before."""
    with engine.begin() as connection:
        return _insert_once(connection, table, {**values, "status": ReturnStatus.PENDING})


def _set(engine: Engine, return_id: str, *, expect=None, **values: Any) -> bool:
    """Updates one row (only from the ``expect`` statuses, when given); True if it changed."""
    where = [table.c.retailer_return_id == return_id]
    if expect:
        where.append(table.c.status.in_([s.value for s in expect]))
    values = {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}
    with engine.begin() as connection:
        result = connection.execute(
            table.update().where(*where).values(**values, updated_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def take_over(engine: Engine, link: ReturnLink, run_id: str | None) -> bool:
    """A failed or stale claim becomes this run's (compare-and-set on ``updated_at``)."""
    with engine.begin() as connection:
        result = connection.execute(
            table.update()
            .where(
                table.c.retailer_return_id == link.retailer_return_id,
                table.c.updated_at == link.updated_at,
            )
            .values(status=ReturnStatus.PENDING.value, run_id=run_id, updated_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def mark_created(
    engine: Engine, return_id: str, lgl_return_id: str, units: dict[str, int] | None = None
) -> None:
    """The LGL return exists (created by this run, or found): an expected receipt."""
    _set(
        engine,
        return_id,
        status=ReturnStatus.CREATED,
        lgl_return_id=lgl_return_id,
        units=units,
        reason=None,
    )


def mark_failed(engine: Engine, return_id: str, reason: str) -> None:
    _set(engine, return_id, status=ReturnStatus.FAILED, reason=reason)


def mark_skipped(engine: Engine, return_id: str, reason: str) -> None:
    _set(engine, return_id, status=ReturnStatus.SKIPPED, reason=reason)


def mark_received(engine: Engine, return_id: str, received: dict[str, dict[str, int]]) -> bool:
    """created -> received, once: True only for the run that made the change (it tells)."""
    return _set(
        engine,
        return_id,
        expect=(ReturnStatus.CREATED,),
        status=ReturnStatus.RECEIVED,
        received=received,
    )
