"""Notifications out: endpoints, delivery of the outbox, retries, disabling.

Delivery is at least once, with the event id to deduplicate: a row is marked sent only after
its endpoint answered 2xx (or the mail server accepted the message); a crash in between sends
it again with the same id. A target receives its events in id order: its oldest pending event
is retried (exponential backoff, ``backoff_seconds``) and holds the later ones back. After
``notify_retry_hours`` (72 h) of failures the delivery fails, and a webhook endpoint is
disabled with an error line in the billing log. Each target is sent to from its own thread,
so a hanging endpoint holds up only itself.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import http.client
import secrets
import smtplib
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, InvalidInput, NotFound, ProviderError
from ..store import notify as store
from ..store.notify import Delivery as Delivery  # for the faces that render them
from ..store.notify import Endpoint as Endpoint
from .context import Context
from .events import EVENT_TYPES, audit, record

SIGNATURE_HEADER = "Nself-Signature"
#: targets sent to at once (each from its own thread)
SENDERS = 8
PER_TARGET = 20
#: the first retry waits this long, each next one twice as long, up to BACKOFF_CAP
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Stripe's scheme: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (docs/NOTIFICATIONS.md shows the same in a few lines)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(attempts: int) -> float:
    """30 s, 1 min, 2 min, 4 min ... at most 6 h, after ``attempts`` failed attempts."""
    delay: float = BACKOFF_BASE.total_seconds() * 2 ** max(attempts - 1, 0)
    return min(delay, BACKOFF_CAP.total_seconds())


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    disabled: builtins.list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: store.Endpoint
    #: shown once, at creation
    secret: str


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status: int | None
    error: str | None


class NotifyService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._user_agent = f"nself-billing/{version('nself-billing')}"

    # -- endpoints ------------------------------------------------------------------------

    def add_endpoint(
        self, url: str, *, events: builtins.list[str] | None = None, description: str | None = None
    ) -> NewEndpoint:
        _check_url(url)
        chosen = [e.strip() for e in (events or ["*"]) if e.strip()] or ["*"]
        unknown = [e for e in chosen if e != "*" and e not in EVENT_TYPES]
        if unknown:
            raise InvalidInput(
                f"Unknown event type: {unknown[0]} (expected * or: {', '.join(EVENT_TYPES)})"
            )
        endpoint_id = "we_" + secrets.token_hex(12)
        secret = "whsec_" + secrets.token_hex(24)
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            store.add_endpoint(
                conn,
                endpoint_id=endpoint_id,
                url=url,
                secret=secret,
                events=chosen,
                description=description,
                now=now,
            )
            made = store.endpoint(conn, endpoint_id)
        assert made is not None
        audit(
            self._ctx,
            {"event": "notify.endpoint_added", "endpoint": endpoint_id, "url": url},
        )
        return NewEndpoint(made, secret)

    def endpoints(self) -> builtins.list[store.Endpoint]:
        with self._ctx.db.read() as conn:
            return store.endpoints(conn)

    def remove_endpoint(self, endpoint_id: str) -> None:
        with self._ctx.db.write() as conn:
            if not store.remove_endpoint(conn, endpoint_id):
                raise NotFound(f"Notification endpoint not found: {endpoint_id}")
        audit(self._ctx, {"event": "notify.endpoint_removed", "endpoint": endpoint_id})

    def set_enabled(self, endpoint_id: str, enabled: bool, *, reason: str | None = None) -> None:
        status = store.ENABLED if enabled else store.DISABLED
        with self._ctx.db.write() as conn:
            if not store.set_endpoint_status(
                conn, endpoint_id, status, reason=None if enabled else reason, now=self._ctx.clock()
            ):
                raise NotFound(f"Notification endpoint not found: {endpoint_id}")
        audit(self._ctx, {"event": f"notify.endpoint_{status}", "endpoint": endpoint_id})

    # -- deliveries -----------------------------------------------------------------------

    def deliveries(
        self, *, status: str | None = None, event_id: str | None = None, limit: int = 50
    ) -> builtins.list[store.Delivery]:
        if status is not None and status not in (store.PENDING, store.SENT, store.FAILED):
            raise InvalidInput(f"Invalid status: {status} (expected pending, sent or failed)")
        with self._ctx.db.read() as conn:
            return store.deliveries(conn, status=status, event_id=event_id, limit=limit)

    def retry(self, delivery_id: int) -> store.Delivery:
        """Queue a failed (or sent) delivery again, due now; its endpoint is enabled again."""
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            found = store.get(conn, delivery_id)
            if found is None:
                raise NotFound(f"Delivery not found: {delivery_id}")
            if found.status == store.PENDING:
                return found
            if found.channel == store.WEBHOOK:
                endpoint = store.endpoint(conn, found.target)
                if endpoint is None:
                    raise NotFound(f"Notification endpoint not found: {found.target}")
                if endpoint.status != store.ENABLED:
                    store.set_endpoint_status(
                        conn, found.target, store.ENABLED, reason=None, now=now
                    )
            store.requeue(conn, delivery_id, now=now)
            again = store.get(conn, delivery_id)
        assert again is not None
        return again

    def test(self, event_type: str = "notification.test") -> str:
        """Queue a sample event of ``event_type`` for the endpoints that want it; the event
        id (send it with ``send()``)."""
        if event_type not in EVENT_TYPES:
            raise InvalidInput(
                f"Unknown event type: {event_type} (expected one of: {', '.join(EVENT_TYPES)})"
            )
        with self._ctx.db.write() as conn:
            return record(
                self._ctx,
                conn,
                event_type,
                customer_id=None,
                data={"test": True, "message": "A test notification from nself-billing"},
            )

    def send(self, *, rounds: int = 1000) -> SendResult:
        """Deliver what is due now, until nothing due is left (or ``rounds`` claims)."""
        result = SendResult()
        with ThreadPoolExecutor(SENDERS, thread_name_prefix="nself-notify") as pool:
            for _ in range(rounds):
                claimed = self._claim()
                if not claimed:
                    break
                by_target: dict[str, builtins.list[store.Delivery]] = {}
                for delivery in claimed:
                    by_target.setdefault(delivery.target, []).append(delivery)
                for partial in pool.map(self._send_target, by_target.values()):
                    result.sent += partial.sent
                    result.retried += partial.retried
                    result.failed += partial.failed
                    result.disabled += partial.disabled
        return result

    def run_worker(self, stop: threading.Event, *, idle_seconds: float = 1.0) -> None:
        """Deliver in the background until ``stop`` is set (``serve`` runs one)."""
        while not stop.is_set():
            try:
                self.send(rounds=10)
            except Exception as error:  # the worker outlives a database hiccup
                self._ctx.log.error("notify: delivery round failed: %s", error)
            stop.wait(idle_seconds)

    def email_test(self, address: str) -> None:
        """Send a test email now, bypassing the outbox (to check the SMTP settings)."""
        from .email import send, test_message

        smtp = self._ctx.settings.smtp
        if smtp is None:
            raise ConfigError("SMTP is not configured: set SMTP_HOST, SMTP_PORT and SMTP_FROM")
        message = test_message(smtp, address)
        try:
            send(smtp, message)
        except (OSError, smtplib.SMTPException) as error:
            raise ProviderError(f"SMTP error: {_one_line(error)}") from None
        audit(self._ctx, {"event": "notify.email_test", "to": _shown(f"email:{address}")})

    def depth(self) -> tuple[int, datetime | None]:
        with self._ctx.db.read() as conn:
            return store.pending_depth(conn)

    # -- internals ------------------------------------------------------------------------

    def _claim(self) -> builtins.list[store.Delivery]:
        now = self._ctx.clock()
        lease = timedelta(seconds=self._ctx.settings.notify_timeout * 3 + 5)
        with self._ctx.db.write() as conn:
            return store.claim_heads(
                conn, now=now, lease_until=now + lease, per_target=PER_TARGET, limit=SENDERS * 4
            )

    def _send_target(self, queue: builtins.list[store.Delivery]) -> SendResult:
        result = SendResult()
        endpoint: store.Endpoint | None = None
        if queue[0].channel == store.WEBHOOK:
            with self._ctx.db.read() as conn:
                endpoint = store.endpoint(conn, queue[0].target)
        for position, delivery in enumerate(queue):
            outcome = self._deliver(delivery, endpoint)
            if outcome.ok:
                with self._ctx.db.write() as conn:
                    store.mark_sent(conn, delivery.id, status=outcome.status, now=self._ctx.clock())
                result.sent += 1
                continue
            self._failed(delivery, outcome, result)
            with self._ctx.db.write() as conn:
                store.release(conn, [d.id for d in queue[position + 1 :]])
            break
        return result

    def _deliver(self, delivery: store.Delivery, endpoint: store.Endpoint | None) -> _Outcome:
        if delivery.channel == store.EMAIL:
            return self._email(delivery)
        if endpoint is None or endpoint.status != store.ENABLED:
            return _Outcome(False, None, "endpoint removed or disabled")
        return self._post(endpoint, delivery)

    def _post(self, endpoint: store.Endpoint, delivery: store.Delivery) -> _Outcome:
        body = delivery.payload.encode()
        # the receiver checks the timestamp against its own clock: the moment of sending
        signature = sign(endpoint.secret, body, int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            SIGNATURE_HEADER: signature,
            "Nself-Event-Id": delivery.event_id,
            "Nself-Event-Type": delivery.event_type,
        }
        parts = urlsplit(endpoint.url)
        timeout = self._ctx.settings.notify_timeout
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=timeout
            )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        started = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read(2048)
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            return _Outcome(False, None, f"{type(error).__name__}: {error}"[:300])
        finally:
            connection.close()
        self._ctx.log.debug(
            "notify",
            extra={
                "fields": {
                    "event": "notify.post",
                    "delivery": delivery.id,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                }
            },
        )
        if 200 <= status < 300:
            return _Outcome(True, status, None)
        text = answer.decode("utf-8", "replace").strip().splitlines()
        return _Outcome(False, status, f"HTTP {status}" + (f": {text[0][:200]}" if text else ""))

    def _email(self, delivery: store.Delivery) -> _Outcome:
        from .email import send_event_email

        settings = self._ctx.settings
        if settings.smtp is None:
            return _Outcome(False, None, "SMTP is not configured (SMTP_HOST)")
        try:
            send_event_email(self._ctx, delivery)
        except Exception as error:  # the mail server's refusal or outage: retried
            return _Outcome(False, None, f"{type(error).__name__}: {error}"[:300])
        return _Outcome(True, None, None)

    def _failed(self, delivery: store.Delivery, outcome: _Outcome, result: SendResult) -> None:
        now = self._ctx.clock()
        error = outcome.error or "failed"
        window = timedelta(hours=self._ctx.settings.notify_retry_hours)
        if now - delivery.created_at < window:
            delay = timedelta(seconds=backoff_seconds(delivery.attempts + 1))
            with self._ctx.db.write() as conn:
                store.mark_retry(
                    conn,
                    delivery.id,
                    error=error,
                    status=outcome.status,
                    next_attempt_at=now + delay,
                )
            result.retried += 1
            self._ctx.log.warning(
                "notify",
                extra={
                    "fields": {
                        "event": "notify.retry",
                        "delivery": delivery.id,
                        "event_id": delivery.event_id,
                        "target": _shown(delivery.target),
                        "attempts": delivery.attempts + 1,
                        "error": error,
                        "next_attempt_at": (now + delay).isoformat(),
                    }
                },
            )
            return
        with self._ctx.db.write() as conn:
            store.fail_one(conn, delivery.id, error=error, status=outcome.status)
            if delivery.channel == store.WEBHOOK:
                reason = (
                    f"deliveries failed for {self._ctx.settings.notify_retry_hours:g} hours "
                    f"(last: {error})"
                )
                store.set_endpoint_status(
                    conn, delivery.target, store.DISABLED, reason=reason, now=now
                )
                store.fail_target(conn, delivery.target, error="endpoint disabled")
                result.disabled.append(delivery.target)
        result.failed += 1
        fields: dict[str, Any] = {
            "event": "notify.failed",
            "delivery": delivery.id,
            "event_id": delivery.event_id,
            "target": _shown(delivery.target),
            "error": error,
        }
        if delivery.channel == store.WEBHOOK:
            fields["event"] = "notify.endpoint_disabled"
            fields["endpoint"] = delivery.target
        self._ctx.log.error("notify", extra={"fields": fields})


def _shown(target: str) -> str:
    """A target for a log line: an endpoint id, or an email address with its user hidden."""
    if target.startswith("email:"):
        user, _, domain = target[6:].partition("@")
        return f"email:{user[:1]}***@{domain}"
    return target


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Invalid endpoint URL: {url!r} (expected http:// or https://)")
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise InvalidInput(f"Invalid endpoint URL: {url!r} (bad port)") from None


def parse_events(value: str | None) -> builtins.list[str] | None:
    if value is None:
        return None
    return [e.strip() for e in value.split(",") if e.strip()]
