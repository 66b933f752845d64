"""The project's side of a benchmark, in a process of its own as in production (the sandbox,
like Shopify, is elsewhere): runs flows through the project's Dagster jobs and reports the CPU,
wall time and peak memory of that process alone.

Run by ``bench/run.py`` and ``bench/capacity.py`` with a JSON spec on stdin: ``env`` (the
environment the Definitions read), ``dagster_url`` (the instance's Postgres storage, shared by
every step of a benchmark so each run sees the ones before), ``workdir``, ``speed`` (the
sandbox clock's: every wait of the project's clients is on a clock running that fast), ``keys``
(the retailer partitions) and ``steps`` ([flow, retailer or null]). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts again at exec (Linux keeps
    ``ru_maxrss`` across exec, so a child of a large process would report the parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    spec = json.loads(sys.stdin.read())
    os.environ.update(spec["env"])
    import dagster as dg
    from shopify_sandbox.clock import SandboxClock

    from lgl_sync.definitions import defs
    from lgl_sync.ops.runs import run_flow
    from lgl_sync.shopify.throttle import waiting_on

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    storage = {"storage": {"postgres": {"postgres_url": spec["dagster_url"]}}}
    with (
        waiting_on(SandboxClock(spec["speed"])),
        dg.instance_for_test(temp_dir=spec["workdir"], overrides=storage) as instance,
    ):
        known = set(instance.get_dynamic_partitions("retailers"))
        instance.add_dynamic_partitions("retailers", [k for k in spec["keys"] if k not in known])
        cpu, wall = time.process_time(), time.perf_counter()
        for flow, key in spec["steps"]:
            result = run_flow(defs, instance, flow, key, quiet)
            if not result.success:
                why = [
                    e.step_failure_data.error.message.strip()
                    for e in result.all_events
                    if e.is_step_failure and e.step_failure_data.error
                ]
                raise SystemExit(f"{flow} {key}: the run failed: {why[:1]}")
        report = {
            "runs": len(spec["steps"]),
            "cpu_seconds": time.process_time() - cpu,
            "wall_seconds": time.perf_counter() - wall,
            "peak_rss_mb": _peak_rss_mb(),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
