"""Logging for the command line: ``-v``/``-q``, ``--log-level``, ``--log-format text|json``.

Everything goes to standard error (standard output carries results). Text lines read
``2026-12-05T22:33:00.123Z INFO fastswap.node: message``; JSON lines are one object each, with
``ts``, ``level``, ``logger``, ``msg`` and the exception text if any, for log shippers. Per-peer
lines in the library are rate-limited where they are emitted (``fastswap.net.resources``), so a
hostile peer cannot flood the log whatever the level.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["LEVELS", "effective_level", "setup_logging"]

LEVELS = ("debug", "info", "warning", "error")


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def effective_level(base: str, verbose: int = 0, quiet: int = 0) -> int:
    """*base* (a name of LEVELS) moved one step down per ``-v`` and up per ``-q``."""
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    i = levels.index(getattr(logging, base.upper())) - verbose + quiet
    return levels[max(0, min(i, len(levels) - 1))]


def setup_logging(level: int, fmt: str = "text") -> None:
    """Route the ``fastswap`` loggers to standard error at *level* in format *fmt*."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("fastswap")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
