"""The records of the metrics source and the state database settings (parsed by
``config.io_sections``; re-exported by ``config.model``)."""

from __future__ import annotations

from ..record import Record

# Defaults of their duration settings, in milliseconds.
DEFAULT_SOURCE_TIMEOUT_MS = 10_000
DEFAULT_RETENTION_MS = 7 * 86_400_000
DEFAULT_LOCK_TIMEOUT_MS = 30_000
DEFAULT_DELIVERY_BUDGET_MS = 60_000  # a run starts no new send after this long


class Source(Record):
    url: str | None
    file: str | None
    timeout_ms: int
    headers: dict[str, str]
    path: str | None
    alert_after: int
    prometheus: PrometheusSource | None
    _fields = ("url", "file", "timeout_ms", "headers", "path", "alert_after", "prometheus")
    _shown = _fields

    def __init__(
        self,
        url: str | None = None,
        file: str | None = None,
        timeout_ms: int = DEFAULT_SOURCE_TIMEOUT_MS,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        alert_after: int = 3,
        prometheus: PrometheusSource | None = None,
    ) -> None:
        self.url = url
        self.file = file
        self.timeout_ms = timeout_ms
        self.headers = {} if headers is None else headers
        self.path = path
        self.alert_after = alert_after
        self.prometheus = prometheus


class PrometheusSource(Record):
    """``source.prometheus``: instant queries whose results build the metrics document."""

    url: str
    queries: dict[str, str]  # dotted metric path -> PromQL
    headers: dict[str, str]
    timeout_ms: int
    _fields = ("url", "queries", "headers", "timeout_ms")
    _shown = _fields

    def __init__(
        self,
        url: str,
        queries: dict[str, str],
        headers: dict[str, str] | None = None,
        timeout_ms: int = DEFAULT_SOURCE_TIMEOUT_MS,
    ) -> None:
        self.url = url
        self.queries = queries
        self.headers = {} if headers is None else headers
        self.timeout_ms = timeout_ms


class StateSettings(Record):
    path: str | None
    retention_ms: int
    lock_timeout_ms: int
    delivery_budget_ms: int
    _fields = ("path", "retention_ms", "lock_timeout_ms", "delivery_budget_ms")
    _shown = _fields

    def __init__(
        self,
        path: str | None = None,
        retention_ms: int = DEFAULT_RETENTION_MS,
        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
        delivery_budget_ms: int = DEFAULT_DELIVERY_BUDGET_MS,
    ) -> None:
        self.path = path
        self.retention_ms = retention_ms
        self.lock_timeout_ms = lock_timeout_ms
        self.delivery_budget_ms = delivery_budget_ms
