"""Reading and writing the ``retailers`` table (the model is ``lgl_sync/retailer.py``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane import offboarding
from lgl_sync.control_plane.tables import retailers, sync_jobs
from lgl_sync.retailer import DuplicateRetailerError, Retailer, RetailerError

logger = logging.getLogger(__name__)

__all__ = ["DuplicateRetailerError", "Retailer"]


def add_retailer(engine: Engine, retailer: Retailer) -> None:
    """Inserts a new retailer; a slug already in use is refused."""
    with engine.begin() as connection:
        exists = connection.execute(
            sa.select(retailers.c.id).where(retailers.c.id == retailer.id)
        ).first()
        if exists:
            raise DuplicateRetailerError([f"id: a retailer with slug {retailer.id} exists already"])
        connection.execute(retailers.insert().values(**retailer.row()))


def update_retailer(engine: Engine, retailer: Retailer) -> bool:
    """Replaces an existing retailer's settings (its row keeps its creation time); False when
    there is no retailer with that slug."""
    values = {k: v for k, v in retailer.row().items() if k != "id"}
    with engine.begin() as connection:
        changed = connection.execute(
            retailers.update()
            .where(retailers.c.id == retailer.id)
            .values(**values, updated_at=sa.func.now())
        ).rowcount
    return changed == 1


def get_retailer(engine: Engine, retailer_id: str) -> Retailer | None:
    with engine.connect() as connection:
        row = (
            connection.execute(sa.select(retailers).where(retailers.c.id == retailer_id))
            .mappings()
            .first()
        )
    return _from_row(row) if row else None


def list_retailers(engine: Engine, *, enabled_only: bool = False) -> list[Retailer]:
    """The retailers whose rows are valid; an invalid row is logged and left out (its own
    runs fail with the reason)."""
    query = sa.select(retailers).order_by(retailers.c.id)
    if enabled_only:
        query = query.where(retailers.c.enabled.is_(True))
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    found = []
    for row in rows:
        try:
            found.append(_from_row(row))
        except RetailerError as exc:
            logger.error("retailer %s is left out: %s", row["id"], exc)
    return found


def set_enabled(
    engine: Engine, retailer_id: str, enabled: bool, *, reason: str = "disabled"
) -> bool:
    """Enables or disables a retailer; False if there is none with that id. Disabling starts
    its retention timer (kept from the first disabling: ``reason`` says what disabled it);
    enabling stops it (``offboarding``)."""
    with engine.begin() as connection:
        result = connection.execute(
            retailers.update()
            .where(retailers.c.id == retailer_id)
            .values(enabled=enabled, updated_at=datetime.now(UTC))
        )
        if result.rowcount == 1:
            offboarding.timer(connection, retailer_id, running=not enabled, reason=reason)
    return result.rowcount == 1


def remove_retailer(engine: Engine, retailer_id: str) -> bool:
    with engine.begin() as connection:
        result = connection.execute(retailers.delete().where(retailers.c.id == retailer_id))
    return result.rowcount == 1


def _from_row(row: Any) -> Retailer:
    """A stored row as a Retailer, validated like every other source: a row edited by hand
    into something unusable raises RetailerError naming the field."""
    data = {k: v for k, v in dict(row).items() if v is not None}
    return Retailer.parse(data)


def last_syncs(engine: Engine, retailer_id: str) -> dict[str, datetime]:
    """The last completed run per job type of a retailer, from ``sync_jobs``."""
    query = (
        sa.select(sync_jobs.c.job_type, sa.func.max(sync_jobs.c.completed_at))
        .where(sync_jobs.c.retailer_id == retailer_id, sync_jobs.c.status == "completed")
        .group_by(sync_jobs.c.job_type)
    )
    with engine.connect() as connection:
        return {job: at for job, at in connection.execute(query) if at is not None}


def partition_changes(engine: Engine, existing: set[str]) -> tuple[list[str], list[str]]:
    """Partition keys to add (enabled retailers without one) and to remove (keys with no
    retailer any more). Disabled retailers keep their partition and history."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(retailers.c.id, retailers.c.enabled)).all()
    known = {row.id for row in rows}
    enabled = {row.id for row in rows if row.enabled}
    return sorted(enabled - existing), sorted(existing - known)
