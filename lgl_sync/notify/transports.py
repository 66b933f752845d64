"""How an email leaves: Mailgun's HTTP API, SMTP, or nowhere (logged only); Slack beside it.

Chosen from the environment (``transport_from_env``): ``MAILGUN_API_KEY`` + ``MAILGUN_DOMAIN``
(``MAILGUN_API_BASE`` for the EU region), else ``SMTP_URL``, else the log transport. Temporary
failures (network, 5xx, 429, SMTP 4xx) are retried with backoff by ``deliver``; permanent ones
(bad key, rejected recipient) are not.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote

import requests

from lgl_sync.ops.redaction import redact

log = logging.getLogger(__name__)

MAILGUN_US = "https://api.mailgun.net"


@dataclass(frozen=True)
class Email:
    """One rendered message."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, MIME type, bytes)


class TransportError(Exception):
    """A send that failed; ``temporary`` says whether trying again may help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(redact(message))
        self.temporary = temporary


class Transport(Protocol):
    name: str

    def send(self, email: Email) -> None: ...


class LogTransport:
    """No transport configured: the email is logged (subject and recipients), not sent."""

    name = "log"

    def send(self, email: Email) -> None:
        log.info(
            "email not sent (no transport configured): %s -> %s", email.subject, email.recipients
        )


class MailgunTransport:
    """Mailgun's messages API: POST {base}/v3/{domain}/messages, basic auth api:KEY, form data."""

    name = "mailgun"

    def __init__(self, api_key: str, domain: str, api_base: str = MAILGUN_US, timeout: float = 20):
        self._api_key = api_key
        self.url = f"{api_base.rstrip('/')}/v3/{domain}/messages"
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"MailgunTransport({self.url})"

    def send(self, email: Email) -> None:
        data = {
            "from": header_text(email.sender),
            "to": [header_text(r) for r in email.recipients],
            "subject": header_text(email.subject),
            "text": email.text,
            "html": email.html,
        }
        try:
            response = requests.post(
                self.url,
                auth=("api", self._api_key),
                data=data,
                files=[("attachment", (n, b, m)) for n, m, b in email.attachments] or None,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"Mailgun unreachable: {type(exc).__name__}", temporary=True
            ) from None
        if response.status_code >= 300:
            temporary = response.status_code >= 500 or response.status_code == 429
            raise TransportError(
                f"Mailgun answered {response.status_code}: {response.text[:200]}",
                temporary=temporary,
            )


SMTP_URL_HINT = (
    "SMTP_URL must look like smtp://user:password@host:587 (smtps:// for TLS from the start; "
    "percent-encode special characters in the user and password)"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _parse_smtp_url(url: str) -> tuple[str, str, int | None, str | None, str | None, str]:
    """(scheme, host, port, user, password, tls) from an SMTP_URL, never echoing the URL: a
    password holding ``/``, ``#`` or ``@`` unencoded still parses (the last ``@`` ends it)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme not in ("smtp", "smtps"):
        raise ValueError(SMTP_URL_HINT)
    rest, _, query = rest.partition("?")
    userinfo, at, hostport = rest.rpartition("@")
    hostport = hostport.rstrip("/")
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.-]+)(?::(\d{1,5}))?", hostport)
    if not match:
        raise ValueError(SMTP_URL_HINT)
    user, _, password = userinfo.partition(":") if at else ("", "", "")
    tls = dict(part.partition("=")[::2] for part in query.split("&") if part).get("tls", "")
    if tls not in ("", "none"):
        raise ValueError("SMTP_URL: the only tls option is tls=none (a local relay)")
    host = match.group(1).strip("[]")
    port = int(match.group(2)) if match.group(2) else None
    return scheme, host, port, unquote(user) or None, unquote(password) or None, tls


def header_text(value: str) -> str:
    """A header value on one line: line breaks and other controls become spaces, so nothing
    read from a store (a retailer's name) can add a header."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())


class SmtpTransport:
    """SMTP from a URL: smtp://user:pass@host:587 (STARTTLS required), smtps://… (TLS). Only a
    relay on this machine may be used in plaintext, and only when asked: ``?tls=none``."""

    name = "smtp"

    def __init__(self, url: str, timeout: float = 20) -> None:
        scheme, self.host, port, self._user, self._password, tls = _parse_smtp_url(url)
        self.port = port or (465 if scheme == "smtps" else 587)
        self.tls = scheme == "smtps"
        self.plaintext_allowed = tls == "none"
        if self.plaintext_allowed and self.host not in LOOPBACK:
            raise ValueError("SMTP_URL: tls=none is allowed only for a relay on this machine")
        self.timeout = timeout

    def __repr__(self) -> str:  # never the password
        return f"SmtpTransport({self.host}:{self.port})"

    def send(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = header_text(email.sender)
        message["To"] = ", ".join(header_text(r) for r in email.recipients)
        message["Subject"] = header_text(email.subject)
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        for name, mime, data in email.attachments:
            maintype, _, subtype = mime.partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        server_class = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        try:
            with server_class(self.host, self.port, timeout=self.timeout) as server:
                if not self.tls:
                    self._starttls(server)
                if self._user:
                    server.login(self._user, self._password or "")
                server.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"SMTP server answered {exc.smtp_code}", temporary=400 <= exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP failed: {type(exc).__name__}", temporary=True) from None

    def _starttls(self, server: smtplib.SMTP) -> None:
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        elif not self.plaintext_allowed:
            # Never log in or send in cleartext because a server (or a man in the middle)
            # did not offer STARTTLS.
            raise TransportError(
                f"SMTP server {self.host}:{self.port} does not offer STARTTLS; use smtps:// "
                "or, for a relay on this machine only, ?tls=none",
                temporary=False,
            )


# -- Slack, beside email (https://api.slack.com/messaging/webhooks) ------------------------------

MAX_TEXT = 3500  # Slack truncates long messages; the run link stays in the first lines


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


def transport_from_env(environ: dict | None = None) -> Transport:
    """Mailgun when its key and domain are set, else SMTP when SMTP_URL is, else the log; and
    Slack beside it when SLACK_WEBHOOK_URL is set (``slack.py``)."""
    env = os.environ if environ is None else environ
    mail = _mail_transport(env)
    if environ is None:  # the process's own settings: Slack too, when configured
        from lgl_sync import settings

        url = settings.slack_webhook_url()
        if url:
            return Both(mail, SlackTransport(url))
    return mail


def _mail_transport(env) -> Transport:
    if env.get("MAILGUN_API_KEY") and env.get("MAILGUN_DOMAIN"):
        return MailgunTransport(
            env["MAILGUN_API_KEY"], env["MAILGUN_DOMAIN"], env.get("MAILGUN_API_BASE") or MAILGUN_US
        )
    if env.get("SMTP_URL"):
        return SmtpTransport(env["SMTP_URL"])
    return LogTransport()


def deliver(
    transport: Transport,
    email: Email,
    *,
    attempts: int = 4,
    base_delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sends, retrying temporary failures with exponential backoff; returns the attempts used.

    Raises the last TransportError when every attempt failed or the failure is permanent.
    """
    for attempt in range(1, attempts + 1):
        try:
            transport.send(email)
            return attempt
        except TransportError as exc:
            if not exc.temporary or attempt == attempts:
                raise
            log.warning("email send failed (attempt %d/%d): %s", attempt, attempts, exc)
            sleep(base_delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
