"""``doctor`` and the database's state: a fresh project, a corrupted file, a read-only file."""

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nself_billing.store.db import READ_ONLY
from nself_billing.store.migrate import SCHEMA_REVISION

B = ("tenant", "billing")
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


def _database(root: Path) -> Path:
    return root / ".nself" / "billing" / "billing.db"


@sqlite_only
def test_doctor_on_a_fresh_project_passes_without_migrate(cli, root):
    result = cli(*B, "doctor")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert (
        "✓ database connection: connected, empty: its schema "
        f"({SCHEMA_REVISION}) is created on first use (or now: nself tenant billing migrate)"
    ) in lines
    assert lines[-1] == "All checks passed"


def test_doctor_checks_the_schema_and_the_file(cli, billing):
    lines = cli(*B, "doctor").stdout.splitlines()
    assert f"✓ database connection: connected, schema {SCHEMA_REVISION}" in lines
    integrity = [line for line in lines if "database integrity" in line]
    if billing.context.db.is_sqlite:
        assert integrity == ["✓ database integrity: PRAGMA quick_check: ok"]
    else:
        assert integrity == ["- database integrity: checked by the PostgreSQL server"]


@sqlite_only
def test_doctor_fails_on_a_corrupted_file(cli, billing, root):
    path = _database(root)
    billing.close()
    with sqlite3.connect(path) as conn:
        [(root_page,)] = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'idx_usage_customer_service'"
        ).fetchall()
        [(page_size,)] = conn.execute("PRAGMA page_size").fetchall()
    with path.open("r+b") as file:  # the index's page header: cell count and offsets garbled
        file.seek((root_page - 1) * page_size + 3)
        file.write(b"\xff" * 64)
    result = cli(*B, "doctor")
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "integrity" in line]
    assert line.startswith("✗ database integrity: PRAGMA quick_check: ")
    assert result.stdout.splitlines()[-1] == "1 check(s) failed"


@contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Files and folders this process cannot write: by their mode, or for root (whom modes do
    not stop) by the immutable flag."""
    if os.geteuid() != 0:
        modes = [(p, p.stat().st_mode) for p in paths]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes:
                p.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"root cannot make files unwritable here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


@sqlite_only
def test_a_read_only_database_is_read_and_refuses_writes_in_one_line(cli, root):
    created = cli(
        *B, "customer", "create", "--id=cus_ro", "--email=a@b.test", "--name=A", "--plan=pro"
    )
    assert created.exit_code == 0, created.stderr
    assert cli(*B, "usage", "record", "api", "1200").exit_code == 0
    # each command closes its connections: the last one checkpoints and removes -wal and -shm
    path = _database(root)
    assert not path.with_name("billing.db-wal").exists()
    with unwritable(path, path.parent):
        for command in (
            ("usage",),
            ("quota", "--usage"),
            ("customer", "show"),
            ("customer", "list"),
            ("subscription", "show"),
            ("invoice", "list"),
            ("plan", "list"),
        ):
            result = cli(*B, *command)
            assert (result.exit_code, result.stderr) == (0, ""), command
        assert "1.2K" in cli(*B, "usage").stdout
        recorded = cli(*B, "usage", "record", "api", "1")
        assert (recorded.exit_code, recorded.stderr) == (1, f"Error: {READ_ONLY}\n")
        doctor = cli(*B, "doctor").stdout.splitlines()
        assert f"✓ database: SQLite at {path} (read-only here: read commands only)" in doctor
    assert cli(*B, "usage", "record", "api", "1").exit_code == 0


@sqlite_only
def test_serve_on_a_port_in_use_is_one_error_line(cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(*B, "serve", "--port", str(port))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another process uses it: stop it, or choose --port)\n"
    )
