"""The project's side of a benchmark, in a process of its own as in production (the sandbox,
like Shopify, is elsewhere): runs flows through the project's Dagster jobs and reports the CPU,
wall time and peak memory of that process alone.

Run by ``bench/run.py`` and ``bench/capacity.py`` with a JSON spec on stdin: ``env`` (the
environment the Definitions read), ``dagster_url`` (the instance's Postgres storage, shared by
every step of a benchmark so each run sees the ones before), ``workdir``, ``speed`` (the
sandbox clock's: every wait of the project's clients is on a clock running that fast), ``keys``
(the retailer partitions) and ``steps`` ([flow, retailer or null]), on one line. Prints one
JSON line. With ``serve`` it is one worker of a pool: it prints ``ready``, then runs each line
of steps it is sent and answers each with a report. With ``fork_per_run`` each run is a child
forked from it, as the deployment's launcher starts runs.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback


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


def _run_steps(defs, instance, steps, quiet, fork: bool) -> dict:
    """Runs these steps one after another; with ``fork``, each in a child forked from this
    process, as the deployment's launcher starts runs (``lgl_sync/ops/launcher.py``), the
    children's CPU counted with this process's."""
    from lgl_sync.ops.runs import run_flow

    cpu, wall = _cpu(), time.perf_counter()
    by_flow: dict[str, list[float]] = {}
    for flow, key in steps:
        began, used = time.perf_counter(), _cpu()
        failed = _forked(defs, instance, flow, key, quiet) if fork else None
        if not fork:
            result = run_flow(defs, instance, flow, key, quiet)
            failed = None if result.success else _failure(result)
        if failed is not None:
            raise SystemExit(f"{flow} {key}: the run failed: {failed}")
        spent = by_flow.setdefault(flow, [0, 0.0, 0.0])
        spent[0] += 1
        spent[1] += time.perf_counter() - began
        spent[2] += _cpu() - used
    return {
        "runs": len(steps),
        "cpu_seconds": _cpu() - cpu,
        "wall_seconds": time.perf_counter() - wall,
        "peak_rss_mb": _peak_rss_mb(),
        # [runs, wall seconds, CPU seconds] per flow: where a cycle's time goes.
        "by_flow": by_flow,
    }


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _failure(result) -> str:
    why = [
        e.step_failure_data.error.message.strip()
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    ]
    return str(why[:1])


def _forked(defs, instance, flow, key, quiet) -> str | None:
    from lgl_sync.ops.runs import run_flow

    child = os.fork()
    if child == 0:  # the run's own process
        code = 1
        try:
            result = run_flow(defs, instance, flow, key, quiet)
            code = 0 if result.success else 1
            if code:
                print(f"{flow} {key}: {_failure(result)}", file=sys.stderr, flush=True)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else "(in its own process)"


def main() -> None:
    spec = json.loads(sys.stdin.readline())
    os.environ.update(spec["env"])
    import dagster as dg
    from shopify_sandbox.clock import SandboxClock

    from lgl_sync.definitions import defs
    from lgl_sync.ops.storage import storage_config
    from lgl_sync.shopify.throttle import waiting_on

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    # The deployment's storage: Dagster's Postgres storage with pooled connections.
    os.environ["LGL_BENCH_DAGSTER_URL"] = spec["dagster_url"]
    storage = {"storage": storage_config("LGL_BENCH_DAGSTER_URL")}
    fork = bool(spec.get("fork_per_run"))
    with (
        waiting_on(SandboxClock(spec["speed"])),
        dg.instance_for_test(temp_dir=spec["workdir"], overrides=storage) as instance,
    ):
        known = set(instance.get_dynamic_partitions("retailers"))
        instance.add_dynamic_partitions("retailers", [k for k in spec["keys"] if k not in known])
        if not spec.get("serve"):
            print(json.dumps(_run_steps(defs, instance, spec["steps"], quiet, fork)))
            return
        # A worker of a benchmark's pool (several runs at once, as the daemon starts them):
        # ready, then one line of steps in, one report out, until stdin closes.
        print("ready", flush=True)
        for line in sys.stdin:
            report = _run_steps(defs, instance, json.loads(line), quiet, fork)
            print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
