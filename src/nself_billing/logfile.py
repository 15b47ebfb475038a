"""The billing log: JSON lines, size-bounded rotation, readable by its owner only.

Every line is one JSON object with ``time`` (ISO 8601 UTC), ``level`` and either the audit
fields of a state change (``event``, ``id``, ``actor``, ``customer``, ``data``; see
``services.events``) or a ``message``. Several processes may append to the same file (each
line is one ``write``); rotation renames it once it passes ``max_bytes``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import time
from pathlib import Path
from typing import Any

#: old files kept by the rotation (billing.log.1 ... billing.log.5)
BACKUP_COUNT = 5
OWNER_ONLY = 0o600


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, default=str, separators=(",", ":"))


class OwnerOnlyRotatingFile(logging.handlers.RotatingFileHandler):
    """Created (and re-created by each rotation) with mode 0600: the log names customers and
    amounts. The size is tracked as lines are written (the standard handler formats each
    record twice and seeks the file to decide whether to rotate, which doubled the cost of a
    line on the webhook path); the file's real size is read again only when the tracked one
    says it is time to rotate, since other processes append to it too."""

    _size = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
                self._size = os.fstat(self.stream.fileno()).st_size
            if self.maxBytes > 0 and self._size + len(line) > self.maxBytes:
                self._size = os.fstat(self.stream.fileno()).st_size
                if self._size + len(line) > self.maxBytes and self._size > 0:
                    self.doRollover()
                    if self.stream is None:
                        self.stream = self._open()
                    self._size = os.fstat(self.stream.fileno()).st_size
            self.stream.write(line)
            self.stream.flush()
            self._size += len(line.encode("utf-8", "replace")) if not line.isascii() else len(line)
        except Exception:
            self.handleError(record)

    def _open(self) -> Any:
        def opener(path: str, flags: int) -> int:
            return os.open(path, flags, OWNER_ONLY)

        stream = open(self.baseFilename, self.mode, encoding=self.encoding, opener=opener)
        try:
            os.chmod(self.baseFilename, OWNER_ONLY)
        except OSError:
            pass
        return stream


def file_handler(path: Path, *, max_bytes: int) -> logging.Handler:
    handler = OwnerOnlyRotatingFile(
        str(path), maxBytes=max_bytes, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
    )
    handler.setFormatter(JsonLines())
    return handler
