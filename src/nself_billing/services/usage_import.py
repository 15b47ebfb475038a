"""Importing usage from a file: JSON lines, or CSV with a header.

Fields: ``service``, ``quantity`` and optional ``id`` (idempotency key), ``timestamp`` (ISO 8601,
UTC if no zone), ``metadata`` (a JSON object), ``customer_id`` (default: the current customer).
Lines go through ``record_many`` in batches (one transaction each). A bad line (not JSON, an
unknown service, a quantity such as ``1e30`` or ``NaN``, NUL in its metadata, an unknown
customer...) is rejected with its number and reason and never stops the others; a line already
imported counts as a duplicate, so running an import again is safe.

A line without an id gets one that depends only on the file and the line:
``import:<the first 32 hex digits of the SHA-256 of the whole file>:<line number>``. Re-running
the import of the same file (after a kill, a crash, or by mistake) therefore finds every line
it already wrote and counts it as a duplicate. A file that changed in any byte is a new file:
its id-less lines get new ids, so give lines ids of their own to import a file that grows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidInput
from .usage import BatchResult, PreparedBatch, UsageService

FIELDS = ("service", "quantity", "id", "timestamp", "metadata", "customer_id")


@dataclass(frozen=True)
class LineRejection:
    line: int
    reason: str


@dataclass
class ImportResult:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[LineRejection] = field(default_factory=list)


@dataclass
class Source:
    name: str
    kind: str
    stream: IO[str]
    binary: IO[bytes] | None = None
    size: int | None = None
    #: SHA-256 of the whole content (hex): the ids of lines without one derive from it
    digest: str = ""

    def position(self) -> int:
        try:
            return self.binary.tell() if self.binary is not None else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self.binary is not None:
            self.stream.close()


def open_source(path: str, input_format: str = "auto") -> Source:
    if path == "-":
        text = sys.stdin.read()
        kind = input_format if input_format != "auto" else _sniff(text.lstrip()[:1])
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
        return Source("stdin", kind, io.StringIO(text), digest=digest)
    file = Path(path)
    try:
        binary: IO[bytes] = file.open("rb")
        size = file.stat().st_size
        digest = _digest(binary)
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror}") from None
    kind = input_format
    if kind == "auto":
        suffix = file.suffix.lower()
        if suffix == ".csv":
            kind = "csv"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            kind = "jsonl"
        else:
            peek = getattr(binary, "peek", None)
            kind = _sniff(peek(64).lstrip()[:1].decode("latin-1") if peek else "")
    stream = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    return Source(path, kind, stream, binary, size, digest)


def _digest(binary: IO[bytes]) -> str:
    """SHA-256 of the whole file (one sequential read), the file left at its start."""
    sha = hashlib.sha256()
    while chunk := binary.read(1 << 20):
        sha.update(chunk)
    binary.seek(0)
    return sha.hexdigest()


def line_id(digest: str, line: int) -> str:
    """The id of a line that has none: the file's content and the line's number."""
    return f"import:{digest[:32]}:{line}"


def _sniff(first: str) -> str:
    return "jsonl" if first == "{" else "csv"


Parsed = tuple[int, dict[str, Any] | str]


#: one decoder for every line (json.loads with parse_float= builds a new one per call);
#: fractional numbers stay exact
_DECODER = json.JSONDecoder(parse_float=Decimal)
_decode = _DECODER.decode
#: the decoder's scanner: a line that starts with its value and ends with whitespace needs no
#: more than one call (decode() adds two regular-expression matches per line)
_scan = _DECODER.scan_once  # type: ignore[attr-defined]


def _json_lines(stream: IO[str]) -> Iterator[Parsed]:
    decode, scan = _decode, _scan
    for number, line in enumerate(stream, 1):
        if not line or line.isspace():
            continue
        try:
            value, end = scan(line, 0)
            if end != len(line) and not line[end:].isspace():
                value = decode(line)  # raises with the position of the extra data
        except (StopIteration, json.JSONDecodeError):
            try:
                value = decode(line)
            except json.JSONDecodeError as error:
                yield number, f"Invalid JSON: {error.msg} at column {error.colno}"
                continue
        if not isinstance(value, dict):
            yield number, "Invalid line: expected a JSON object"
            continue
        yield number, value


def _csv_rows(stream: IO[str]) -> Iterator[Parsed]:
    reader = csv.reader(stream)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise InvalidInput(f"Invalid CSV header: {error}") from None
    missing = [name for name in ("service", "quantity") if name not in header]
    unknown = [name for name in header if name not in FIELDS]
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise InvalidInput(
            f"Invalid CSV header ({'; '.join(problems)}); expected columns "
            f"among {', '.join(FIELDS)}"
        )
    width = len(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, f"Invalid CSV: {error}"
            continue
        if not row or row == [""]:
            continue
        if len(row) != width:
            yield reader.line_num, f"Invalid CSV: {len(row)} fields, the header has {width}"
            continue
        yield reader.line_num, dict(zip(header, row, strict=True))


def import_events(
    usage: UsageService,
    source: Source,
    *,
    batch_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    result = ImportResult()
    rows = _json_lines(source.stream) if source.kind == "jsonl" else _csv_rows(source.stream)
    batch: list[dict[str, Any]] = []
    lines: list[int] = []
    # a pipeline of two: while one batch is written (the driver releases the GIL), the next is
    # parsed and validated; batches are still written one at a time, in order
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nself-import")
    pending: Future[tuple[BatchResult, list[int]]] | None = None

    def collect() -> None:
        nonlocal pending
        if pending is None:
            return
        outcome, numbers = pending.result()
        pending = None
        result.accepted += outcome.accepted
        result.duplicates += outcome.duplicates
        result.rejected.extend(LineRejection(numbers[r.index], r.reason) for r in outcome.rejected)
        if progress is not None:
            progress(source.position())

    def write(prepared: PreparedBatch, numbers: list[int]) -> tuple[BatchResult, list[int]]:
        return usage.write_batch(prepared), numbers

    def flush() -> None:
        nonlocal pending
        prepared = usage.prepare_batch(batch, skip_invalid=True)
        collect()
        pending = writer.submit(write, prepared, list(lines))
        batch.clear()
        lines.clear()

    digest = source.digest
    try:
        for number, parsed in rows:
            result.lines += 1
            if isinstance(parsed, str):
                result.rejected.append(LineRejection(number, parsed))
                continue
            if digest and not (parsed.get("id") or parsed.get("idempotency_key")):
                parsed["id"] = line_id(digest, number)
            batch.append(parsed)
            lines.append(number)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        collect()
    finally:
        writer.shutdown(wait=True)
    result.rejected.sort(key=lambda r: r.line)
    return result
