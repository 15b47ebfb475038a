"""A buffered usage recorder for request handlers: ``record()`` returns at once, a background
thread writes the events in batches (``record_many``: one transaction per batch, rollups
included).

When it writes (the bounds): as soon as ``max_batch`` events are waiting (default 1,000), and
at the latest ``flush_interval`` seconds (default 1 s) after the previous write; on ``flush()``,
``close()``, leaving a ``with`` block and interpreter exit; and on SIGTERM and SIGINT (the stop
signals of systemd, Docker, Kubernetes and Ctrl-C), when it was created in the main thread:
its handler writes everything buffered, then passes the signal on to the handler that was
installed before it (the default one ends the process as the signal would have; SIGINT's raises
``KeyboardInterrupt``). ``handle_signals=False`` leaves the process's handlers alone.

An event counts as acknowledged when ``record()`` returns; from then on it is only ever removed
from the buffer once its batch has committed. A failed write (database down) keeps the batch and
retries it with back-off: the events carry their idempotency keys (and their time), so a retried
batch can never count twice. ``close()`` raises if it cannot write what is left.

What a SIGKILL (or a power loss, or ``os._exit``) loses: every event buffered and not yet
committed, which no handler can save: at most ``max_batch`` events or ``flush_interval`` seconds
of events while the database keeps up (more only while writes fail, up to ``max_buffered``,
when ``record()`` starts to wait). Callers that cannot lose an event record it synchronously
(``billing.usage.record``) or keep their own copy until ``flush()`` returns.

    with BufferedRecorder(billing) as recorder:
        recorder.record("api", 1, {"endpoint": "/users"})
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from .domain.quantities import parse_quantity
from .domain.usage import (
    UsageEvent,
    check_idempotency_key,
    check_service,
    check_timestamp,
    metadata_and_json,
    parse_timestamp,
)
from .errors import BillingError
from .services.usage import BatchResult, new_key

if TYPE_CHECKING:
    from .billing import Billing

log = logging.getLogger("nself_billing.recorder")

__all__ = ["BufferedRecorder"]

#: the stop signals a recorder flushes on before passing them on
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class BufferedRecorder:
    def __init__(
        self,
        billing: Billing | None = None,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        max_buffered: int = 100_000,
        customer_id: str | None = None,
        handle_signals: bool = True,
    ) -> None:
        if billing is None:
            from .api.handle import default_billing

            billing = default_billing()
        if max_batch < 1 or flush_interval <= 0 or max_buffered < max_batch:
            raise ValueError("max_batch >= 1, flush_interval > 0, max_buffered >= max_batch")
        self._billing = billing
        self._clock = billing.clock
        self._customer_id = customer_id
        self._max_batch = max_batch
        self._interval = flush_interval
        self._max_buffered = max_buffered
        self._buffer: deque[UsageEvent] = deque()
        # reentrant: a signal handler runs in the main thread, maybe inside record() or flush()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._write_lock = threading.RLock()
        self._closed = False
        self._stopping = False
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self._thread = threading.Thread(target=self._run, name="nself-usage-recorder", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        self._previous: dict[int, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)

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
            self._closed = True
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        atexit.unregister(self.close)
        self._restore_signals()
        self.flush()

    def __enter__(self) -> BufferedRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: write what is buffered, then pass the signal on (a process that
        goes on after it, ignoring the signal, keeps a working recorder)."""
        try:
            self.flush()
        except Exception:  # the signal must still reach the process
            log.exception(
                "usage recorder: %d buffered events not written on signal %d",
                len(self._buffer),
                signum,
            )
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # the default action: end as the signal would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _restore_signals(self) -> None:
        """Put back the handlers found at start, where ours is still the one installed."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in list(self._previous.items()):
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            del self._previous[signum]

    def _write_batch(self) -> bool:
        """Write up to one batch from the head of the buffer; False when it was empty.

        Only writers (serialized by ``_write_lock``) remove events, from the left, and
        ``record()`` only appends on the right, so the head is read and removed without
        ``_lock``: a signal handler that interrupts the main thread inside ``record()`` never
        waits on a writer that waits on it. Removal is by identity, so a writer nested in
        another (a handler interrupting ``flush()``) never removes an unwritten event."""
        with self._write_lock:
            buffer = self._buffer
            batch = [buffer[i] for i in range(min(self._max_batch, len(buffer)))]
            if not batch:
                return False
            result: BatchResult = self._billing.usage.record_many(batch, skip_invalid=True)
            for event in batch:
                if buffer and buffer[0] is event:
                    buffer.popleft()
            if self._lock.acquire(blocking=False):  # record() waiting for room wakes anyway
                try:
                    self._changed.notify_all()
                finally:
                    self._lock.release()
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
