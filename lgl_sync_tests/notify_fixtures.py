"""Real mail endpoints for the notification tests: an SMTP server (aiosmtpd) with AUTH, and a
local HTTP endpoint that accepts exactly what Mailgun's messages API accepts."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "lgl-alerts"
SMTP_PASSWORD = "smtp-pass-4f9a1c"  # registered as a secret: it must not reach any log
MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"
MAILGUN_DOMAIN = "mg.lgl.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the SMTP server received: parsed messages, and the logins it accepted."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def body(self, index: int, subtype: str) -> str:
        content = self.messages[index].get_body(preferencelist=(subtype,)).get_content()
        return content.replace("\r\n", "\n")


def smtp_server():
    """Starts an SMTP server that requires AUTH LOGIN/PLAIN; yields (url, inbox)."""
    inbox = Inbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            inbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    # No TLS on this local test relay, so the plaintext opt-in is part of its URL.
    return controller, f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}?tls=none", inbox


@dataclass
class MailgunEndpoint:
    """Accepts POST /v3/<domain>/messages with basic auth api:<key>; answers ``script`` first."""

    script: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""


def mailgun_server(endpoint: MailgunEndpoint):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            expected = "Basic " + base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
            problems = []
            if self.path != f"/v3/{MAILGUN_DOMAIN}/messages":
                problems.append(f"path {self.path}")
            if self.headers.get("Authorization") != expected:
                problems.append("authorization")
            if not self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                problems.append("content type")
            if problems:
                endpoint.refused.append(", ".join(problems))
                self._answer(401, {"message": "Forbidden"})
                return
            if endpoint.script:
                status = endpoint.script.pop(0)
                self._answer(status, {"message": "scripted"})
                return
            endpoint.received.append(parse_qs(body, keep_blank_values=True))
            self._answer(200, {"id": "<x@mg>", "message": "Queued. Thank you."})

        def _answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
