"""``export``: the current customer's billing data as JSON or CSV files.

Files are written next to their destination under a temporary name and renamed into place when
complete, so a failed export never leaves a half-written file, and an existing file is never
replaced unless ``force`` is given (the no-overwrite rename is ``os.link``, atomic).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from ..domain.humanize import plain_number
from ..domain.money import from_micros
from ..domain.reporting import EXPORT_FORMATS, EXPORT_TYPES
from ..errors import Conflict, InvalidInput
from ..store import customers as customer_store
from ..store import export as store
from ..store.subscriptions import to_subscription
from ..store.tables import subscriptions
from . import event_export
from .context import Context
from .current_customer import CurrentCustomer

USAGE_CSV_COLUMNS = ("date", "service_name", "usage", "events")
INVOICE_COLUMNS = (
    "invoice_id",
    "customer_id",
    "subscription_id",
    "kind",
    "status",
    "total_amount",
    "currency",
    "period_start",
    "period_end",
    "created_at",
    "paid_at",
    "number",
    "due_at",
)
SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "customer_id",
    "plan_name",
    "status",
    "billing_interval",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "scheduled_plan_name",
    "trial_end",
    "created_at",
    "canceled_at",
)
PAYMENT_METHOD_COLUMNS = (
    "payment_method_id",
    "customer_id",
    "type",
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "is_default",
    "created_at",
)

#: called with the number of rows written so far (for a progress bar)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    paths: tuple[Path, ...]
    rows: int


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _csv_value(value: Any) -> Any:
    plain = _plain(value)
    if isinstance(plain, dict | list):
        return json.dumps(plain, ensure_ascii=False)
    return "" if plain is None else plain


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

    @staticmethod
    def check_targets(paths: Sequence[Path], *, force: bool) -> None:
        if not force:
            for path in paths:
                if path.exists():
                    raise Conflict(f"Output file exists: {path} (use --force to overwrite)")

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
        self.check_targets(paths, force=force)
        customer_id = self._customer()
        written = 0
        if output_format == "csv":
            parts = EXPORT_TYPES[:-1] if kind == "all" else (kind,)
            for part, path in zip(parts, paths, strict=True):
                written += self._write(
                    path,
                    force,
                    functools.partial(
                        self._csv,
                        part=part,
                        customer_id=customer_id,
                        year=year,
                        raw=raw,
                        progress=progress,
                    ),
                )
        else:
            written = self._write(
                paths[0], force, lambda out: self._json(out, kind, customer_id, year, raw, progress)
            )
        return ExportResult(tuple(paths), written)

    # -- writing -------------------------------------------------------------------------

    def _write(self, path: Path, force: bool, body: Callable[[IO[bytes]], int]) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as out:
                rows = body(out)
            if force:
                os.replace(partial, path)
            else:
                try:
                    os.link(partial, path)
                except FileExistsError:
                    raise Conflict(
                        f"Output file exists: {path} (use --force to overwrite)"
                    ) from None
        finally:
            partial.unlink(missing_ok=True)
        return rows

    def _csv(
        self,
        out: IO[bytes],
        part: str,
        customer_id: str,
        year: int | None,
        raw: bool,
        progress: Progress | None,
    ) -> int:
        if part == "usage" and raw:
            return self._raw_usage_csv(out, customer_id, year, progress)
        columns, rows = self._table(part, customer_id, year)
        return _write_csv(out, columns, ([_csv_value(r.get(c)) for c in columns] for r in rows))

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

    def _json(
        self,
        out: IO[bytes],
        kind: str,
        customer_id: str,
        year: int | None,
        raw: bool,
        progress: Progress | None,
    ) -> int:
        writer = io.TextIOWrapper(out, encoding="utf-8", newline="\n", write_through=False)
        try:
            if kind == "usage":
                rows = self._write_usage_json(writer, customer_id, year, raw, progress)
            elif kind == "all":
                rows = self._write_all_json(writer, customer_id, year, raw, progress)
            else:
                _, records = self._table(kind, customer_id, year)
                document: Any = self._payments(customer_id) if kind == "payments" else records
                json.dump(_plain(document), writer, indent=2, ensure_ascii=False)
                rows = len(records)
            writer.write("\n")
            writer.flush()
        finally:
            writer.detach()
        return rows

    def _write_all_json(
        self,
        writer: io.TextIOWrapper,
        customer_id: str,
        year: int | None,
        raw: bool,
        progress: Progress | None,
    ) -> int:
        with self._ctx.db.read() as conn:
            customer = customer_store.get(conn, customer_id)
        subscriptions_list = self._subscriptions(customer_id)
        invoices_list = self._invoices(customer_id, year)
        live = [s for s in subscriptions_list if s["is_current"]]
        head = {
            "customer": None
            if customer is None
            else {
                "customer_id": customer.customer_id,
                "email": customer.email,
                "name": customer.name,
                "phone": customer.phone,
                "project_name": customer.project_name,
                "created_at": customer.created_at,
            },
            "subscription": live[0] if live else None,
            "subscriptions": subscriptions_list,
            "invoices": invoices_list,
            "payments": self._payments(customer_id),
        }
        text = json.dumps(_plain(head), indent=2, ensure_ascii=False)
        writer.write(text[:-2] + ',\n  "usage": ')
        rows = self._write_usage_json(writer, customer_id, year, raw, progress, indent="  ")
        writer.write("\n}")
        return rows + len(invoices_list) + len(subscriptions_list)

    def _write_usage_json(
        self,
        writer: io.TextIOWrapper,
        customer_id: str,
        year: int | None,
        raw: bool,
        progress: Progress | None,
        indent: str = "",
    ) -> int:
        records: Iterable[dict[str, Any]]
        if raw:
            records = self._raw_usage_records(customer_id, year)
        else:
            records = self._daily_usage(customer_id, year)
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

    # -- reading -------------------------------------------------------------------------

    def _customer(self) -> str:
        return self._current.id()

    def _daily_usage(self, customer_id: str, year: int | None) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            rows = store.daily_usage(conn, customer_id, year)
        return [
            {
                "date": row.day.isoformat(),
                "service_name": row.service_name,
                "usage": plain_number(from_micros(int(row.quantity_micros))),
                "events": int(row.events),
            }
            for row in rows
        ]

    def _raw_usage_records(self, customer_id: str, year: int | None) -> Iterator[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            rows: Iterable[Sequence[Any]]
            if self._ctx.events is not None:
                rows = event_export.rows(self._ctx.events, conn, customer_id, year)
            elif conn.dialect.name == "postgresql":
                lines = _csv_lines(store.copy_raw_usage_csv(conn, customer_id, year, header=False))
                rows = csv.reader(lines)
            else:
                rows = store.raw_usage_rows(conn, customer_id, year)
            for row in rows:
                metadata = row[6]
                yield {
                    "id": int(row[0]),
                    "customer_id": row[1],
                    "service_name": row[2],
                    "quantity": row[3],
                    "recorded_at": row[4],
                    "idempotency_key": row[5],
                    "metadata": json.loads(metadata) if metadata else None,
                }

    def _raw_usage_csv(
        self, out: IO[bytes], customer_id: str, year: int | None, progress: Progress | None
    ) -> int:
        with self._ctx.db.read() as conn:
            if self._ctx.events is not None:
                out.write((",".join(store.RAW_USAGE_COLUMNS) + "\n").encode())
                return event_export.write_csv(
                    self._ctx.events, conn, customer_id, year, out, progress
                )
            if conn.dialect.name == "postgresql":
                count = -1  # the header line
                for chunk in store.copy_raw_usage_csv(conn, customer_id, year, header=True):
                    out.write(chunk)
                    count += chunk.count(b"\n")
                    if progress:
                        progress(max(count, 0))
                return max(count, 0)
            out.write((",".join(store.RAW_USAGE_COLUMNS) + "\n").encode())
            count = 0
            for lines in store.raw_usage_csv_lines(conn, customer_id, year):
                out.write(("\n".join(lines) + "\n").encode("utf-8"))
                count += len(lines)
                if progress:
                    progress(count)
            return count

    def _invoices(self, customer_id: str, year: int | None) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            return store.invoices_for(conn, customer_id, year)

    def _subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        with self._ctx.db.read() as conn:
            rows = list(
                conn.execute(
                    select(subscriptions)
                    .where(subscriptions.c.customer_id == customer_id)
                    .order_by(subscriptions.c.created_at)
                )
            )
        result = []
        for row in rows:
            record = {column: getattr(row, column) for column in SUBSCRIPTION_COLUMNS}
            record["is_current"] = to_subscription(row).is_live
            result.append(record)
        return result

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


def _write_csv(
    out: IO[bytes],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    progress: Progress | None = None,
) -> int:
    # a text wrapper with a large buffer: csv.writer calls write() once per row
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    text._CHUNK_SIZE = 1 << 20  # type: ignore[attr-defined]
    try:
        # "\n" like PostgreSQL's COPY, so both backends write the same bytes
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        count = 0
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 10_000:
                writer.writerows(batch)
                count += len(batch)
                batch.clear()
                if progress:
                    progress(count)
        writer.writerows(batch)
        count += len(batch)
        text.flush()
    finally:
        text.detach()
    if progress:
        progress(count)
    return count


def _csv_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8") + "\n"
    if pending:
        yield pending.decode("utf-8")
