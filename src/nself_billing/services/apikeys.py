"""API keys of the HTTP service: create (the secret is shown once), list, revoke, authenticate.

A key reads ``nsb_<key_id>_<secret>``: the key id locates the row, and the SHA-256 of the whole
key is compared in constant time. SHA-256 (not a slow password hash) is enough because the secret
has 256 bits of entropy; nothing short of the key itself can be guessed from the hash.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from ..domain.customers import customer_id_problem
from ..errors import AuthenticationFailed, InvalidInput, NotFound
from ..store import apikeys as store
from ..store import customers as customer_store
from . import events
from .context import Context

KEY_PREFIX = "nsb_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    customer_id: str | None
    is_admin: bool
    name: str | None
    created_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def scope(self) -> str:
        return "admin" if self.is_admin else f"customer:{self.customer_id}"


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    #: the full key; shown to the operator once and never stored
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _public(row: store.ApiKeyRow) -> ApiKey:
    return ApiKey(
        row.key_id, row.customer_id, row.is_admin, row.name, row.created_at, row.revoked_at
    )


#: entries kept by the authentication cache before it starts over
_CACHE_LIMIT = 10_000


class ApiKeyService:
    """``auth_cache_seconds``: how long a successful authentication is reused without a
    database read (0, the default, reads every time). The HTTP service uses a second: a key
    revoked from another process (``apikey revoke``) is refused at most that long after;
    revoking through this object takes effect at once."""

    def __init__(self, ctx: Context, *, auth_cache_seconds: float = 0.0) -> None:
        self._ctx = ctx
        self.auth_cache_seconds = auth_cache_seconds
        self._verified: dict[str, tuple[ApiKey, float]] = {}

    def create(
        self, *, customer_id: str | None = None, admin: bool = False, name: str | None = None
    ) -> CreatedKey:
        """A new key bound to one customer, or an admin key (all customers)."""
        if admin == (customer_id is not None):
            raise InvalidInput("A key is either bound to one customer or is an admin key")
        if customer_id is not None:
            problem = customer_id_problem(customer_id)
            if problem:
                raise InvalidInput(problem)
        if name is not None and len(name) > 255:
            raise InvalidInput("Invalid name: at most 255 characters")
        key_id = secrets.token_hex(8)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = self._ctx.clock()
        with self._ctx.db.write() as conn:
            if customer_id is not None and not customer_store.exists(conn, customer_id):
                raise NotFound(f"Customer not found: {customer_id}")
            store.insert(
                conn,
                key_id=key_id,
                customer_id=customer_id,
                is_admin=admin,
                name=name,
                key_hash=hash_key(secret),
                now=now,
            )
            events.record(
                self._ctx,
                conn,
                "apikey.created",
                customer_id=customer_id,
                data={"key_id": key_id, "admin": admin, "name": name},
            )
        key = ApiKey(key_id, customer_id, admin, name, now, None)
        return CreatedKey(key, secret)

    def list(self) -> builtins.list[ApiKey]:
        with self._ctx.db.read() as conn:
            return [_public(row) for row in store.list_all(conn)]

    def revoke(self, key_id: str) -> ApiKey:
        with self._ctx.db.write() as conn:
            if not store.revoke(conn, key_id, now=self._ctx.clock()):
                raise NotFound(f"API key not found: {key_id}")
            row = store.get(conn, key_id)
            assert row is not None
            events.record(
                self._ctx,
                conn,
                "apikey.revoked",
                customer_id=row.customer_id,
                data={"key_id": key_id, "admin": row.is_admin, "name": row.name},
            )
        self._verified.clear()
        return _public(row)

    def authenticated(self, secret: str | None) -> ApiKey | None:
        """The key of ``secret`` if it was verified less than ``auth_cache_seconds`` ago, else
        None: no I/O, so an async caller can try it before handing ``authenticate`` to a
        thread."""
        if self.auth_cache_seconds <= 0 or not secret or len(secret) > 200:
            return None
        cached = self._verified.get(hash_key(secret))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def authenticate(self, secret: str | None) -> ApiKey:
        """The live key matching ``secret``; AuthenticationFailed otherwise (same message for
        every reason, so a caller learns nothing about which keys exist)."""
        if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            raise AuthenticationFailed()
        cached = self.authenticated(secret)
        if cached is not None:
            return cached
        digest = hash_key(secret)
        key_id = secret[len(KEY_PREFIX) :].split("_", 1)[0]
        with self._ctx.db.read() as conn:
            row = store.get(conn, key_id)
        expected = row.key_hash if row is not None else hash_key("")
        matches = hmac.compare_digest(expected, digest)
        if row is None or not matches or row.revoked_at is not None:
            raise AuthenticationFailed()
        key = _public(row)
        if self.auth_cache_seconds > 0:
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[digest] = (key, time.monotonic() + self.auth_cache_seconds)
        return key
