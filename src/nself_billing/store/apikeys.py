"""Queries for API keys (billing_api_keys). Only the SHA-256 of a key is ever stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from .tables import api_keys


@dataclass(frozen=True)
class ApiKeyRow:
    key_id: str
    customer_id: str | None
    is_admin: bool
    name: str | None
    key_hash: str
    created_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.customer_id,
    api_keys.c.is_admin,
    api_keys.c.name,
    api_keys.c.key_hash,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


def insert(
    conn: Connection,
    *,
    key_id: str,
    customer_id: str | None,
    is_admin: bool,
    name: str | None,
    key_hash: str,
    now: datetime,
) -> None:
    conn.execute(
        api_keys.insert().values(
            key_id=key_id,
            customer_id=customer_id,
            is_admin=is_admin,
            name=name,
            key_hash=key_hash,
            created_at=now,
        )
    )


def get(conn: Connection, key_id: str) -> ApiKeyRow | None:
    row = conn.execute(select(*_COLUMNS).where(api_keys.c.key_id == key_id)).first()
    return ApiKeyRow(*row) if row else None


def list_all(conn: Connection) -> list[ApiKeyRow]:
    query = select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.key_id)
    return [ApiKeyRow(*row) for row in conn.execute(query)]


def revoke(conn: Connection, key_id: str, *, now: datetime) -> bool:
    """Mark the key revoked; False if it does not exist. Revoking twice keeps the first time."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount:
        return True
    return get(conn, key_id) is not None
