"""The embedded database, the billing log and the data directory are private to their owner:
usage, customers and key hashes are in the database, tenants' activity in the log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nself_billing import Billing


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_created_0600_and_the_data_directory_0700(root, clock):
    previous = os.umask(0o022)  # a usual umask, which would leave them world-readable
    try:
        with Billing.from_env({"NSELF_ROOT": str(root)}, clock=clock) as billing:
            billing.customers.create(email="a@example.com", name="A", customer_id="cus_a")
            billing.subscriptions.start("cus_a", "pro")
            billing.usage.record("api", 1, customer_id="cus_a")
            billing.context.log.info("written")
            data = root / ".nself" / "billing"
            assert _mode(data) == 0o700
            assert _mode(data / "billing.db") == 0o600
            assert _mode(data / "billing.log") == 0o600
            assert (data / "billing.log").read_text().strip()
            wal = data / "billing.db-wal"
            if wal.exists():  # SQLite gives its journal the database's mode
                assert _mode(wal) == 0o600
    finally:
        os.umask(previous)


def test_an_existing_data_directory_keeps_its_mode(root, clock):
    data = root / "data"
    data.mkdir(mode=0o750)
    os.chmod(data, 0o750)
    with Billing.from_env({"NSELF_ROOT": str(root), "BILLING_DATA_DIR": str(data)}, clock=clock):
        pass
    assert _mode(data) == 0o750
    assert _mode(data / "billing.db") == 0o600
