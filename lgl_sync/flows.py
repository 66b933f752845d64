"""The three flows of LGL Sync and everything that names them: their assets, the job the
schedules launch, the retailer flag that turns them on, how fresh they must stay, and the run
tag. Schedules, tags, history, status, health, alerts and the digest all read it from here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

FLOW_TAG = "lgl/flow"  # on every asset, so the UI can filter by flow
RETAILER_FLOW_TAG = "lgl/retailer-flow"  # dagster.yaml limits runs to one per value


@dataclass(frozen=True)
class _Facts:
    label: str
    assets: tuple[str, ...]
    job: str
    flag: str  # the retailers column that turns the flow on
    fresh_minutes: int  # default of LGL_FRESH_<FLOW>_MINUTES
    outcome_prefix: str | None  # metadata keys that count a run's held or skipped items


class Flow(StrEnum):
    """One of LGL Sync's flows; its value is the name stored in ``sync_jobs.job_type``."""

    ORDERS = "orders"
    FULFILLMENTS = "fulfillments"
    INVENTORY = "inventory"

    @property
    def _facts(self) -> _Facts:
        return _FACTS[self]

    @property
    def label(self) -> str:
        """The name people read: ``Orders``."""
        return self._facts.label

    @property
    def assets(self) -> tuple[str, ...]:
        return self._facts.assets

    @property
    def job(self) -> str:
        return self._facts.job

    @property
    def flag(self) -> str:
        return self._facts.flag

    @property
    def outcome_prefix(self) -> str | None:
        return self._facts.outcome_prefix

    @property
    def setting(self) -> str:
        """The environment variable of the flow's freshness window."""
        return f"LGL_FRESH_{self.value.upper()}_MINUTES"

    def fresh_window(self) -> timedelta:
        """``LGL_FRESH_<FLOW>_MINUTES`` or the default: the longest the flow may go without
        success (the assets' freshness policies and `lgl-sync health`)."""
        raw = os.environ.get(self.setting, str(self._facts.fresh_minutes))
        try:
            minutes = int(raw)
        except ValueError:
            raise ValueError(f"{self.setting} must be a number of minutes") from None
        return timedelta(minutes=minutes)

    def enabled_for(self, retailer: object) -> bool:
        """Whether the retailer's flag for this flow is on."""
        return bool(getattr(retailer, self.flag))


_FACTS = {
    Flow.ORDERS: _Facts(
        "Orders",
        ("retailer_paid_orders", "imported_lgl_orders", "retailer_order_changes"),
        "import_orders",
        "import_orders", 30, "held_",
    ),
    Flow.FULFILLMENTS: _Facts(
        "Fulfillments", ("lgl_shipments", "retailer_fulfillments"), "push_fulfillments",
        "push_fulfillments", 30, "skipped_",
    ),
    Flow.INVENTORY: _Facts(
        "Inventory",
        ("lgl_inventory_snapshot", "unimported_order_units", "retailer_inventory"),
        "inventory_snapshot", "sync_inventory", 15, None,
    ),
}  # fmt: skip
_BY_ASSET = {asset: flow for flow in Flow for asset in flow.assets}
STOCK_CHANGES_JOB = "sync_stock_changes"  # LGL's stock webhooks, every retailer in one run
_BY_JOB = {flow.job: flow for flow in Flow} | {STOCK_CHANGES_JOB: Flow.INVENTORY}


def retailer_of(tags) -> str | None:
    """The retailer a run is for: its partition, or the retailer dimension of a month x
    retailer partition (the usage reports)."""
    return tags.get("dagster/partition/retailer") or tags.get("dagster/partition")


def flow_of_asset(asset: str) -> Flow | None:
    return _BY_ASSET.get(asset)


def flow_of_job(job_name: str | None) -> Flow | None:
    return _BY_JOB.get(job_name or "")


def run_kind(job_name: str | None, asset_keys) -> str:
    """What ``sync_jobs.job_type`` says of a run, whatever launched it: the flow of its job, or
    for a UI launch, a backfill or an automation run (``__ASSET_JOB``) the flow of the assets it
    materializes (``orders+inventory`` when several), else the job's own name."""
    flow = flow_of_job(job_name)
    if flow is not None:
        return flow.value
    flows = sorted(
        {f.value for key in asset_keys or () if (f := flow_of_asset(key.to_user_string()))}
    )
    return "+".join(flows) if flows else (job_name or "sync")


def flow_of(job_name: str | None, step_key: str | None) -> Flow | None:
    """The flow of a job, or of an asset's step or one of its checks
    (``retailer_fulfillments_fulfillment_lag``)."""
    if flow_of_job(job_name):
        return flow_of_job(job_name)
    matches = [asset for asset in _BY_ASSET if step_key and step_key.startswith(asset)]
    return _BY_ASSET[max(matches, key=len)] if matches else None


def label(flow: str | None) -> str:
    """A flow's label, or a readable name for anything else (``Sync`` for none)."""
    if flow in _BY_JOB.values():
        return Flow(flow).label
    return (flow or "Sync").title()
