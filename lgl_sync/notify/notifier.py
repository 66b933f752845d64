"""The notifier: a notice is recorded, decided by the policy, rendered and delivered, and the
outcome recorded in ``email_notifications``. It never raises: a notifier failure must not fail
a sync run or a sensor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from lgl_sync.control_plane import notifications
from lgl_sync.notify.digest import build_digest
from lgl_sync.notify.notices import Notice, render
from lgl_sync.notify.policy import Decision, Settings, decide
from lgl_sync.notify.transports import (
    Email,
    LogTransport,
    Transport,
    TransportError,
    deliver,
    header_text,
)
from lgl_sync.ops.redaction import redact

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Notifier:
    engine: Engine
    transport: Transport
    sender: str
    recipients: list[str]
    settings: Settings = field(default_factory=Settings)
    now: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep

    def notify(self, notice: Notice) -> str:
        """Returns what happened: sent, logged, deferred, suppressed, failed or duplicate."""
        try:
            return self._notify(notice)
        except Exception as exc:  # the notifier must never take a sync down
            log.error("notification %r not handled: %s", notice.kind, redact(str(exc)))
            return "failed"

    def _notify(self, notice: Notice) -> str:
        now = self.now()
        history = notifications.history(
            self.engine,
            kind=notice.kind,
            retailer_id=notice.retailer_id,
            flow=notice.flow if notice.kind == "failure" else None,
        )
        notice_id = notifications.claim(
            self.engine,
            kind=notice.kind,
            retailer_id=notice.retailer_id,
            flow=notice.flow,
            recipients=list(notice.recipients) or self.recipients,
            subject=header_text(redact(notice.subject)),
            fingerprint=notice.fingerprint,
            dedupe_key=notice.dedupe_key,
            created_at=now,
        )
        if notice_id is None:
            return "duplicate"
        decision = decide(notice.kind, notice.fingerprint, history, now, self.settings)
        if decision.action != "send":
            status = "deferred" if decision.action == "defer" else "suppressed"
            notifications.finish(self.engine, notice_id, status=status, reason=decision.reason)
            log.info("email %s (%s): %s", status, decision.reason, redact(notice.subject))
            return status
        return self._send(notice, notice_id, decision)

    def _send(self, notice: Notice, notice_id: int, decision: Decision) -> str:
        """Renders and delivers a notice the policy lets through; records how it went."""
        subject, text, html = render(notice, decision.repeats)
        recipients = notice.recipients or tuple(self.recipients)
        email = Email(self.sender, recipients, subject, text, html, notice.attachments)
        if isinstance(self.transport, LogTransport) or not recipients:
            LogTransport().send(email)
            notifications.finish(
                self.engine, notice_id, status="logged", reason="no transport or recipients"
            )
            return "logged"
        try:
            attempts = deliver(self.transport, email, sleep=self.sleep)
        except TransportError as exc:
            notifications.finish(
                self.engine,
                notice_id,
                status="failed",
                reason=decision.reason,
                error_message=str(exc),
            )
            log.error("email failed via %s: %s", self.transport.name, exc)
            return "failed"
        notifications.finish(
            self.engine,
            notice_id,
            status="sent",
            reason=f"{decision.reason}; via {self.transport.name}, attempt {attempts}",
            sent_at=self.now(),
        )
        return "sent"

    def send_digest(self, names: dict[str, str], statuses: list | None = None) -> str:
        """The daily digest, carrying what quiet hours held back."""
        notice, carried = build_digest(self.engine, self.now(), names, statuses)
        outcome = self.notify(notice)
        if outcome in ("sent", "logged"):
            notifications.mark_digested(self.engine, carried)
        return outcome
