"""Renders each email template with sample data and screenshots it at phone width in headless
Chromium (make email-screenshots). Writes docs/screenshots/email-*.png and the HTML beside it
under .dagster_home/email-previews/ for a browser."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from lgl_sync.notify.notices import (
    Notice,
    activity_notice,
    failure_notice,
    recovery_notice,
    render,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PREVIEWS = ROOT / ".dagster_home" / "email-previews"
UI = "http://127.0.0.1:3000"
RUN = "4f6c1e52-8a1b-4c55-9d7e-2b3f0e1a9c11"


def samples() -> dict[str, tuple[Notice, int]]:
    row = {
        "imported": 42,
        "held": 2,
        "pushed": 37,
        "skus": 1180,
        "succeeded": 287,
        "failed": 1,
        "requests": 2310,
        "cost": 41200,
        "holds": {"unknown_sku": 2},
        "errors": [],
        "health": [],
    }
    digest = Notice(
        kind="digest",
        subject="LGL Sync digest 2026-11-25: 118 orders imported, 3 held, 102 shipments pushed, "
        "4210 SKUs updated, 2 failed runs",
        context={
            "day": "2026-11-25",
            "headline": "118 orders imported, 3 held, 102 shipments pushed, 4210 SKUs updated, "
            "2 failed runs",
            "rows": [
                {**row, "name": "All retailers", "imported": 118, "held": 3, "failed": 2},
                {
                    **row,
                    "name": "Nationwide Plants",
                    "health": [
                        "orders: 99% ok in 24 h (144 runs), 99% in 7 d",
                        "fulfillments: 100% ok in 24 h (144 runs), 100% in 7 d",
                        "inventory: 100% ok in 24 h (288 runs), 100% in 7 d",
                        "Shopify API p95 latency: 412 ms",
                    ],
                },
                {
                    **row,
                    "name": "Epic Gardening",
                    "held": 1,
                    "holds": {"too_many_lines": 1},
                    "errors": ["auth: [API] Invalid API key or access token (unrecognized login)"],
                },
            ],
            "held_back": ["[Nationwide Plants] Orders: 3 imported (23:10)"],
            "suppressed": 4,
        },
    )
    return {
        "failure": (
            failure_notice(
                retailer_id="epic-gardening",
                retailer_name="Epic Gardening",
                flow="orders",
                category="auth",
                message="auth: [API] Invalid API key or access token (unrecognized login or "
                "wrong password)",
                run_id=RUN,
                run_url=f"{UI}/runs/{RUN}",
                step="retailer_paid_orders",
            ),
            3,
        ),
        "activity": (
            activity_notice(
                retailer_id="nationwide-plants",
                retailer_name="Nationwide Plants",
                flow="orders",
                numbers={"imported": 12, "held": 1},
                reasons={"unknown_sku": 1},
                run_id=RUN,
                run_url=f"{UI}/runs/{RUN}",
            ),
            0,
        ),
        "recovery": (
            recovery_notice(
                retailer_id="epic-gardening",
                retailer_name="Epic Gardening",
                flow="orders",
                run_id=RUN,
                run_url=f"{UI}/runs/{RUN}",
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
