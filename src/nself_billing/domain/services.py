"""The six metered services, their units, and the tracker conversions of the spec."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

BYTES_PER_GB = Decimal(2**30)
SECONDS_PER_HOUR = Decimal(3600)


class Service(StrEnum):
    API = "api"
    STORAGE = "storage"
    BANDWIDTH = "bandwidth"
    COMPUTE = "compute"
    DATABASE = "database"
    FUNCTIONS = "functions"


@dataclass(frozen=True)
class ServiceInfo:
    service: Service
    unit: str
    #: how a quantity is humanized: "count" (45.2K), "gb" (2.5GB) or "plain" (5.2)
    style: str


SERVICES: dict[str, ServiceInfo] = {
    "api": ServiceInfo(Service.API, "requests", "count"),
    "storage": ServiceInfo(Service.STORAGE, "GB-hours", "gb"),
    "bandwidth": ServiceInfo(Service.BANDWIDTH, "GB", "gb"),
    "compute": ServiceInfo(Service.COMPUTE, "CPU-hours", "plain"),
    "database": ServiceInfo(Service.DATABASE, "queries", "count"),
    "functions": ServiceInfo(Service.FUNCTIONS, "invocations", "count"),
}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)


def is_service(name: str) -> bool:
    return name in SERVICES


def unit_of(service: str) -> str:
    return SERVICES[service].unit


def storage_gb_hours(num_bytes: int | Decimal, duration_hours: int | Decimal) -> Decimal:
    """Bytes stored for some hours, as GB-hours (GB = 2^30 bytes, as the spec's examples)."""
    return Decimal(num_bytes) * Decimal(duration_hours) / BYTES_PER_GB


def bandwidth_gb(num_bytes: int | Decimal) -> Decimal:
    return Decimal(num_bytes) / BYTES_PER_GB


def compute_cpu_hours(cpu_seconds: int | Decimal) -> Decimal:
    return Decimal(cpu_seconds) / SECONDS_PER_HOUR
