"""How a billing cycle looks: its record (``cycle --format json``) and its lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.money import format_money
from ..domain.periods import days_label

if TYPE_CHECKING:
    from ..services.cycle import CycleResult

#: invoices listed one a line by the table output (JSON lists every id)
SHOWN_INVOICES = 50


def cycle_record(result: CycleResult) -> dict[str, Any]:
    return {
        "closed": result.closed,
        "invoices": result.invoice_ids,
        "total": result.total,
        "downgraded": result.downgraded,
        "canceled": result.canceled,
        "adjustments": result.adjustments,
        "failures": [{"subscription_id": s, "error": e} for s, e in result.failures],
        "skipped_reason": result.skipped_reason,
    }


def cycle_lines(result: CycleResult) -> list[str]:
    """The table output: what was closed, changed and invoiced (failures go to stderr)."""
    if result.skipped_reason:
        return [f"Billing cycle skipped: {result.skipped_reason}"]
    if not result.closed and not result.failures:
        return ["Billing cycle: nothing due"]
    lines = [
        f"Billing cycle: closed {result.closed} period(s), {len(result.invoice_ids)} "
        f"invoice(s) totalling {format_money(result.total)}",
        f"Scheduled changes applied: {result.downgraded} downgrade(s), "
        f"{result.canceled} cancellation(s)",
    ]
    if result.adjustments:
        lines.append(f"Late usage adjustments: {result.adjustments}")
    for invoice in result.invoices[:SHOWN_INVOICES]:
        period = (
            days_label(invoice.period_start, invoice.period_end)
            if invoice.period_start and invoice.period_end
            else "-"
        )
        lines.append(
            f"Invoice {invoice.invoice_id}: {invoice.customer_id} "
            f"{format_money(invoice.total, invoice.currency)} for {period}"
        )
    if len(result.invoices) > SHOWN_INVOICES:
        lines.append(
            f"... and {len(result.invoices) - SHOWN_INVOICES} more invoice(s) (see: --format json)"
        )
    return lines
