"""Reading a request body with a size limit (413 before the whole body is buffered)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import Request

from ..errors import InvalidInput, PayloadTooLarge


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise InvalidInput("Invalid Content-Length") from None
        if too_big:
            raise PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """JSON with exact decimals (a quantity never passes through float)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise InvalidInput("Invalid JSON body") from None
