"""How payment methods look: their record, and how to add one."""

from __future__ import annotations

from typing import Any

from ..domain.payments import PaymentMethod

METHOD_COLUMNS = (
    "payment_method_id",
    "type",
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "is_default",
    "reference",
    "created_at",
)
PORTAL_HINT = "nself tenant billing customer portal"


def method_record(method: PaymentMethod) -> dict[str, Any]:
    return {column: getattr(method, column) for column in METHOD_COLUMNS}


def method_line(method: PaymentMethod) -> str:
    """``payment list``'s line: the id, the label, and whether it is the default."""
    return f"{method.payment_method_id}  {method.label}" + (
        "  (default)" if method.is_default else ""
    )


def add_instructions(url: str | None, *, stripe: bool) -> list[str]:
    """What ``payment add`` without options prints: the spec's instructions (with Stripe, the
    ``url`` of Stripe's own form)."""
    if stripe:
        return [
            "Add Payment Method",
            "Open this link to add a payment method securely (card details are entered "
            "on Stripe's page, never here):",
            url or "",
        ]
    return [
        "Add Payment Method",
        "Please use the customer portal to add payment methods securely:",
        PORTAL_HINT,
        "Or record a reference: payment add --brand visa --last4 4242 --exp 12/2030 "
        "(or --token <reference>)",
        "Note: card numbers are never stored; adding payment methods requires PCI "
        "compliance, which the payment provider's portal provides.",
    ]
