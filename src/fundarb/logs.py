"""Structured logs: one line per event, ``key=value`` pairs, never a secret.

Use :func:`log_event`; the formatter prints the event name first and then the fields
in the order given (execution id, venue and client order id first by convention).
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["KeyValueFormatter", "log_event", "setup_logging"]

_SECRET_WORDS = ("secret", "password", "api_key", "apikey", "token", "passphrase")


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as one structured line."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"fields": fields})


def _format_value(key: str, value: Any) -> str:
    if any(word in key.lower() for word in _SECRET_WORDS):
        return "***"
    text = str(value)
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """``2024-01-01T00:00:00.000Z INFO logger event key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [
            self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            record.levelname,
            record.name,
            record.getMessage(),
        ]
        parts.extend(f"{k}={_format_value(k, v)}" for k, v in fields.items())
        line = " ".join(parts)
        if record.exc_info:
            line += " exc=" + _format_value("exc", self.formatException(record.exc_info))
        return line


def setup_logging(level: int = logging.INFO) -> None:
    """Send fundarb's structured logs to stderr at ``level``."""
    handler = logging.StreamHandler()
    formatter = KeyValueFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("fundarb")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # ccxt logs request headers (with the API key) at DEBUG: never let those through
    logging.getLogger("ccxt").setLevel(max(level, logging.INFO))
