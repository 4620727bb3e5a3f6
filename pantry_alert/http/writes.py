"""Where the API's writes run: threads of their own, so that reads never wait for writes.

A write (acknowledge, resolve, silence, rule edit) may wait for the run lock
while ``check`` runs.  Run in Starlette's shared thread pool, enough waiting
writes would take every thread, and ``/healthz`` and every read would queue
behind them.  Writes run here instead, at most ``WRITE_THREADS`` at once (the
others wait in the event loop, holding no thread); reads keep the shared pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

WRITE_THREADS = 4
_limiter: Any = None


async def run_write(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a write thread."""
    import anyio.to_thread

    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(WRITE_THREADS)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=_limiter)
