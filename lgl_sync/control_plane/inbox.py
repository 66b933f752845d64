"""The webhook inbox: each Shopify event once (``X-Shopify-Event-Id``; one event sent through two
subscriptions has two Webhook-Ids, https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates),
waiting until the webhook sensor hands it to a run. Only object ids are kept, never customer data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import order_links, webhook_inbox


@dataclass(frozen=True)
class Event:
    id: int
    event_id: str
    topic: str
    shop: str
    retailer_id: str | None
    flow: str | None
    objects: dict[str, Any]
    triggered_at: datetime | None
    received_at: datetime


def _event(row: sa.Row) -> Event:
    return Event(
        row.id,
        row.event_id,
        row.topic,
        row.shop,
        row.retailer_id,
        row.flow,
        dict(row.objects or {}),
        aware(row.triggered_at) if row.triggered_at else None,
        aware(row.received_at),
    )


def receive(engine: Engine, **values: Any) -> bool:
    """Stores a delivery; False (and counted) when its event is stored already."""
    values = {"received_at": datetime.now(UTC), "duplicates": 0, **values}
    try:
        with engine.begin() as connection:
            connection.execute(webhook_inbox.insert().values(**values))
        return True
    except IntegrityError:
        with engine.begin() as connection:
            connection.execute(
                webhook_inbox.update()
                .where(webhook_inbox.c.event_id == values["event_id"])
                .values(duplicates=webhook_inbox.c.duplicates + 1)
            )
        return False


def waiting(engine: Engine, limit: int = 20_000) -> list[Event]:
    """Events no run has taken yet, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(webhook_inbox)
            .where(webhook_inbox.c.taken_at.is_(None))
            .order_by(webhook_inbox.c.id)
            .limit(limit)
        ).all()
    return [_event(r) for r in rows]


def take(engine: Engine, ids: list[int], run_key: str) -> int:
    """Marks events as handed to the run ``run_key`` (only those still waiting)."""
    taken = 0
    with engine.begin() as connection:
        for start in range(0, len(ids), 500):
            taken += connection.execute(
                webhook_inbox.update()
                .where(
                    webhook_inbox.c.id.in_(ids[start : start + 500]),
                    webhook_inbox.c.taken_at.is_(None),
                )
                .values(taken_at=datetime.now(UTC), run_key=run_key)
            ).rowcount
    return taken


def last_taken(engine: Engine, flow: str) -> int:
    """The newest event of a flow a run or a feed has taken (0 when none)."""
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(sa.func.max(webhook_inbox.c.id)).where(
                webhook_inbox.c.flow == flow, webhook_inbox.c.taken_at.is_not(None)
            )
        ).scalar()
    return int(value or 0)


def taken_between(
    engine: Engine, flow: str, after: int, through: int, limit: int = 20_000
) -> list[Event]:
    """A flow's taken events with ``after < id <= through``, oldest first (at most ``limit``)."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(webhook_inbox)
            .where(
                webhook_inbox.c.flow == flow,
                webhook_inbox.c.taken_at.is_not(None),
                webhook_inbox.c.id > after,
                webhook_inbox.c.id <= through,
            )
            .order_by(webhook_inbox.c.id)
            .limit(limit)
        ).all()
    return [_event(r) for r in rows]


def retailer_of_lgl_order(engine: Engine, lgl_order_id: str) -> str | None:
    """The retailer an LGL order was imported from, or None (not imported by LGL Sync)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(order_links.c.retailer_id)
            .where(order_links.c.lgl_order_id == lgl_order_id)
            .limit(1)
        ).scalar()


@dataclass(frozen=True)
class TopicStatus:
    shop: str
    retailer_id: str | None
    topic: str
    deliveries: int
    duplicates: int
    last_received: datetime | None
    lag_p50: float | None  # seconds from Shopify's trigger to our receipt
    lag_max: float | None


def topic_status(
    engine: Engine, since: datetime, retailer_id: str | None = None
) -> list[TopicStatus]:
    """Per store and topic since ``since`` (one retailer's store only, when given):
    deliveries, duplicates refused, the last one and the lag from Shopify's trigger to
    receipt."""
    where = [webhook_inbox.c.received_at >= since]
    if retailer_id is not None:
        where.append(webhook_inbox.c.retailer_id == retailer_id)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                webhook_inbox.c.shop,
                webhook_inbox.c.retailer_id,
                webhook_inbox.c.topic,
                webhook_inbox.c.triggered_at,
                webhook_inbox.c.received_at,
                webhook_inbox.c.duplicates,
            ).where(*where)
        ).all()
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row.shop, row.retailer_id, row.topic), []).append(row)
    found = []
    for (shop, retailer_id, topic), members in sorted(groups.items(), key=lambda g: g[0][0]):
        lags = sorted(
            (aware(m.received_at) - aware(m.triggered_at)).total_seconds()
            for m in members
            if m.triggered_at is not None
        )
        found.append(
            TopicStatus(
                shop,
                retailer_id,
                topic,
                len(members),
                sum(m.duplicates for m in members),
                max(aware(m.received_at) for m in members),
                lags[len(lags) // 2] if lags else None,
                lags[-1] if lags else None,
            )
        )
    return found


def last_delivery(engine: Engine, retailer_id: str) -> datetime | None:
    """When the retailer's store last sent LGL Sync a webhook."""
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(sa.func.max(webhook_inbox.c.received_at)).where(
                webhook_inbox.c.retailer_id == retailer_id
            )
        ).scalar()
    return aware(value) if value else None


def announced(engine: Engine, retailer_id: str, since: datetime) -> set[str]:
    """The orders the retailer's webhooks named since ``since``."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(webhook_inbox.c.objects).where(
                webhook_inbox.c.retailer_id == retailer_id,
                webhook_inbox.c.received_at >= since,
            )
        ).scalars()
        return {i for objects in rows for i in (objects or {}).get("order_ids") or []}


def prune(engine: Engine, older_than: timedelta) -> int:
    """Deletes taken events older than ``older_than`` (the delivery log's retention)."""
    cutoff = datetime.now(UTC) - older_than
    with engine.begin() as connection:
        return connection.execute(
            webhook_inbox.delete().where(
                webhook_inbox.c.received_at < cutoff, webhook_inbox.c.taken_at.is_not(None)
            )
        ).rowcount
