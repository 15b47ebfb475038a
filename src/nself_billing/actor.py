"""Who makes a change, for the audit log: ``cli:<user>``, ``api_key:<id>``, ``portal``,
``stripe``, or ``library`` when the object API is used directly. Each face sets it; a leaf
module so that setting it costs a face no import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ACTOR: ContextVar[str] = ContextVar("nself_billing_actor", default="library")


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = ACTOR.set(actor)
    try:
        yield
    finally:
        ACTOR.reset(token)
