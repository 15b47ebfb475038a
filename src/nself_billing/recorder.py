"""A buffered usage recorder for request handlers: ``record()`` returns at once, a background
thread writes the events in batches (``record_many``: one transaction per batch, rollups
included), flushing by size and by time, and on ``close()``, on leaving a ``with`` block, and at
interpreter exit.

An event counts as acknowledged when ``record()`` returns; from then on it is only ever removed
from the buffer once its batch has committed. A failed write (database down) keeps the batch and
retries it with back-off: the events carry their idempotency keys (and their time), so a retried
batch can never count twice. ``close()`` raises if it cannot write what is left.

    with BufferedRecorder(billing) as recorder:
        recorder.record("api", 1, {"endpoint": "/users"})
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING

from .domain.usage import (
    UsageEvent,
    check_idempotency_key,
    check_service,
    check_timestamp,
    metadata_and_json,
    parse_quantity,
    parse_timestamp,
)
from .errors import BillingError
from .services.usage import BatchResult, new_key

if TYPE_CHECKING:
    from .billing import Billing

log = logging.getLogger("nself_billing.recorder")

__all__ = ["BufferedRecorder"]


class BufferedRecorder:
    def __init__(
        self,
        billing: Billing | None = None,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        max_buffered: int = 100_000,
        customer_id: str | None = None,
    ) -> None:
        if billing is None:
            from .api import default_billing

            billing = default_billing()
        if max_batch < 1 or flush_interval <= 0 or max_buffered < max_batch:
            raise ValueError("max_batch >= 1, flush_interval > 0, max_buffered >= max_batch")
        self._billing = billing
        self._clock = billing.context.clock
        self._customer_id = customer_id
        self._max_batch = max_batch
        self._interval = flush_interval
        self._max_buffered = max_buffered
        self._buffer: deque[UsageEvent] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._closed = False
        self._stopping = False
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self._thread = threading.Thread(target=self._run, name="nself-usage-recorder", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(
        self,
        service: str,
        quantity: object,
        metadata: object = None,
        *,
        idempotency_key: str | None = None,
        at: datetime | str | None = None,
        customer_id: str | None = None,
    ) -> str:
        """Buffer one event (validated now: bad input raises here); returns its idempotency key.
        The event's time is fixed now, not when the batch is written."""
        check_service(service)
        amount = parse_quantity(quantity)
        meta, _ = metadata_and_json(metadata)
        if at is None:
            when = self._clock()
        elif isinstance(at, str):
            when = parse_timestamp(at)
        else:
            when = check_timestamp(at)
        key = new_key() if idempotency_key is None else check_idempotency_key(idempotency_key)
        event = UsageEvent(service, amount, meta, key, when, customer_id or self._customer_id)
        with self._changed:
            if self._closed:
                raise BillingError("The usage recorder is closed")
            while len(self._buffer) >= self._max_buffered:
                self._changed.notify_all()
                self._changed.wait(self._interval)
            self._buffer.append(event)
            if len(self._buffer) >= self._max_batch:
                self._changed.notify_all()
        return key

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> None:
        """Write everything buffered so far, now (raises if the database refuses)."""
        while self._write_batch():
            pass

    def close(self) -> None:
        """Stop the background thread and write what is left. Idempotent."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        atexit.unregister(self.close)
        self.flush()

    def __enter__(self) -> BufferedRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write_batch(self) -> bool:
        """Write up to one batch from the head of the buffer; False when it was empty."""
        with self._write_lock:
            with self._lock:
                batch = [self._buffer[i] for i in range(min(self._max_batch, len(self._buffer)))]
            if not batch:
                return False
            result: BatchResult = self._billing.usage.record_many(batch, skip_invalid=True)
            with self._changed:
                for _ in batch:
                    self._buffer.popleft()
                self._changed.notify_all()
            self.accepted += result.accepted
            self.duplicates += result.duplicates
            self.rejected += len(result.rejected)
            for rejection in result.rejected:
                log.error(
                    "usage event refused: %s (%s)",
                    rejection.reason,
                    batch[rejection.index].idempotency_key,
                )
            return True

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._changed:
                if self._stopping:
                    return
                if len(self._buffer) < self._max_batch:
                    self._changed.wait(max(self._interval, backoff))
                if self._stopping:
                    return
            try:
                self._write_batch()
                backoff = 0.0
            except BillingError as error:
                backoff = min(max(backoff * 2, 0.1), 30.0)
                log.warning("usage batch not written yet (%s); retrying in %.1f s", error, backoff)
                time.sleep(backoff)
            except Exception:  # never let the writer die: the events stay buffered
                log.exception("usage recorder: unexpected error; retrying")
                time.sleep(1.0)
