"""Tokens Shopify issues to LGL's app, kept encrypted in the control plane and renewed there.

One row per store (``store_credentials``): the app's client ID and secret, the access token
and when it expires, and for an installed app the rotating refresh token. A token is renewed
``RENEW_BEFORE`` ahead of its expiry, or once after Shopify refused it. Renewal is single-flight
per store: the row is locked while Shopify is asked, and a run that waited uses the token the
first one stored; the new refresh token is written in the same transaction as the access token.
Should an answer be lost, Shopify keeps the used refresh token valid until its replacement is used
(https://shopify.dev/changelog/more-resilient-refreshes-for-expiring-offline-access-tokens).
Secrets never leave this module in clear except as the token a client sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.database import aware
from lgl_sync.control_plane.tables import store_credentials as table
from lgl_sync.secrets import SecretError, decrypt_secret, encrypt_token
from lgl_sync.shopify.errors import AuthError, ShopifyError
from lgl_sync.shopify.tokens import exchange

RENEW_BEFORE = timedelta(minutes=5)
CLIENT_CREDENTIALS, AUTHORIZATION_CODE = "client_credentials", "authorization_code"


def _now() -> datetime:
    return datetime.now(UTC)


def _expiry(answer: dict[str, Any], key: str, now: datetime) -> datetime | None:
    seconds = answer.get(key)
    return now + timedelta(seconds=int(seconds)) if seconds else None


def _token_values(answer: dict[str, Any], now: datetime) -> dict[str, Any]:
    values = {
        "access_token": encrypt_token(answer["access_token"]),
        "expires_at": _expiry(answer, "expires_in", now),
        "scopes": answer.get("scope"),
        "updated_at": now,
    }
    if answer.get("refresh_token"):
        values["refresh_token"] = encrypt_token(answer["refresh_token"])
        values["refresh_expires_at"] = _expiry(answer, "refresh_token_expires_in", now)
    return values


def save(
    engine: Engine,
    domain: str,
    *,
    grant: str,
    client_id: str,
    client_secret: str,
    answer: dict[str, Any] | None = None,
) -> None:
    """Stores (or replaces) a store's app credentials, and the tokens of ``answer`` if any."""
    now = _now()
    values: dict[str, Any] = {
        "domain": domain,
        "grant": grant,
        "client_id": client_id,
        "client_secret": encrypt_token(client_secret),
        "access_token": None,
        "expires_at": None,
        "refresh_token": None,
        "refresh_expires_at": None,
        **(_token_values(answer, now) if answer else {}),
    }
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.domain == domain))
        connection.execute(table.insert().values(**values))


def _row(engine: Engine, domain: str) -> Any:
    with engine.connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.domain == domain)).first()
    if row is None:
        raise AuthError(f"no app credentials stored for {domain} (run `lgl-sync retailer connect`)")
    return row


@dataclass(frozen=True)
class StatusOfTokens:
    grant: str
    client_id: str
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scopes: str | None


def status(engine: Engine, domain: str) -> StatusOfTokens:
    row = _row(engine, domain)
    return StatusOfTokens(
        row.grant,
        row.client_id,
        aware(row.expires_at) if row.expires_at else None,
        aware(row.refresh_expires_at) if row.refresh_expires_at else None,
        row.scopes,
    )


REFRESH_WARNING = timedelta(days=14)


def expiring(engine: Engine, now: datetime | None = None) -> list[str]:
    """Stores whose refresh token expires within ``REFRESH_WARNING`` (a store unused that long,
    disabled retailers included, must be refreshed or reconnected before then)."""
    now = now or _now()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.domain, table.c.refresh_expires_at).where(
                table.c.refresh_expires_at.is_not(None)
            )
        ).all()
    return [
        f"{row.domain}: the app's refresh token expires {aware(row.refresh_expires_at):%Y-%m-%d}; "
        "run any flow for it (a refresh renews it) or `lgl-sync retailer connect` again"
        for row in rows
        if aware(row.refresh_expires_at) - now < REFRESH_WARNING
    ]


def renew_idle(
    engine: Engine, *, within_days: float, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """Renews every store whose refresh token expires within ``within_days`` (one nobody
    synced: a disabled retailer's), so it never lapses. Returns (renewed domains, "domain:
    why" for those Shopify refused), one store's refusal never stopping the others."""
    limit = (now or _now()) + timedelta(days=within_days)
    with engine.connect() as connection:
        domains = connection.execute(
            sa.select(table.c.domain).where(
                table.c.refresh_expires_at.is_not(None), table.c.refresh_expires_at < limit
            )
        ).scalars()
        domains = list(domains)
    renewed, failed = [], []
    for domain in domains:
        try:
            StoredTokens(engine, domain).renew_now()
            renewed.append(domain)
        except (ShopifyError, SecretError) as exc:
            failed.append(f"{domain}: {str(exc)[:200]}")
    return renewed, failed


class StoredTokens:
    """A TokenSource over a ``store_credentials`` row."""

    def __init__(
        self,
        engine: Engine,
        domain: str,
        *,
        session: Any = None,
        now: Callable[[], datetime] = _now,
    ) -> None:
        self.engine = engine
        self.domain = domain
        self.session = session
        self.now = now

    def __repr__(self) -> str:  # never a token
        return f"StoredTokens({self.domain})"

    def current(self) -> str:
        row = _row(self.engine, self.domain)
        if row.access_token and not self._stale(row):
            return decrypt_secret(row.access_token)
        return self._renew(row)

    def renew_now(self) -> None:
        """A renewal whatever the access token's age (its refresh token is used, and the
        rotated one stored)."""
        self._renew(_row(self.engine, self.domain))

    def renewed(self, rejected: str) -> str | None:
        row = _row(self.engine, self.domain)
        if row.access_token and decrypt_secret(row.access_token) != rejected:
            return decrypt_secret(row.access_token)  # another run renewed it already
        return self._renew(row)

    def _stale(self, row: Any) -> bool:
        return row.expires_at is not None and aware(row.expires_at) - self.now() < RENEW_BEFORE

    def _renew(self, seen: Any) -> str:
        """Single-flight per store: the row is locked (a no-op update takes the row lock on
        Postgres and the write lock on SQLite, both bounded by the database's lock timeout)
        while Shopify is asked, so a second run waits and then uses the first one's token."""
        with self.engine.begin() as connection:
            mine = table.c.domain == self.domain
            connection.execute(table.update().where(mine).values(domain=table.c.domain))
            row = connection.execute(sa.select(table).where(mine)).first()
            if row.access_token != seen.access_token and not self._stale(row):
                return decrypt_secret(row.access_token)  # renewed while this run waited
            answer = exchange(self.domain, self._grant(row), self.session)
            connection.execute(
                table.update().where(mine).values(**_token_values(answer, self.now()))
            )
        return answer["access_token"]

    def _grant(self, row: Any) -> dict[str, str]:
        form = {"client_id": row.client_id, "client_secret": decrypt_secret(row.client_secret)}
        if row.grant == CLIENT_CREDENTIALS:
            return {**form, "grant_type": CLIENT_CREDENTIALS}
        if row.refresh_token:
            refresh = decrypt_secret(row.refresh_token)
            return {**form, "grant_type": "refresh_token", "refresh_token": refresh}
        raise AuthError(
            f"the token for {self.domain} expired and there is no refresh token: "
            "reconnect the store (`lgl-sync retailer connect`)"
        )
