"""Where operators watch LGL Sync besides email: Slack and Prometheus.

Contract (operators' day two): with ``SLACK_WEBHOOK_URL`` set, every notice the policy sends
also reaches Slack (same subject and text), a Slack outage is retried without sending the email
twice, and the URL (a credential) is never shown; ``GET /metrics`` of the web app serves, in
Prometheus's text format, what a run in another process recorded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from lgl_sync import settings
from lgl_sync.notify.notices import failure_notice
from lgl_sync.notify.notifier import Notifier
from lgl_sync.notify.policy import Settings
from lgl_sync.notify.transports import Both, SlackTransport, transport_from_env
from lgl_sync_tests.killable_run import arguments
from lgl_sync_tests.notify_fixtures import smtp_server
from lgl_sync_tests.orders_world import RETAILER, seed  # 3 orders with an unknown SKU


class SlackEndpoint(BaseHTTPRequestHandler):
    """A local stand-in for Slack's incoming webhook: records posts, fails the first
    ``fail`` of them with 500."""

    posts: list[dict] = []
    fail = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if SlackEndpoint.fail > 0:
            SlackEndpoint.fail -= 1
            self.send_response(500)
            self.end_headers()
            return
        SlackEndpoint.posts.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args):
        pass


@pytest.fixture
def slack():
    SlackEndpoint.posts, SlackEndpoint.fail = [], 0
    server = HTTPServer(("127.0.0.1", 0), SlackEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    server.shutdown()


def _failure():
    return failure_notice(
        retailer_id=RETAILER,
        retailer_name="Nationwide Plants",
        flow="orders",
        category="auth",
        message="auth: the token was refused",
        run_id="run-1",
        run_url="https://dagster.lgl.example/runs/run-1",
        step="retailer_paid_orders",
    )


def test_a_failure_reaches_slack_and_email_once_each_despite_a_slack_outage(
    slack, store_engine, monkeypatch
):
    controller, url, inbox = smtp_server()
    try:
        monkeypatch.setenv("SMTP_URL", url)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack)
        monkeypatch.setenv("LGL_ALLOW_LOCAL_STORES", "true")
        transport = transport_from_env()
        assert isinstance(transport, Both) and slack not in repr(transport.transports[1])
        SlackEndpoint.fail = 1  # Slack answers 500 once: retried
        notifier = Notifier(
            engine=store_engine,
            transport=transport,
            sender="LGL Sync <sync@lgl.example>",
            recipients=["ops@lgl.example"],
            settings=Settings(),
            now=lambda: datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
            sleep=lambda _s: None,
        )
        assert notifier.notify(_failure()) == "sent"
    finally:
        controller.stop()
    (post,) = SlackEndpoint.posts
    assert "Nationwide Plants" in post["text"] and "orders" in post["text"]
    assert len(inbox.messages) == 1  # the email was not sent again for Slack's retry


def test_slack_accepts_only_a_slack_webhook_url(monkeypatch, slack):
    monkeypatch.delenv("LGL_ALLOW_LOCAL_STORES", raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://evil.example/hook?secret=abc")
    with pytest.raises(settings.SettingError) as refused:
        transport_from_env()
    assert "SLACK_WEBHOOK_URL" in str(refused.value) and "secret=abc" not in str(refused.value)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack)  # local: only with LGL_ALLOW_LOCAL_STORES
    with pytest.raises(settings.SettingError):
        transport_from_env()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/zzz")
    assert isinstance(transport_from_env().transports[1], SlackTransport)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_metrics_serve_what_a_run_in_another_process_recorded(world):
    seed(world.sandbox, normal=3)
    world.add_retailer(RETAILER)
    ran = subprocess.run(
        [sys.executable, "-m", "lgl_sync_tests.killable_run", arguments(world, "orders")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": world.instance.root_directory,
        "LGL_DATABASE_URL": world.database_url,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "lgl_sync.cli", "web", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.kill()
    retailer = f'retailer="{RETAILER}"'
    # Written by the run in the other process: its held orders and its Shopify usage.
    assert f'lgl_sync_held_orders{{{retailer},reason="unknown_sku"}} 3' in text
    requests_line = next(
        line for line in text.splitlines()
        if line.startswith(f"lgl_sync_api_requests_last_hour{{{retailer}}}")
    )  # fmt: skip
    assert int(requests_line.rsplit(" ", 1)[1]) > 0
    assert f'lgl_sync_retailer_enabled{{retailer="{RETAILER}"}} 1' in text
    assert "# TYPE lgl_sync_held_orders gauge" in text
    assert "token" not in text.lower()


def _scrape(url: str) -> str:
    for _ in range(200):  # the server starting (at most 20 s)
        try:
            answer = requests.get(url, timeout=5)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            return answer.text
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the web app did not start")
