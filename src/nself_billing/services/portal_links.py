"""Links to the customer portal: signed, expiring links to our own HTTP service's portal
(the local engine), or the provider's own portal (``PortalService.link``), and the CSRF tokens
of our portal's forms.

A token is ``<payload>.<signature>``: the payload is base64url JSON ``{"c": customer id,
"e": expiry (Unix seconds)}`` and the signature HMAC-SHA256 of the payload with the portal
secret (``BILLING_PORTAL_SECRET``, or a random one generated once into
``${BILLING_DATA_DIR}/portal.secret``). The HTTP service verifies tokens with ``verify_token``.

The portal's forms (change plan, cancel, reactivate, payment methods) carry a CSRF token: the
signed double-submit pattern. The page sets a random value in a ``SameSite=Strict``, HttpOnly
cookie and puts ``HMAC(secret, "csrf" + cookie + customer)`` in each form; a POST is accepted
only when the form's token matches the cookie it arrived with, so another site cannot make a
customer's browser post a form (it can neither read the cookie nor send it cross-site), and a
token made for one customer is worthless for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from ..errors import ConfigError, InvalidInput
from ..settings import Settings
from .context import Context
from .engines import PortalEngine

PORTAL_TTL = timedelta(hours=1)
DEFAULT_BASE_URL = "http://127.0.0.1:8400"
SECRET_FILE = "portal.secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def portal_secret(settings: Settings) -> bytes:
    """The signing secret: the configured one, else one generated once and kept (0600)."""
    configured = settings.portal_secret
    if configured:
        return bytes(configured.reveal(), "utf-8")
    path = settings.data_dir / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ConfigError(f"Cannot read {path}: {error.strerror}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    except OSError as error:
        raise ConfigError(f"Cannot create {path}: {error.strerror}") from None
    value = secrets.token_urlsafe(32).encode("ascii")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(value)
    return value


def issue_token(secret: bytes, customer_id: str, expires_at: datetime) -> str:
    payload = _b64(
        json.dumps(
            {"c": customer_id, "e": int(expires_at.timestamp())}, separators=(",", ":")
        ).encode("utf-8")
    )
    signature = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def verify_token(secret: bytes, token: str, now: datetime) -> str:
    """The customer id a valid, unexpired token was issued for; ``InvalidInput`` otherwise."""
    payload, _, signature = token.partition(".")
    try:
        expected = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise InvalidInput("Invalid portal token")
        data = json.loads(_unb64(payload))
        customer_id, expiry = str(data["c"]), int(data["e"])
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise InvalidInput("Invalid portal token") from None
    if now >= datetime.fromtimestamp(expiry, UTC):
        raise InvalidInput("Portal link expired (create a new one: customer portal)")
    return customer_id


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: bytes, nonce: str, customer_id: str) -> str:
    message = f"csrf\x00{nonce}\x00{customer_id}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def csrf_valid(secret: bytes, nonce: str | None, customer_id: str, token: str | None) -> bool:
    if not nonce or not token or len(nonce) > 128 or len(token) > 128:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce, customer_id), token)


@dataclass(frozen=True)
class PortalLink:
    url: str
    #: None for a remote provider's session (Stripe's expire on their own, after a short while)
    expires_at: datetime | None


class PortalService:
    """Portal links on either engine, and the checks of our own portal's requests."""

    def __init__(self, ctx: Context, *, engine: PortalEngine) -> None:
        self._ctx = ctx
        self._engine = engine

    @property
    def hosted_here(self) -> bool:
        """True when our HTTP service's portal acts for customers; False when the provider
        (Stripe) has its own portal, which its links open."""
        return self._engine.hosted_here

    def link(self, customer_id: str, *, ttl: timedelta = PORTAL_TTL) -> PortalLink:
        """A link to the customer portal: with a remote provider its own (a Stripe Billing
        Portal session returning to ``NSELF_BASE_URL``), else a signed link to ours."""
        return self._engine.link(customer_id, ttl=ttl)

    def verify(self, token: str) -> str:
        return verify_token(portal_secret(self._ctx.settings), token, self._ctx.clock())

    def csrf_token(self, nonce: str, customer_id: str) -> str:
        """The token the portal's forms carry for the cookie value ``nonce``."""
        return csrf_token(portal_secret(self._ctx.settings), nonce, customer_id)

    def csrf_valid(self, nonce: str | None, customer_id: str, token: str | None) -> bool:
        return csrf_valid(portal_secret(self._ctx.settings), nonce, customer_id, token)


class LocalPortal:
    """The local engine's portal: our HTTP service's, opened by a signed, expiring link."""

    hosted_here = True

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def link(self, customer_id: str, *, ttl: timedelta) -> PortalLink:
        base = (self._ctx.settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        expires_at = self._ctx.clock() + ttl
        token = issue_token(portal_secret(self._ctx.settings), customer_id, expires_at)
        return PortalLink(f"{base}/portal?token={quote(token)}", expires_at)
