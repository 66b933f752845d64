"""Renders each email template from real runs and screenshots it at phone width in headless
Chromium (make email-screenshots). Writes docs/screenshots/email-*.png and the HTML beside it
under .dagster_home/email-previews/ for a browser.

The runs are the demo's (`lgl-sync demo` into a scratch DAGSTER_HOME), mirrored into the control
plane as the sensors would: the activity email is an import run's own numbers, the digest is
built from the day's mirrored runs (its rows add up to its headline), the failure is a real
run of a retailer whose token is missing, and the recovery is that flow's next success.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from lgl_sync.notify.notices import Notice, activity_notice, failure_notice, recovery_notice, render

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PREVIEWS = ROOT / ".dagster_home" / "email-previews"
UI = "http://127.0.0.1:3000"
RETAILER = "nationwide-plants"


def _demo(home: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOG_DIR": str(home / "logs")}
    env.pop("LGL_DATABASE_URL", None)
    lgl_sync = Path(sys.executable).with_name("lgl-sync")
    subprocess.run([lgl_sync, "demo"], env=env, check=True, capture_output=True, timeout=600)


def _failed_run(instance, database_url: str):
    """A real failure: the import of a retailer whose token variable is not set."""
    from lgl_sync.defs.orders import retailer_paid_orders
    from lgl_sync.defs.resources import ControlPlaneResource, RetailerStoresResource

    os.environ.pop("SHOPIFY_NATIONWIDE_PLANTS_TOKEN", None)
    os.environ["LGL_ALLOW_LOCAL_STORES"] = "true"
    result = dg.materialize(
        [retailer_paid_orders],
        partition_key=RETAILER,
        instance=instance,
        resources={
            "control_plane": ControlPlaneResource(database_url=database_url),
            "retailer_stores": RetailerStoresResource(database_url=database_url),
        },
        raise_on_error=False,
    )
    return result.run_id, result.get_step_failure_events()[0]


def samples() -> dict[str, tuple[Notice, int]]:
    from lgl_sync.control_plane.database import create_engine
    from lgl_sync.control_plane.retailers import list_retailers
    from lgl_sync.defs.alerts import ACTIVITY_FIGURES, _changed_orders, _run_activity
    from lgl_sync.defs.history import mirror_once
    from lgl_sync.notify.digest import build_digest
    from lgl_sync.ops.health import collect
    from lgl_sync.ops.runs import failure_category, root_cause

    home = Path(tempfile.mkdtemp(prefix="lgl-email-"))
    _demo(home)
    url = f"sqlite:///{home / 'lgl_sync.db'}"
    engine = create_engine(url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        imports = instance.get_run_records(
            dg.RunsFilter(job_name="import_orders", tags={"dagster/partition": RETAILER}),
            limit=2,
        )
        run_id = imports[-1].dagster_run.run_id  # cycle 1: the one that imported
        numbers = _run_activity(instance, run_id)["orders"]
        failed_id, failure = _failed_run(instance, url)
        mirror_once(instance, engine, {})
        names = {r.id: r.name for r in list_retailers(engine)}
        digest, _ = build_digest(engine, datetime.now(UTC), names, collect(instance, engine))
        changed = _changed_orders(instance, run_id)
    name = names[RETAILER]
    return {
        "failure": (
            failure_notice(
                retailer_id=RETAILER,
                retailer_name=name,
                flow="orders",
                category=failure_category(failure.step_failure_data),
                message=root_cause(failure.step_failure_data),
                run_id=failed_id,
                run_url=f"{UI}/runs/{failed_id}",
                step=failure.step_key,
            ),
            0,
        ),
        "activity": (
            activity_notice(
                retailer_id=RETAILER,
                retailer_name=name,
                flow="orders",
                numbers={k: numbers[k] for k in ACTIVITY_FIGURES if k in numbers},
                reasons={
                    k.removeprefix("held_"): n
                    for k, n in numbers.items()
                    if n and k.startswith("held_")
                },
                run_id=run_id,
                run_url=f"{UI}/runs/{run_id}",
                orders=changed,
            ),
            0,
        ),
        "recovery": (
            recovery_notice(
                retailer_id=RETAILER,
                retailer_name=name,
                flow="orders",
                run_id=run_id,
                run_url=f"{UI}/runs/{run_id}",
            ),
            0,
        ),
        "digest": (digest, 0),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    for name, (notice, repeats) in samples().items():
        subject, text, html = render(notice, repeats)
        page = PREVIEWS / f"{name}.html"
        page.write_text(html)
        (PREVIEWS / f"{name}.txt").write_text(f"Subject: {subject}\n\n{text}")
        shot = OUT / f"email-{name}.png"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [
                    "chromium",
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={profile}",
                    f"--window-size=390,{1500 if name == 'digest' else 900}",
                    "--hide-scrollbars",
                    f"--screenshot={shot}",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
            )
        print(f"{shot.relative_to(ROOT)}  <- {subject}")


if __name__ == "__main__":
    sys.exit(main())
