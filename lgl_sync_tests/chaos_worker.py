"""One Dagster run of one flow in its own process, for the chaos run (which may kill it).

``python -m lgl_sync_tests.chaos_worker '<json>'`` runs the project's own job for the flow
(``orders``, ``fulfillments``, ``snapshot``, ``inventory``) and partition on the instance in
``home``, with the environment given; prints ``{"success": ...}`` when it lives.
"""

from __future__ import annotations

import json
import os
import sys

# Reconcile a claim left by a killed run after 3 s instead of 2 minutes, so a chaos round does
# not wait for it; the protocol is the same.
RECONCILE = {"config": {"reconcile_after_seconds": 3}}
RUN_CONFIG = {
    "orders": {"ops": {"imported_lgl_orders": RECONCILE}},
    "fulfillments": {"ops": {"lgl_shipments": RECONCILE, "retailer_fulfillments": RECONCILE}},
}


def main() -> None:
    args = json.loads(sys.argv[1])
    os.environ.update(args["env"])
    import dagster as dg

    from lgl_sync.definitions import defs
    from lgl_sync.ops.runs import run_flow

    flow, key = args["flow"], args.get("key")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.DagsterInstance.from_config(args["home"]) as instance:
        config = {**RUN_CONFIG.get(flow, {}), **quiet}
        result = run_flow(defs, instance, flow, key, config)
    print(json.dumps({"success": result.success}))


if __name__ == "__main__":
    main()
