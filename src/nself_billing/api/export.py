"""The spec's export functions: ``billing_export_all|usage|invoices``."""

from __future__ import annotations

from pathlib import Path

from .handle import default_billing

__all__ = ["billing_export_all", "billing_export_invoices", "billing_export_usage"]


def _export(kind: str, output_format: str, file: str | None, year: str | int | None) -> str:
    chosen_year = int(year) if year not in (None, "") else None
    result = default_billing().export.export(
        kind,
        output_format=output_format or "json",
        output=Path(file) if file else None,
        year=chosen_year,
        force=bool(file),
    )
    return str(result.paths[0])


def billing_export_all(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export customer, subscription, invoices, usage and payments; returns the file written
    (an explicit ``file`` is overwritten, as the bash tool did)."""
    return _export("all", format, file, year)


def billing_export_usage(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export daily usage (``date,service_name,usage,events`` in CSV)."""
    return _export("usage", format, file, year)


def billing_export_invoices(
    format: str = "json", file: str | None = None, year: str | int | None = None
) -> str:
    """Export invoices (with their lines in JSON)."""
    return _export("invoices", format, file, year)
