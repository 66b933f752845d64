"""A Dagster run in its own process that can be killed at an exact point, for crash tests.

``python -m lgl_sync_tests.killable_run '<json>'`` materializes one flow's assets for a
partition on the instance in ``home``. With ``kill`` set, the process dies (``os._exit(9)``,
no cleanup, as a killed container would) right after the Nth successful call of ``kill.after``
or right before the first call of ``kill.before`` once N calls of ``kill.after`` were made.
It prints the outcome statuses as JSON when it lives.
"""

from __future__ import annotations

import json
import os
import sys
import time

import dagster as dg

from lgl_sync.defs.alerts import NotifierResource
from lgl_sync.defs.fulfillments import lgl_shipments, retailer_fulfillments
from lgl_sync.defs.orders import imported_lgl_orders, retailer_order_changes, retailer_paid_orders
from lgl_sync.defs.resources import (
    ControlPlaneResource,
    RetailerStoresResource,
    ShopifyStoreResource,
)
from lgl_sync.shopify.client import ShopifyClient

FLOWS = {
    "orders": ([retailer_paid_orders, imported_lgl_orders], "imported_lgl_orders"),
    "fulfillments": ([lgl_shipments, retailer_fulfillments], "retailer_fulfillments"),
    "changes": (
        [retailer_paid_orders, imported_lgl_orders, retailer_order_changes],
        "retailer_order_changes",
    ),
}


def arguments(
    world, flow: str, kill: dict | None = None, start_at: float = 0.0, config: dict | None = None
) -> str:
    """The JSON argument for a run against a test ``World``."""
    handle = next(iter(world.instance.get_dynamic_partitions("retailers")))
    env_name = f"SHOPIFY_{handle.upper().replace('-', '_')}_TOKEN"
    return json.dumps(
        {
            "flow": flow,
            "kill": kill,
            "start_at": start_at,
            "config": config,
            "key": handle,
            "home": world.instance.root_directory,
            "lgl": world.sandbox.domain("lgl"),
            "token": "sandbox-token-lgl",
            "db": world.database_url,
            "env": {env_name: os.environ[env_name]},
        }
    )


def _install_kill(kill: dict) -> None:
    real = ShopifyClient.mutate
    made: list[str] = []

    def mutate(self, name, variables=None, **kwargs):
        if name == kill.get("before") and made.count(kill["after"]) >= kill["count"]:
            os._exit(9)
        data = real(self, name, variables, **kwargs)
        made.append(name)
        if not kill.get("before") and made.count(kill["after"]) == kill["count"]:
            os._exit(9)
        return data

    ShopifyClient.mutate = mutate


def main() -> None:
    args = json.loads(sys.argv[1])
    os.environ.update(args["env"])
    if args.get("kill"):
        _install_kill(args["kill"])
    assets, output = FLOWS[args["flow"]]
    time.sleep(max(0.0, args.get("start_at", 0) - time.time()))
    config = args.get("config")
    with dg.DagsterInstance.from_config(args["home"]) as instance:
        result = dg.materialize(
            assets,
            partition_key=args["key"],
            instance=instance,
            run_config={"ops": {a.key.path[-1]: {"config": config} for a in assets}}
            if config
            else None,
            resources={
                "lgl_shopify": ShopifyStoreResource(domain=args["lgl"], token=args["token"]),
                "control_plane": ControlPlaneResource(database_url=args["db"]),
                "retailer_stores": RetailerStoresResource(database_url=args["db"]),
                "notifier": NotifierResource(),
            },
        )
        print(json.dumps([o.status for o in result.output_for_node(output)]))


if __name__ == "__main__":
    main()
