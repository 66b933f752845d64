"""Logging, configured once for the CLI, the sandbox and Dagster runs: the console plus rotating
files under ``LOG_DIR``, one line per event with retailer, flow and run id, and a redaction
filter on every handler so no secret is written, whatever logger emitted it.

Dagster runs reach the same file through ``dagster.yaml``'s ``python_logs`` settings: every
``context.log`` line (and every ``lgl_sync`` module logger inside a run) goes through
``RunFileHandler``, which reads retailer, flow and run id from Dagster's own record metadata.

Settings: ``LOG_LEVEL`` (INFO), ``LOG_DIR`` (``$DAGSTER_HOME/logs``), ``LOG_RETENTION_DAYS``
(30; files rotate at midnight), ``LOG_MAX_BYTES`` (rotate by size instead, keeping
``LOG_BACKUP_COUNT`` files, 30 by default).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import os
import threading
import time
import warnings
from pathlib import Path

from lgl_sync.flows import flow_of
from lgl_sync.ops.redaction import redact

FORMAT = (
    "%(asctime)s %(levelname)s retailer=%(retailer)s flow=%(flow)s run=%(run_id)s "
    "%(name)s %(message)s"
)
FILE_NAME = "lgl-sync.log"
# dagster.yaml's python_logs handlers work as documented; Dagster marks them beta on every run.
warnings.filterwarnings("ignore", message="Handling yaml-defined logging configuration")
# Partitioned asset checks (each retailer's check result is its own) are "preview" in 1.13.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "lgl_log_context", default=None
)
_lock = threading.Lock()
_file_handlers: dict[str, logging.Handler] = {}


def bind(**values: str | None) -> contextvars.Token:
    """Adds retailer / flow / run_id to every record logged in this context (outside Dagster)."""
    return _context.set({**(_context.get() or {}), **{k: v for k, v in values.items() if v}})


class ContextFilter(logging.Filter):
    """Gives every record ``retailer``, ``flow`` and ``run_id`` (``-`` when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get() or {}
        meta = getattr(record, "dagster_meta", None) or {}
        tags = meta.get("job_tags") or {}
        record.retailer = tags.get("dagster/partition") or bound.get("retailer") or "-"
        record.flow = (
            flow_of(meta.get("job_name"), meta.get("step_key")) or bound.get("flow") or "-"
        )
        record.run_id = meta.get("run_id") or bound.get("run_id") or "-"
        return True


class RedactingFormatter(logging.Formatter):
    """Formats, then removes anything secret-shaped from the whole line (message, arguments,
    exception text and stack alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFilter(logging.Filter):
    """For handlers we do not format ourselves: redacts the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def log_dir() -> Path:
    configured = os.environ.get("LOG_DIR")
    if configured:
        return Path(configured)
    from lgl_sync.ops.instance import dagster_home

    return dagster_home() / "logs"


def _retention_days() -> int:
    return int(os.environ.get("LOG_RETENTION_DAYS", "30"))


def remove_expired(directory: Path, days: int, now: float | None = None) -> list[Path]:
    """Deletes rotated log files older than ``days``; returns what was removed."""
    cutoff = (now if now is not None else time.time()) - days * 86400
    removed = []
    for path in directory.glob(f"{FILE_NAME}*"):
        if path.name != FILE_NAME and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def file_handler(directory: Path | None = None) -> logging.Handler:
    """The process's rotating file handler for ``directory`` (one per directory)."""
    directory = directory or log_dir()
    with _lock:
        key = str(directory)
        if key not in _file_handlers:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / FILE_NAME
            max_bytes = int(os.environ.get("LOG_MAX_BYTES", "0"))
            if max_bytes:
                handler: logging.Handler = logging.handlers.RotatingFileHandler(
                    path,
                    maxBytes=max_bytes,
                    backupCount=int(os.environ.get("LOG_BACKUP_COUNT", "30")),
                    encoding="utf-8",
                )
            else:
                handler = logging.handlers.TimedRotatingFileHandler(
                    path,
                    when="midnight",
                    backupCount=_retention_days(),
                    encoding="utf-8",
                    utc=True,
                )
            remove_expired(directory, _retention_days())
            handler.addFilter(ContextFilter())
            handler.setFormatter(RedactingFormatter(FORMAT))
            _file_handlers[key] = handler
        return _file_handlers[key]


def configure(level: str | None = None, directory: Path | None = None) -> None:
    """Console + rotating file on the root logger, both redacted; idempotent."""
    root = logging.getLogger()
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    for handler in list(root.handlers):
        if getattr(handler, "_lgl", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.addFilter(ContextFilter())
    console.setFormatter(RedactingFormatter(FORMAT))
    handlers = [console, file_handler(directory)]
    for handler in handlers:
        handler._lgl = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." etc.
    # Records that reach other handlers (Dagster's own, pytest's) are redacted too.
    logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))


def _redacting_factory(factory):
    if getattr(factory, "_lgl", False):
        return factory

    def make(*args, **kwargs):
        record = factory(*args, **kwargs)
        # A record whose arguments do not format stays as it was.
        with contextlib.suppress(Exception):
            record.msg, record.args = redact(record.getMessage()), ()
            if record.exc_info and record.exc_info[1] is not None:
                # Handlers use exc_text when it is set: the traceback is redacted once, here.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    make._lgl = True  # type: ignore[attr-defined]
    return make


class RunFileHandler(logging.Handler):
    """Named in dagster.yaml (python_logs.dagster_handler_config): Dagster run logs, including
    every ``context.log`` line, written to the same rotating file as everything else."""

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        file_handler().handle(record)
