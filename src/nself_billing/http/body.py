"""Reading a request body with a size limit (413 before the whole body is buffered)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import Request

from ..errors import InvalidInput, PayloadTooLarge


async def read_limited(request: Request, limit: int) -> bytes:
    declared_length(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


#: one decoder for every body (``json.loads`` with ``parse_float`` builds a new one per call)
_DECODER = json.JSONDecoder(parse_float=Decimal)


def parse_json(body: bytes) -> Any:
    """JSON with exact decimals (a quantity never passes through float); the body decoded as
    ``json.loads`` decodes bytes (UTF-8, -16 or -32, as detected)."""
    try:
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):
        raise InvalidInput("Invalid JSON body") from None


def declared_length(value: str | None, limit: int) -> None:
    """Refuse a body whose ``Content-Length`` is malformed (422) or over ``limit`` (413)
    before reading it."""
    if value is not None:
        try:
            too_big = int(value) > limit
        except ValueError:
            raise InvalidInput("Invalid Content-Length") from None
        if too_big:
            raise PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
