"""The short chaos run inside `make test` (the full one is `make chaos`): 4 retailers, faults of
every kind on 10% of requests (null quantities and long stalls on the creates among them), a
lagging search index and custom-ID lookup that accepts duplicates, one retailer's token revoked,
duplicate runs of one retailer and flow without the per-retailer lock, processes killed at random
moments, stock churn and sales during runs, then clean rounds until quiet — and every invariant
of lgl_sync_tests/chaos.py holds."""

from __future__ import annotations

from lgl_sync_tests.chaos import run_chaos


def test_short_chaos_run_keeps_every_invariant(tmp_path):
    report = run_chaos(5, orders=30, skus=80, rounds=1, kill_rate=0.5, workdir=tmp_path)
    print(report.line())
    assert report.violations == []
    assert report.quiet_after >= 1
    assert report.killed >= 1 and len(report.faults) >= 5 and report.sales >= 1
    assert report.checked["orders"] >= 60 and report.checked["held"] >= 1
    assert report.checked["shipments"] >= 20 and report.checked["skus"] >= 100
    assert report.duplicates >= 1 and report.custom_id == "lagging_duplicates"
