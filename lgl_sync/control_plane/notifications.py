"""``email_notifications``: every email sent, deferred, suppressed or failed, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import email_notifications

# Statuses of a notice that reached (or will reach) someone.
DELIVERED = ("sent", "logged", "deferred", "digested")


@dataclass(frozen=True)
class Past:
    """One earlier notice, as recorded in email_notifications."""

    kind: str
    status: str  # sent | suppressed | deferred | digested | failed
    created_at: datetime
    fingerprint: str | None = None


def claim(
    engine: Engine,
    *,
    kind: str,
    retailer_id: str | None,
    flow: str | None,
    recipients: list[str],
    subject: str,
    fingerprint: str | None,
    dedupe_key: str | None,
    created_at: datetime,
) -> int | None:
    """Records a notice about to be decided; None when ``dedupe_key`` was recorded before."""
    values = {
        "notification_type": kind,
        "retailer_id": retailer_id,
        "flow": flow,
        "recipients": ", ".join(recipients),
        "subject": subject,
        "status": "pending",
        "fingerprint": fingerprint,
        "dedupe_key": dedupe_key,
        "created_at": created_at,
    }
    try:
        with engine.begin() as connection:
            return connection.execute(
                email_notifications.insert().values(**values).returning(email_notifications.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError:
        return None


def finish(
    engine: Engine,
    notice_id: int,
    *,
    status: str,
    reason: str | None = None,
    error_message: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    with engine.begin() as connection:
        connection.execute(
            email_notifications.update()
            .where(email_notifications.c.id == notice_id)
            .values(status=status, reason=reason, error_message=error_message, sent_at=sent_at)
        )


def history(
    engine: Engine, *, kind: str, retailer_id: str | None, flow: str | None = None
) -> list[Past]:
    """Earlier decided notices of ``kind`` for a retailer (and flow), oldest first; for
    failures only those since the flow's last recovery."""
    t = email_notifications
    where = [t.c.retailer_id.is_(None) if retailer_id is None else t.c.retailer_id == retailer_id]
    if flow is not None:
        where.append(t.c.flow == flow)
    with engine.connect() as connection:
        since = None
        if kind == "failure":
            since = connection.execute(
                sa.select(sa.func.max(t.c.created_at)).where(
                    *where, t.c.notification_type == "recovery", t.c.status != "pending"
                )
            ).scalar()
        query = sa.select(t.c.notification_type, t.c.status, t.c.created_at, t.c.fingerprint).where(
            *where, t.c.notification_type == kind, t.c.status != "pending"
        )
        if since is not None:
            query = query.where(t.c.created_at > since)
        rows = connection.execute(query.order_by(t.c.created_at, t.c.id)).all()
    return [Past(r[0], r[1], aware(r[2]), r[3]) for r in rows]


def failing_since_recovery(engine: Engine, *, retailer_id: str, flow: str) -> bool:
    """Whether a failure of this flow was announced after its last recovery mail."""
    return any(
        p.status in DELIVERED
        for p in history(engine, kind="failure", retailer_id=retailer_id, flow=flow)
    )


def deferred(engine: Engine) -> list[dict]:
    """Notices held back by quiet hours, for the morning digest."""
    t = email_notifications
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.c.id, t.c.retailer_id, t.c.notification_type, t.c.subject, t.c.created_at)
            .where(t.c.status == "deferred")
            .order_by(t.c.created_at)
        ).mappings()
        return [dict(r) for r in rows]


def suppressed_counts(engine: Engine, since: datetime) -> dict[str | None, int]:
    """Notices rate-limited or collapsed since ``since``, per retailer."""
    t = email_notifications
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.c.retailer_id, sa.func.count())
            .where(t.c.status == "suppressed", t.c.created_at >= since)
            .group_by(t.c.retailer_id)
        ).all()
    return {r[0]: r[1] for r in rows}


def mark_digested(engine: Engine, ids: list[int]) -> None:
    if not ids:
        return
    with engine.begin() as connection:
        connection.execute(
            email_notifications.update()
            .where(email_notifications.c.id.in_(ids))
            .values(status="digested")
        )
