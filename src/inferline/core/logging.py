"""Structured logging: JSON lines (or console text) carrying request_id, job_id and model."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
model_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("model", default=None)

_CONTEXT_FIELDS = (("request_id", request_id_var), ("job_id", job_id_var), ("model", model_var))
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def _context(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, var in _CONTEXT_FIELDS:
        value = getattr(record, name, None) or var.get()
        if value is not None:
            fields[name] = value
    for key, value in record.__dict__.items():
        if key not in _RESERVED and key not in fields:
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """Readable text for a terminal, context fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _context(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


_CREDENTIAL = re.compile(r"(api_key=|[Bb]earer\s+|X-API-Key:\s*)[^\s&\"',;]+")
_CREDENTIAL_HINTS = ("api_key=", "earer", "X-API-Key")


class RedactCredentials(logging.Filter):
    """Blank out credentials a library may log: uvicorn writes a WebSocket's URL, its
    `?api_key=` included; a `Bearer` header may appear in a debug line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(hint in message for hint in _CREDENTIAL_HINTS):
            record.msg = _CREDENTIAL.sub(r"\1***", message)
            record.args = None
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Send every logger to stderr in the chosen format (called once by the CLI)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(RedactCredentials())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
