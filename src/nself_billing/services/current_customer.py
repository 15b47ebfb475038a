"""The current customer, resolved in one place (the spec's rule) with one cache.

The rule: the customer a call names, else ``--customer`` (``Billing.from_env(customer_id=...)``),
else ``NSELF_CUSTOMER_ID`` (environment or ``.env``), else the only customer in the database;
otherwise ``No customer ID found`` (naming up to five ids when there are several). A configured
id cannot change while ``Billing`` lives, so it is checked once; an id found in the database is
read again on each call (a customer may be added at any time). Built once by bootstrap.py and
given to every use case that resolves a customer (customers, usage, quotas, export).

The read-only quick path of the CLI (``services/quick_reads.py``) applies the same rule
through the standard library's sqlite3, without SQLAlchemy (docs/ARCHITECTURE.md, Start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.customers import NAMED_IN_ERROR, customer_id_problem, only_customer
from ..errors import InvalidInput
from ..store import customers as store
from .context import Context

if TYPE_CHECKING:
    from ..store.db import Connection

#: ids whose shape was checked are remembered up to this many
_CHECKED_MAX = 10_000


class CurrentCustomer:
    def __init__(self, ctx: Context) -> None:
        self._db = ctx.db
        self._configured = ctx.customer_override or ctx.settings.customer_id or None
        #: customer ids whose shape was checked (they may not exist: the foreign key says so)
        self._checked: set[str] = set()

    @property
    def configured(self) -> str | None:
        """The id set by ``--customer`` or ``NSELF_CUSTOMER_ID`` (checked), else None."""
        return self.chosen(None)

    def chosen(self, customer_id: str | None) -> str | None:
        """The id a call names, else the configured one, checked for shape; None when the
        database decides (``id``, ``only_in``)."""
        chosen = customer_id or self._configured
        if chosen and chosen not in self._checked:
            problem = customer_id_problem(chosen)
            if problem:
                raise InvalidInput(problem)
            if len(self._checked) < _CHECKED_MAX:
                self._checked.add(chosen)
        return chosen or None

    def id(self, customer_id: str | None = None) -> str:
        """The customer a call acts for (one statement when the database decides)."""
        chosen = self.chosen(customer_id)
        if chosen is not None:
            return chosen
        return only_customer(store.first_ids_fast(self._db, NAMED_IN_ERROR + 1))

    def only_in(self, conn: Connection) -> str:
        """The only customer in the database, read in the caller's transaction."""
        return only_customer(store.first_ids(conn, NAMED_IN_ERROR + 1))
