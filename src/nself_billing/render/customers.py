"""How customers look: the customer record, its text, and the customer list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..domain.customers import Customer
from .formats import table_text

if TYPE_CHECKING:
    from ..services.customers import CustomerEntry
    from ..services.portal_links import PortalLink

CUSTOMER_COLUMNS = ("customer_id", "name", "email", "phone", "project_name", "created_at")
CUSTOMER_LIST_COLUMNS = (*CUSTOMER_COLUMNS, "plan", "status")


def customer_record(customer: Customer) -> dict[str, Any]:
    return {c: getattr(customer, c) for c in CUSTOMER_COLUMNS}


def customer_text(customer: Customer) -> str:
    lines = [
        f"Customer ID: {customer.customer_id}",
        f"Name: {customer.name or '-'}",
        f"Email: {customer.email or '-'}",
    ]
    if customer.phone:
        lines.append(f"Phone: {customer.phone}")
    if customer.project_name:
        lines.append(f"Project: {customer.project_name}")
    created = customer.created_at.strftime("%Y-%m-%d") if customer.created_at else "-"
    lines.append(f"Created: {created}")
    return "\n".join(lines)


def customer_list_records(entries: Sequence[CustomerEntry]) -> list[dict[str, Any]]:
    """``customer list``: each customer's record with its plan and subscription status."""
    return [
        customer_record(e.customer)
        | {
            "plan": e.subscription.plan_name if e.subscription else None,
            "status": e.subscription.status if e.subscription else None,
        }
        for e in entries
    ]


def customer_list_table(records: Sequence[dict[str, Any]]) -> str:
    if not records:
        return "No customers (create one: nself tenant billing customer create)"
    rows = [
        [
            r["customer_id"],
            r["name"] or "-",
            r["email"] or "-",
            r["plan"] or "-",
            r["status"] or "-",
            r["created_at"].strftime("%Y-%m-%d") if r["created_at"] else "-",
        ]
        for r in records
    ]
    return table_text(("Customer ID", "Name", "Email", "Plan", "Status", "Created"), rows)


def portal_lines(link: PortalLink) -> list[str]:
    """``customer portal``: the link, and until when it works."""
    created = (
        "Portal session created"
        if link.expires_at is None
        else f"Portal session created (expires {link.expires_at:%Y-%m-%d %H:%M} UTC)"
    )
    return ["Customer Portal URL:", link.url, created]
