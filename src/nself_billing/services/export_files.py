"""Writing an export's files: each is written next to its destination under a temporary name
and renamed into place when complete, so a failed export never leaves a half-written file, and
an existing file is never replaced unless ``force`` is given (the no-overwrite rename is
``os.link``, atomic). CSV is written with ``"\\n"`` line ends, as PostgreSQL's COPY writes."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import Conflict

#: called with the number of rows written so far (for a progress bar)
Progress = Callable[[int], None]


def check_targets(paths: Sequence[Path], *, force: bool) -> None:
    """``Conflict`` if a file exists and ``force`` is not given."""
    if not force:
        for path in paths:
            if path.exists():
                raise Conflict(f"Output file exists: {path} (use --force to overwrite)")


def write_file(path: Path, force: bool, body: Callable[[IO[bytes]], int]) -> int:
    """Write ``path`` with ``body`` (which returns the rows it wrote) atomically."""
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
                raise Conflict(f"Output file exists: {path} (use --force to overwrite)") from None
    finally:
        partial.unlink(missing_ok=True)
    return rows


def write_csv(
    out: IO[bytes],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    progress: Progress | None = None,
) -> int:
    """A header line and the rows; returns how many rows."""
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
