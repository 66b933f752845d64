"""Slack beside email: every notice the policy lets through is also posted to a Slack channel
through an incoming webhook (``SLACK_WEBHOOK_URL``, a secret: from the environment only, never
logged), with the same subject and text as the email
(https://api.slack.com/messaging/webhooks).

``Both`` sends an email through the mail transport and then Slack; when a retry follows a
failure, what already went out is not sent again (one email and one Slack post per notice).
"""

from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import urlsplit

import requests

from lgl_sync.notify.transports import Email, Transport, TransportError

SLACK_HOST = "hooks.slack.com"
MAX_TEXT = 3500  # Slack truncates long messages; the run link stays in the first lines


def slack_url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why ``url`` is not a Slack incoming webhook LGL Sync will post to (None: it is)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == SLACK_HOST and parts.path.startswith("/"):
        return None
    if allow_local and parts.scheme in ("http", "https") and _loopback(parts.hostname or ""):
        return None  # a stand-in on this machine (tests, the demo)
    return "SLACK_WEBHOOK_URL must be an https://hooks.slack.com/services/... incoming webhook"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class SlackTransport:
    """Posts ``{"text": ...}`` to the incoming webhook."""

    name = "slack"

    def __init__(self, url: str, timeout: float = 10) -> None:
        self._url = url
        self.timeout = timeout

    def __repr__(self) -> str:  # never the webhook URL: it is the credential
        return "SlackTransport(hooks.slack.com)"

    def send(self, email: Email) -> None:
        text = f"*{email.subject}*\n{email.text}"[:MAX_TEXT]
        try:
            response = requests.post(
                self._url, json={"text": text}, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"Slack unreachable: {type(exc).__name__}", temporary=True
            ) from None
        if response.status_code >= 300:
            temporary = response.status_code >= 500 or response.status_code == 429
            raise TransportError(
                f"Slack answered {response.status_code}: {response.text[:100]}",
                temporary=temporary,
            )


class Both:
    """The mail transport, then Slack; a retry sends only what has not gone out yet."""

    def __init__(self, mail: Transport, slack: SlackTransport) -> None:
        self.transports = (mail, slack)
        self.name = f"{mail.name}+slack"
        self._sent: dict[str, set[str]] = {}

    def send(self, email: Email) -> None:
        key = hashlib.sha256(repr((email.subject, email.recipients, email.text)).encode())
        done = self._sent.setdefault(key.hexdigest(), set())
        for transport in self.transports:
            if transport.name not in done:
                transport.send(email)
                done.add(transport.name)
        self._sent.pop(key.hexdigest(), None)
