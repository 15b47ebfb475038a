"""``export``: the current customer's billing data as JSON or CSV files: which files, which
records in them, and in what order. The records are ``export_records.py``'s, the atomic file
writing ``export_files.py``'s, the reads ``store/export.py``'s (and ``event_export.py``'s for
raw usage on ClickHouse)."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..domain.reporting import EXPORT_FORMATS, EXPORT_TYPES
from ..errors import InvalidInput
from ..store import customers as customer_store
from ..store import export as store
from ..store import usage as usage_store
from . import event_export
from .context import Context
from .current_customer import CurrentCustomer
from .export_files import Progress, check_targets, write_csv, write_file
from .export_records import (
    INVOICE_COLUMNS,
    PAYMENT_METHOD_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    USAGE_CSV_COLUMNS,
    csv_row,
    customer_record,
    daily_usage_record,
    plain,
    raw_usage_record,
)

__all__ = ["ExportResult", "ExportService", "Progress"]


@dataclass(frozen=True)
class ExportResult:
    paths: tuple[Path, ...]
    rows: int


@dataclass(frozen=True)
class _Job:
    """What one export writes: whose data, which year, raw events or daily usage."""

    customer_id: str
    year: int | None
    raw: bool
    progress: Progress | None


class ExportService:
    def __init__(self, ctx: Context, *, current: CurrentCustomer) -> None:
        self._ctx = ctx
        self._current = current

    def default_path(self, kind: str, output_format: str) -> Path:
        """``nself_billing_<type>_YYYYMMDD_HHMMSS.<ext>`` in BILLING_EXPORT_DIR if set, else the
        current directory (the spec's naming)."""
        stamp = self._ctx.clock().strftime("%Y%m%d_%H%M%S")
        folder = self._ctx.settings.export_default_dir or Path.cwd()
        return folder / f"nself_billing_{kind}_{stamp}.{output_format}"

    def planned_paths(self, kind: str, output_format: str, output: Path | None) -> list[Path]:
        """Where an export will write: one file, or one per type for ``all`` as CSV."""
        _check(kind, output_format)
        target = output or self.default_path(kind, output_format)
        if kind == "all" and output_format == "csv":
            return [
                target.with_name(f"{target.stem}_{part}{target.suffix or '.csv'}")
                for part in EXPORT_TYPES[:-1]
            ]
        return [target]

    check_targets = staticmethod(check_targets)

    def count_rows(self, kind: str, *, year: int | None = None, raw: bool = False) -> int | None:
        """How many rows the raw usage export will write (None when not a raw usage export)."""
        if not raw or kind not in ("usage", "all"):
            return None
        customer_id = self._customer()
        with self._ctx.db.read() as conn:
            return store.raw_usage_count(conn, customer_id, year)

    def export(
        self,
        kind: str = "all",
        *,
        output_format: str = "json",
        output: Path | None = None,
        year: int | None = None,
        raw: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> ExportResult:
        _check(kind, output_format)
        if year is not None and not 1970 <= year <= 9999:
            raise InvalidInput(f"Invalid year: {year}")
        paths = self.planned_paths(kind, output_format, output)
        check_targets(paths, force=force)
        job = _Job(self._customer(), year, raw, progress)
        written = 0
        if output_format == "csv":
            parts = EXPORT_TYPES[:-1] if kind == "all" else (kind,)
            for part, path in zip(parts, paths, strict=True):
                written += write_file(path, force, functools.partial(self._csv, part=part, job=job))
        else:
            written = write_file(paths[0], force, lambda out: self._json(out, kind, job))
        return ExportResult(tuple(paths), written)

    # -- the files -----------------------------------------------------------------------

    def _csv(self, out: IO[bytes], part: str, job: _Job) -> int:
        if part == "usage" and job.raw:
            return self._raw_usage_csv(out, job)
        columns, rows = self._table(part, job.customer_id, job.year)
        return write_csv(out, columns, (csv_row(r, columns) for r in rows))

    def _table(
        self, part: str, customer_id: str, year: int | None
    ) -> tuple[Sequence[str], list[dict[str, Any]]]:
        if part == "usage":
            return USAGE_CSV_COLUMNS, self._daily_usage(customer_id, year)
        if part == "invoices":
            return INVOICE_COLUMNS, self._invoices(customer_id, year)
        if part == "subscriptions":
            return SUBSCRIPTION_COLUMNS, self._subscriptions(customer_id)
        return PAYMENT_METHOD_COLUMNS, self._payments(customer_id)["payment_methods"]

    def _json(self, out: IO[bytes], kind: str, job: _Job) -> int:
        writer = io.TextIOWrapper(out, encoding="utf-8", newline="\n", write_through=False)
        try:
            if kind == "usage":
                rows = self._write_usage_json(writer, job)
            elif kind == "all":
                rows = self._write_all_json(writer, job)
            else:
                _, records = self._table(kind, job.customer_id, job.year)
                document: Any = self._payments(job.customer_id) if kind == "payments" else records
                json.dump(plain(document), writer, indent=2, ensure_ascii=False)
                rows = len(records)
            writer.write("\n")
            writer.flush()
        finally:
            writer.detach()
        return rows

    def _write_all_json(self, writer: io.TextIOWrapper, job: _Job) -> int:
        customer_id, year = job.customer_id, job.year
        with self._ctx.db.read() as conn:
            customer = customer_store.get(conn, customer_id)
        subscriptions_list = self._subscriptions(customer_id)
        invoices_list = self._invoices(customer_id, year)
        live = [s for s in subscriptions_list if s["is_current"]]
        head = {
            "customer": customer_record(customer),
            "subscription": live[0] if live else None,
            "subscriptions": subscriptions_list,
            "invoices": invoices_list,
            "payments": self._payments(customer_id),
        }
        text = json.dumps(plain(head), indent=2, ensure_ascii=False)
        writer.write(text[:-2] + ',\n  "usage": ')
        rows = self._write_usage_json(writer, job, indent="  ")
        writer.write("\n}")
        return rows + len(invoices_list) + len(subscriptions_list)

    def _write_usage_json(self, writer: io.TextIOWrapper, job: _Job, indent: str = "") -> int:
        records: Iterable[dict[str, Any]]
        if job.raw:
            records = self._raw_usage_records(job.customer_id, job.year)
        else:
            records = self._daily_usage(job.customer_id, job.year)
        progress = job.progress
        writer.write("[")
        count = 0
        for record in records:
            writer.write(
                ("," if count else "")
                + "\n"
                + indent
                + "  "
                + json.dumps(record, ensure_ascii=False)
            )
            count += 1
            if progress and count % 10_000 == 0:
                progress(count)
        writer.write(("\n" + indent if count else "") + "]")
        if progress:
            progress(count)
        return count

    def _raw_usage_csv(self, out: IO[bytes], job: _Job) -> int:
        customer_id, year, progress = job.customer_id, job.year, job.progress
        with self._ctx.db.read() as conn:
            if self._ctx.events is not None:
                out.write((",".join(store.RAW_USAGE_COLUMNS) + "\n").encode())
                return event_export.write_csv(
                    self._ctx.events, conn, customer_id, year, out, progress
                )
            count = 0
            for chunk, rows in store.raw_usage_csv(conn, customer_id, year):
                out.write(chunk)
                count += rows
                if progress and rows:
                    progress(count)
            return count

    # -- the records ---------------------------------------------------------------------

    def _customer(self) -> str:
        return self._current.id()

    def _daily_usage(self, customer_id: str, year: int | None) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            days = usage_store.daily_totals(conn, customer_id, *store.year_days(year))
        return [daily_usage_record(d.day, d.service, d.quantity, d.events) for d in days]

    def _raw_usage_records(self, customer_id: str, year: int | None) -> Iterable[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            rows: Iterable[Sequence[Any]]
            if self._ctx.events is not None:
                rows = event_export.rows(self._ctx.events, conn, customer_id, year)
            else:
                rows = store.raw_usage(conn, customer_id, year)
            for row in rows:
                yield raw_usage_record(row)

    def _invoices(self, customer_id: str, year: int | None) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            return store.invoices_for(conn, customer_id, year)

    def _subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            rows = store.subscriptions_for(conn, customer_id)
        return [
            {column: row[column] for column in SUBSCRIPTION_COLUMNS}
            | {"is_current": row["is_current"]}
            for row in rows
        ]

    def _payments(self, customer_id: str) -> dict[str, list[dict[str, Any]]]:
        with self._ctx.db.read() as conn:
            return {
                "payment_methods": store.payment_methods_for(conn, customer_id),
                "payments": store.payments_for(conn, customer_id),
            }


def _check(kind: str, output_format: str) -> None:
    if kind not in EXPORT_TYPES:
        raise InvalidInput(
            f"Invalid export type: {kind} (expected one of: {', '.join(EXPORT_TYPES)})"
        )
    if output_format not in EXPORT_FORMATS:
        raise InvalidInput(f"Invalid format: {output_format} (expected json or csv)")
