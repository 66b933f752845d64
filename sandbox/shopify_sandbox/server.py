"""The sandbox over HTTP: Shopify's GraphQL endpoint per store, and ``/_sandbox/`` controls.

- ``POST /stores/<handle>/admin/api/<version>/graphql.json`` — the Admin GraphQL API.
- ``GET /stores/<handle>/admin/oauth/authorize``, ``POST .../admin/oauth/access_token`` —
  app install and Shopify's token grants (``oauth.py``).
- ``GET  /_sandbox/stores`` — each store's URL and token.
- ``GET  /_sandbox/stores/<handle>/dump`` — a store's full state; ``.../usage`` its counters.
- ``POST /_sandbox/stores/<handle>/faults`` — ``{"rules": [...], "seed": 0}``; DELETE clears.
- ``POST /_sandbox/stores/<handle>/settings`` — ``plan``, ``search_lag``, ``latency_ms``,
  ``development_store``.
- ``POST /_sandbox/scenario`` — load a scenario (see docs/sandbox.md); ``POST /_sandbox/reset``.
- ``POST /_sandbox/clock`` — ``{"speed": 10}`` or ``{"advance": 30}``.
- ``POST /_sandbox/webhooks`` — delivery chaos ``{"drop": 0.2, "duplicate": 0.2, "delay": [0, 5],
  "seed": 1}``; ``GET`` its counters. ``POST /_sandbox/stores/<handle>/uninstall`` — the
  merchant uninstalls the app (``app/uninstalled``, then every token is revoked).
- ``GET  /_sandbox/bulk/<handle>/<id>.jsonl`` — a bulk operation's result file.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from shopify_sandbox import oauth
from shopify_sandbox.dump import dump_store
from shopify_sandbox.engine import Response, Sandbox
from shopify_sandbox.faults import FaultRule
from shopify_sandbox.scenario import ScenarioFactory, load_scenario

logger = logging.getLogger(__name__)
_GRAPHQL = re.compile(r"^/stores/([\w-]+)/admin/api/([\w-]+)/graphql\.json$")
_BULK = re.compile(r"^/_sandbox/bulk/([\w-]+)/(\d+)\.jsonl$")
_OAUTH = re.compile(r"^/stores/([\w-]+)/admin/oauth/(authorize|access_token)$")
_STORE = re.compile(r"^/_sandbox/stores/([\w-]+)/(dump|usage|faults|settings|requests|uninstall)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body leave as separate writes, and with Nagle's algorithm each
    # keep-alive response waited for the client's delayed ACK (about 40 ms a request here;
    # 3.4 ms without). Shopify does not stall a kept-alive connection like that.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox http " + format, *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response) -> None:
        if response.action == "drop":
            self.close_connection = True
            return
        if response.action == "hang":
            time.sleep(response.hang_seconds)
            self.close_connection = True
            return
        body = response.body
        raw = body.encode() if isinstance(body, str) else json.dumps(body, default=str).encode()
        self.send_response(response.status)
        content_type = "text/plain" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _json(self, status: int, body: Any) -> None:
        self._send(Response(status, body))

    def do_POST(self) -> None:
        sandbox = self.server.sandbox
        path = self.path.split("?", 1)[0]
        match = _OAUTH.match(path)
        if match and match.group(2) == "access_token":
            raw = self._body()
            try:
                form = (
                    json.loads(raw)
                    if raw.strip().startswith(b"{")
                    else dict(parse_qsl(raw.decode()))
                )
            except ValueError:
                form = {}
            self._oauth(match, {k: str(v) for k, v in form.items()})
            return
        match = _GRAPHQL.match(path)
        if match:
            store = sandbox.stores.get(match.group(1))
            if store is not None and store.latency[0] > 0:  # the network's round trip
                mean, jitter = store.latency
                time.sleep(max(0.0, store.latency_random.uniform(mean - jitter, mean + jitter)))
            self._send(
                sandbox.handle_graphql(
                    match.group(1),
                    match.group(2),
                    self.headers.get("X-Shopify-Access-Token"),
                    self._body(),
                    base_url=self.server.url,
                    cost_debug=self.headers.get("Shopify-GraphQL-Cost-Debug") == "1",
                )
            )
            return
        try:
            payload = json.loads(self._body() or b"{}")
            self._json(200, self._control(path, payload))
        except (KeyError, ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})

    def do_DELETE(self) -> None:
        match = _STORE.match(self.path)
        if match and match.group(2) == "faults":
            self.server.sandbox.clear_faults(match.group(1))
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "not found"})

    def _control(self, path: str, payload: dict[str, Any]) -> Any:
        sandbox = self.server.sandbox
        if path == "/_sandbox/reset":
            sandbox.reset()
            return {"ok": True}
        if path == "/_sandbox/scenario":
            load_scenario(sandbox, payload, generate=self.server.generate)
            return describe(sandbox, self.server.url)
        if path == "/_sandbox/webhooks":
            sandbox.webhooks.set_chaos(payload)
            return {"ok": True}
        if path == "/_sandbox/clock":
            if "speed" in payload:
                sandbox.clock.set_speed(float(payload["speed"]))
            if "advance" in payload:
                sandbox.clock.advance(float(payload["advance"]))
            return {"speed": sandbox.clock.speed}
        match = _STORE.match(path)
        if not match:
            raise KeyError(f"no control endpoint {path}")
        store = sandbox.stores[match.group(1)]
        if match.group(2) == "faults":
            rules = [FaultRule(**rule) for rule in payload.get("rules", [])]
            sandbox.set_faults(store.handle, rules, int(payload.get("seed", 0)))
            return {"rules": [r.as_json() for r in rules]}
        if match.group(2) == "settings":
            store.apply_settings(payload)
            return {"ok": True}
        if match.group(2) == "uninstall":
            with store.lock:
                store.uninstall()
            return {"ok": True}
        raise KeyError(f"POST is not supported on {path}")

    def _oauth(self, match: re.Match, query: dict[str, str]) -> None:
        store = self.server.sandbox.stores.get(match.group(1))
        if store is None:
            self._json(404, {"errors": "Not Found"})
            return
        with store.lock:
            if match.group(2) == "authorize":
                status, body = oauth.authorize(store, query)
            else:
                status, body = oauth.access_token(store, query)
        if status == 302:
            self._send(Response(302, "", {"Location": body["location"]}))
        else:
            self._send(Response(status, body))

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        path, _, raw_query = self.path.partition("?")
        match = _OAUTH.match(path)
        if match and match.group(2) == "authorize":
            self._oauth(match, dict(parse_qsl(raw_query)))
            return
        if path == "/_sandbox/stores":
            self._json(200, describe(sandbox, self.server.url))
            return
        if path == "/_sandbox/webhooks":
            counters = sandbox.webhooks.counters.as_json()
            self._json(200, {**counters, "pending": sandbox.webhooks.pending()})
            return
        match = _BULK.match(path)
        if match and match.group(1) in sandbox.stores:
            op = sandbox.stores[match.group(1)].bulk_operations.get(int(match.group(2)))
            if op is not None and op.body is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/jsonl")
                self.send_header("Content-Length", str(len(op.body)))
                self.end_headers()
                self.wfile.write(op.body)
                return
        match = _STORE.match(path)
        if match and match.group(1) in sandbox.stores:
            store = sandbox.stores[match.group(1)]
            kind = match.group(2)
            if kind == "dump":
                self._json(200, dump_store(store))
                return
            if kind == "usage":
                self._json(200, store.usage.as_json())
                return
            if kind == "requests":
                self._json(200, list(store.request_log))
                return
        self._json(404, {"error": "not found"})


def describe(sandbox: Sandbox, url: str) -> dict[str, Any]:
    """Each store's GraphQL URL base (the ``domain`` a retailer row would hold) and token."""
    return {
        handle: {
            "domain": f"{url}/stores/{handle}",
            "token": store.token,
            "api_secret": store.api_secret,
            "name": store.name,
            "plan": store.bucket.plan,
        }
        for handle, store in sandbox.stores.items()
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], sandbox: Sandbox, generate: ScenarioFactory | None
    ) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.generate = generate

    def handle_error(self, request, client_address) -> None:
        """A client that went away (killed, timed out) is normal here; anything else is not."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class SandboxServer:
    """Serves a Sandbox over HTTP on a background thread (port 0 picks a free port).

    ``generate`` builds a scenario from a short description (``{"name": ..., "skus": N}``)
    posted to ``/_sandbox/scenario``; without it only full scenarios are accepted.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        generate: ScenarioFactory | None = None,
    ) -> None:
        self.sandbox = sandbox
        self._server = _Server((host, port), sandbox, generate)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return self._server.url

    def store_url(self, handle: str) -> str:
        return f"{self.url}/stores/{handle}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
