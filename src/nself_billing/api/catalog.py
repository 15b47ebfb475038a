"""The spec's plan functions: list, show, compare and the current plan (printed as the
``plan`` commands print them, and returned)."""

from __future__ import annotations

from ..domain.plans import Plan
from ..render.catalog import compare_lines, plan_details, plans_table
from .handle import default_billing

__all__ = ["stripe_plan_current", "stripe_plan_show", "stripe_plans_compare", "stripe_plans_list"]


def stripe_plans_list() -> list[Plan]:
    """Print the plan table (as ``plan list``) and return the plans."""
    plans = default_billing().plans.list()
    print("Available Plans")
    print(plans_table(plans))
    return plans


def stripe_plan_show(plan_name: str) -> Plan:
    """Print a plan's details (as ``plan show``) and return it; ``PlanNotFound`` if unknown."""
    plan = default_billing().plans.get(plan_name)
    print(plan_details(plan))
    return plan


def stripe_plans_compare() -> list[Plan]:
    """Print the comparison of all plans and return them."""
    plans = default_billing().plans.list()
    for line in compare_lines(plans):
        print(line)
    return plans


def stripe_plan_current() -> Plan:
    """Print and return the current customer's plan; ``NotFound`` without a subscription."""
    billing = default_billing()
    plan = billing.plans.current(billing.customer_id)
    print(plan_details(plan))
    return plan
