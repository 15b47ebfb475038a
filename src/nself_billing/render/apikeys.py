"""How API keys look (ids, scope and dates; never the keys)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .formats import table_text

if TYPE_CHECKING:
    from ..services.apikeys import ApiKey

KEY_COLUMNS = ("key_id", "scope", "name", "created_at", "revoked_at")


def key_record(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "scope": key.scope,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def keys_table(keys: Sequence[ApiKey]) -> str:
    rows = [
        [k.key_id, k.scope, k.name or "-", _when(k.created_at), _when(k.revoked_at)] for k in keys
    ]
    if not rows:
        return "No API keys"
    return table_text(["Key ID", "Scope", "Name", "Created", "Revoked"], rows, banner=["API KEYS"])
