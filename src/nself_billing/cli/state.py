"""What a CLI invocation carries: options of the billing group and a lazily built Billing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..billing import Billing


class CliState:
    def __init__(self, *, customer_id: str | None = None, debug: bool = False) -> None:
        self.customer_id = customer_id
        self.debug = debug
        self._billing: Billing | None = None

    @property
    def billing(self) -> Billing:
        if self._billing is None:
            from ..billing import Billing

            self._billing = Billing.from_env(customer_id=self.customer_id)
        return self._billing

    def close(self) -> None:
        if self._billing is not None:
            self._billing.close()
            self._billing = None


pass_state = click.make_pass_decorator(CliState)
