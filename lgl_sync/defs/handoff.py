"""The IO manager: what one asset hands the next goes through the control plane, not files.

Dagster's default IO manager pickles every asset value under ``$DAGSTER_HOME/storage``: with
the webserver, the daemon and run workers on different machines the next step would not find
it, and the orders read carry customers' addresses onto a local disk. Here each value is one row
of ``asset_handoffs`` (the latest per asset and partition), encrypted with LGL_SECRET_KEY when
it is set, and rows older than LGL_HANDOFF_RETENTION_HOURS are deleted as new ones arrive.
"""

from __future__ import annotations

import pickle
import zlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from lgl_sync import settings
from lgl_sync.control_plane.tables import asset_handoffs as table
from lgl_sync.defs.resources import ControlPlaneResource
from lgl_sync.secrets import seal, unseal


def _where(context) -> tuple[str, str]:
    """The asset and its partition: for an input, the upstream asset's own partition (an
    unpartitioned snapshot read by a retailer's partition has none)."""
    key = "/".join(context.asset_key.path)
    return key, context.asset_partition_key if context.has_asset_partitions else ""


class ControlPlaneIOManager(dg.ConfigurableIOManager):
    """Asset values in the control plane's ``asset_handoffs`` table."""

    database_url: str | None = None  # LGL_DATABASE_URL or SQLite under DAGSTER_HOME

    def _engine(self):
        return ControlPlaneResource(database_url=self.database_url).engine()

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        asset_key, partition = _where(context)
        now = datetime.now(UTC)
        values = {
            "run_id": context.run_id,
            "value": seal(_pack(obj)),
            "created_at": now,
        }
        keep = timedelta(hours=settings.handoff_retention_hours())
        with self._engine().begin() as connection:
            mine = (table.c.asset_key == asset_key) & (table.c.partition_key == partition)
            if connection.execute(table.update().where(mine).values(**values)).rowcount == 0:
                connection.execute(
                    table.insert().values(asset_key=asset_key, partition_key=partition, **values)
                )
            connection.execute(table.delete().where(table.c.created_at < now - keep))

    def load_input(self, context: dg.InputContext):
        asset_key, partition = _where(context)
        with self._engine().connect() as connection:
            value = connection.execute(
                sa.select(table.c.value).where(
                    table.c.asset_key == asset_key, table.c.partition_key == partition
                )
            ).scalar()
        if value is None:
            raise dg.Failure(
                f"{asset_key} for {partition or 'this run'} is not in the control plane "
                "(older than LGL_HANDOFF_RETENTION_HOURS, or never made): run the flow again "
                "from its first asset",
                metadata={"error_category": "config"},
            )
        return _unpack(unseal(value))


def _pack(obj) -> bytes:
    """Pickled, then compressed: a 100,000-SKU snapshot is mostly repeated ids (about a tenth
    of its pickle once compressed), which is what is encrypted, stored and held in memory."""
    return zlib.compress(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _unpack(data: bytes):
    # A pickle begins with its PROTO opcode (0x80); a handoff stored before compression is one.
    return pickle.loads(data if data[:1] == b"\x80" else zlib.decompress(data))
