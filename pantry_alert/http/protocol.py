"""The HTTP/1.1 protocol ``serve`` runs: uvicorn's httptools protocol (its h11 one where httptools
is not installed) with a header-read timeout.

uvicorn bounds an idle keep-alive connection but not a request whose headers
never finish: a client that sends half a request line and waits would hold
its connection (and a file descriptor) for ever, and about a thousand of them
exhaust the unit's descriptors.  Here every wait for a request's headers (on
a new connection, and between requests on a kept-alive one) ends after
``HEADER_TIMEOUT_S`` seconds however the bytes trickle in: the connection is
closed.  A request whose headers are in is not affected, however long its
answer takes.

The guard is the same on both protocols (``HeaderGuard``); httptools parses
in C and serves the hot read routes about twice as fast as h11
(docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0


class HeaderGuard:
    """The header-read timeout, for either of uvicorn's HTTP/1.1 protocols (both keep the current
    request in ``cycle``, ``None`` before the first one)."""

    header_timeout_s = HEADER_TIMEOUT_S
    _header_timer: Any = None

    cycle: Any
    loop: Any
    transport: Any

    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._waiting_for_headers():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:  # one deadline per wait: trickled bytes do not extend it
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()


class GuardedH11Protocol(HeaderGuard, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol with the header-read timeout."""


def guarded_protocol() -> type:
    """The protocol ``serve`` runs: httptools' with the header-read timeout when httptools is
    installed (a dependency), else h11's."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return GuardedH11Protocol

    class GuardedHttpToolsProtocol(HeaderGuard, HttpToolsProtocol):
        """uvicorn's httptools HTTP/1.1 protocol with the header-read timeout."""

    return GuardedHttpToolsProtocol
