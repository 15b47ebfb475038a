"""api_handler.py: a custom API with billing integration.

The Python counterpart of the spec's "Complete integration example" (api-handler.sh): quota
checks before work, usage tracking after it, on the function API.

    NSELF_CUSTOMER_ID=cus_... python examples/api_handler.py [file-to-store]
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from nself_billing import (
    billing_check_quota,
    billing_init,
    quota_enforce,
    usage_track_api_request,
    usage_track_function,
    usage_track_storage,
)

QUOTA_EXCEEDED = {"error": "API quota exceeded", "code": "QUOTA_EXCEEDED"}
GIB = 1024**3


def process_request(endpoint: str, method: str) -> bool:
    """The application's own work (here: a stand-in that always succeeds)."""
    return bool(endpoint and method)


def handle_api_request(endpoint: str, method: str = "GET") -> tuple[int, dict[str, str]]:
    """Answer one API request: 429 when the api quota is exhausted, else do it and track it."""
    if quota_enforce("api", 1) != 0:
        return 429, QUOTA_EXCEEDED
    status_code = 200 if process_request(endpoint, method) else 500
    usage_track_api_request(endpoint, method, status_code)
    return status_code, {"ok": "true"}


def store_file(file_path: Path, storage_dir: Path) -> bool:
    """Store a file for 24 hours if the storage quota has room for it."""
    size = file_path.stat().st_size
    gb_hours = size / GIB * 24
    if billing_check_quota("storage", gb_hours) != 0:
        print("Insufficient storage quota")
        return False
    storage_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(file_path, storage_dir)
    usage_track_storage(size, 24)
    return True


def execute_function(function_name: str) -> int:
    """Run a serverless function if the functions quota allows, and track its duration."""
    if quota_enforce("functions", 1) != 0:
        print("Function quota exceeded")
        return 1
    started = time.monotonic()
    exit_code = 0  # run_function(function_name) in a real deployment
    duration_ms = int((time.monotonic() - started) * 1000)
    usage_track_function(function_name, duration_ms, 256)
    return exit_code


def main(argv: list[str]) -> int:
    if billing_init("true") != 0:
        return 1
    status, body = handle_api_request("/api/users", "GET")
    print(f"HTTP {status} {json.dumps(body)}")
    if len(argv) > 1:
        store_file(Path(argv[1]), Path(argv[2]) if len(argv) > 2 else Path("storage"))
    execute_function("resize-image")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
