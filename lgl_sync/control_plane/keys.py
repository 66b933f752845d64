"""A key rotation: every stored secret encrypted again under LGL_SECRET_KEY's first key.

With ``LGL_SECRET_KEY=NEW,OLD`` both keys decrypt and ``NEW`` encrypts; ``rotate_stored_secrets``
then rewrites each encrypted value (retailer tokens, store credentials, asset handoffs) under
``NEW``, so ``OLD`` can be dropped. Each row is rewritten only if it still holds the value read
(a token refreshed meanwhile is already under ``NEW``), so nothing written concurrently is lost,
and running it twice changes nothing the second time that matters: it is safe to repeat.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lgl_sync.control_plane.tables import asset_handoffs, retailers, store_credentials
from lgl_sync.secrets import ENCRYPTED_PREFIX, SEALED, resealed, rotated

CREDENTIAL_COLUMNS = ("client_secret", "access_token", "refresh_token")


def _retailer_tokens(engine: Engine) -> int:
    done = 0
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(retailers.c.id, retailers.c.api_token).where(
                retailers.c.api_token.startswith(ENCRYPTED_PREFIX)
            )
        ).all()
        for row in rows:
            done += connection.execute(
                sa.update(retailers)
                .where(retailers.c.id == row.id, retailers.c.api_token == row.api_token)
                .values(api_token=rotated(row.api_token))
            ).rowcount
    return done


def _store_credentials(engine: Engine) -> int:
    done = 0
    with engine.begin() as connection:
        for row in connection.execute(sa.select(store_credentials)).mappings().all():
            values = {
                c: rotated(row[c])
                for c in CREDENTIAL_COLUMNS
                if row[c] and row[c].startswith(ENCRYPTED_PREFIX)
            }
            if not values:
                continue
            same = [store_credentials.c[c] == row[c] for c in values]
            done += connection.execute(
                sa.update(store_credentials)
                .where(store_credentials.c.domain == row["domain"], *same)
                .values(**values)
            ).rowcount
    return done


def _asset_handoffs(engine: Engine) -> int:
    done = 0
    with engine.begin() as connection:
        keys = connection.execute(
            sa.select(
                asset_handoffs.c.asset_key, asset_handoffs.c.partition_key, asset_handoffs.c.run_id
            )
        ).all()
    for key in keys:  # one row at a time: a handoff can be large
        with engine.begin() as connection:
            where = (
                asset_handoffs.c.asset_key == key.asset_key,
                asset_handoffs.c.partition_key == key.partition_key,
                asset_handoffs.c.run_id == key.run_id,
            )
            value = connection.execute(sa.select(asset_handoffs.c.value).where(*where)).scalar()
            if value is None or not bytes(value).startswith(SEALED):
                continue
            done += connection.execute(
                sa.update(asset_handoffs).where(*where).values(value=resealed(bytes(value)))
            ).rowcount
    return done


def rotate_stored_secrets(engine: Engine) -> dict[str, int]:
    """Re-encrypts every stored secret under the first key; how many of each were rewritten."""
    return {
        "retailer tokens": _retailer_tokens(engine),
        "store credentials": _store_credentials(engine),
        "asset handoffs": _asset_handoffs(engine),
    }
