"""What every use case needs, built once by bootstrap.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..providers.port import PaymentProvider
from ..settings import Settings
from ..store.db import Database

if TYPE_CHECKING:
    from .engines import Engines

Clock = Callable[[], datetime]


@dataclass
class Context:
    settings: Settings
    db: Database
    provider: PaymentProvider
    clock: Clock
    log: logging.Logger
    #: the tenant chosen with --customer (or Billing(customer_id=...)), over NSELF_CUSTOMER_ID
    customer_override: str | None = None
    #: the engine of each area, chosen once by bootstrap (from the provider when None)
    engines: Engines | None = None
