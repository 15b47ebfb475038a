"""What a CLI invocation carries: options of the billing group and a lazily built Billing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from ..billing import Billing
    from ..domain.plans import Plan
    from ..services.quick_reads import QuickReads

T = TypeVar("T")


class CliState:
    def __init__(self, *, customer_id: str | None = None, debug: bool = False) -> None:
        self.customer_id = customer_id
        self.debug = debug
        self._billing: Billing | None = None
        self._quick: QuickReads | None = None
        self._quick_tried = False

    @property
    def billing(self) -> Billing:
        if self._billing is None:
            from ..billing import Billing

            self._billing = Billing.from_env(customer_id=self.customer_id)
        return self._billing

    def plans(self) -> list[Plan]:
        """The plan catalog; on a ready embedded database, read without building Billing (see
        services/catalog_startup.py), so the catalog commands start fast."""
        if self._billing is None:
            from ..services.catalog_startup import quick_plans
            from ..settings import Settings

            found = quick_plans(Settings.from_env())
            if found is not None:
                return found
        return self.billing.plans.list()

    def plan(self, plan_name: str) -> Plan:
        """One plan of the catalog (``PlanNotFound`` if there is none by that name)."""
        for plan in self.plans():
            if plan.name == plan_name:
                return plan
        return self.billing.plans.get(plan_name)

    def read(self, quick: Callable[[QuickReads], T], normal: Callable[[Billing], T]) -> T:
        """A read command's answer: on a ready embedded database through sqlite3 alone
        (services/quick_reads.py, so the command starts fast), else through ``Billing``."""
        if self._billing is None and not self._quick_tried:
            from ..services.quick_reads import QuickReads
            from ..settings import Settings

            self._quick_tried = True
            self._quick = QuickReads.open(Settings.from_env(), self.customer_id)
        if self._quick is not None:
            from ..services.quick_reads import UNREADABLE

            try:
                return quick(self._quick)
            except UNREADABLE:
                pass  # a stored value this path does not take: the normal path answers
        return normal(self.billing)

    def close(self) -> None:
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        if self._billing is not None:
            self._billing.close()
            self._billing = None


pass_state = click.make_pass_decorator(CliState)
