"""Ids in Stripe's style (``cus_...``, ``sub_...``, ``in_...``). A leaf: any layer may import it."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 14) -> str:
    """An id in Stripe's style (cus_..., sub_..., in_...) from a CSPRNG."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
