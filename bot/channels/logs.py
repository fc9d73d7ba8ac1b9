"""Structured logs: one JSON object per line (time, level, logger, message, the update key).

The channel that handles a message binds its update key (`bound_update_key`) for the duration
of the service call; every record logged meanwhile, in that thread or task, carries it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["UPDATE_KEY", "JsonFormatter", "bound_update_key", "use_json_logs"]

UPDATE_KEY: ContextVar[str | None] = ContextVar("lawbot_update_key", default=None)


@contextmanager
def bound_update_key(key: str | None) -> Iterator[None]:
    """Tag the records logged inside the block with `key` (nothing when None)."""
    token = UPDATE_KEY.set(key)
    try:
        yield
    finally:
        UPDATE_KEY.reset(token)


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON; tracebacks ride in `exc`, never on extra lines."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as compact JSON (Chinese kept readable)."""
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        key = getattr(record, "update_key", None) or UPDATE_KEY.get()
        if key:
            body["update_key"] = key
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(body, ensure_ascii=False, default=str)
        # json leaves U+2028/U+2029 raw; line-splitting readers would cut the object there
        return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def use_json_logs(level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Make the root logger write JSON lines to `stream` (stderr) instead of its handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
