"""When a notice becomes an email: quiet hours, rate limits, collapsing repeated errors with an
escalating interval, recoveries. Plain functions over the notice history, so they are tested
with a fake clock and no transport."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from lgl_sync.control_plane.notifications import DELIVERED, Past

URGENT_KINDS = ("failure", "recovery", "warehouse")
REPORT_KINDS = ("usage", "low_stock")
# "logged" is a notice that would have been sent had a transport been configured.


@dataclass(frozen=True)
class Settings:
    """The notification policy; ``from_env`` reads the NOTIFY_* variables."""

    timezone: str = "UTC"
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    failures_break_quiet_hours: bool = False
    activity_interval: timedelta = timedelta(minutes=60)
    error_repeat_first: timedelta = timedelta(minutes=30)
    error_repeat_max: timedelta = timedelta(hours=24)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> Settings:
        env = os.environ if environ is None else environ
        quiet = env.get("NOTIFY_QUIET_HOURS", "22:00-07:00").strip()
        try:
            if quiet.lower() in ("", "off", "none"):  # no quiet hours: an empty window
                start = end = time(0, 0)
            else:
                start, end = (time.fromisoformat(part.strip()) for part in quiet.split("-"))
            ZoneInfo(env.get("NOTIFY_TIMEZONE", "UTC"))
            activity = int(env.get("NOTIFY_ACTIVITY_INTERVAL_MINUTES", "60"))
            repeat = int(env.get("NOTIFY_ERROR_REPEAT_MINUTES", "30"))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"bad notification setting: {exc}") from None
        return cls(
            timezone=env.get("NOTIFY_TIMEZONE", "UTC"),
            quiet_start=start,
            quiet_end=end,
            failures_break_quiet_hours=env.get("NOTIFY_FAILURES_BREAK_QUIET_HOURS", "").lower()
            in ("1", "true", "yes"),
            activity_interval=timedelta(minutes=activity),
            error_repeat_first=timedelta(minutes=repeat),
        )

    def in_quiet_hours(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end


@dataclass(frozen=True)
class Decision:
    action: str  # send | defer | suppress
    reason: str
    repeats: int = 0  # identical errors collapsed since the last one sent, this one included


def _quiet(kind: str, now: datetime, settings: Settings) -> bool:
    if not settings.in_quiet_hours(now):
        return False
    return not (kind in URGENT_KINDS and settings.failures_break_quiet_hours)


def decide(
    kind: str, fingerprint: str | None, history: list[Past], now: datetime, settings: Settings
) -> Decision:
    """What to do with a new notice, given this retailer's earlier ones of the same kind.

    ``history`` holds the retailer's earlier notices of ``kind`` (for failures: of the same
    flow since its last recovery), oldest first.
    """
    if kind == "failure":
        same = [p for p in history if p.fingerprint == fingerprint]
        delivered = [p for p in same if p.status in DELIVERED]
        if delivered:
            last = delivered[-1]
            interval = min(
                settings.error_repeat_first * 2 ** (len(delivered) - 1), settings.error_repeat_max
            )
            since_last = [p for p in same if p.created_at > last.created_at]
            if now - last.created_at < interval:
                return Decision("suppress", f"collapsed: same error within {interval}")
            repeats = len(since_last) + 1
            if _quiet(kind, now, settings):
                return Decision("defer", "quiet_hours", repeats)
            return Decision("send", f"repeated error, next after {interval * 2}", repeats)
    elif kind == "activity":
        sent = [p for p in history if p.status in ("sent", "logged")]
        if sent and now - sent[-1].created_at < settings.activity_interval:
            return Decision("suppress", f"rate_limited: one per {settings.activity_interval}")
    # Reports go out when their schedule says (their attachments cannot ride in a digest).
    if kind not in ("digest", *REPORT_KINDS) and _quiet(kind, now, settings):
        return Decision("defer", "quiet_hours")
    return Decision("send", "first" if kind == "failure" else kind)
