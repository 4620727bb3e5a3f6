"""The budget of one template render, in any thread: its limits, the clock, and the counters
of what the template builds (``tick``, ``account``, ``measure``, ``checked_str``); ``started``
gives a render its own budget.  ``bounds`` checks operations against these limits before they
run; ``sandbox`` calls both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# --------------------------------------------------------------------------
# The budget (jinja2 is imported only in functions, when a template breaks it).
#
# A template may not hold a run (which holds the database lock) or exhaust
# memory, in whichever thread it renders.  The budget of one render:
#   - RENDER_SECONDS of wall-clock time, checked cooperatively: at the start of
#     every template block (so every loop iteration), every call, filter, test,
#     operator, attribute lookup and output piece;
#   - no single string longer than MAX_STRING characters, and at most
#     MAX_ALLOCATED characters produced in all by concatenation, operators,
#     filters and string methods; no list of more than MAX_ITEMS items from a
#     filter;
#   - the one-step operations that could allocate a lot before any check runs
#     (``center``, ``format`` widths, ``replace``, ``indent``, ``join``,
#     ``**``, ``*``...) are checked against these bounds before they run.
# A template over budget fails to render: a rule falls back to the default
# description with a warning.

MAX_RENDERED = 4000  # a longer description is cut (with "…")
MAX_POWER = 1000  # `x ** y` with a larger exponent is refused
MAX_REPEAT = 10_000  # `'x' * n` / `[..] * n` with a larger result is refused
MAX_INT_BITS = 65_536  # an integer result of * or ** may not be larger (about 20,000 digits)
MAX_STRING = 1_000_000  # characters in any one string the template builds
MAX_ALLOCATED = 8_000_000  # characters built in all during one render
MAX_ITEMS = 100_000  # items in a list a filter builds
MAX_WIDTH = 1000  # a field width or precision in format strings
RENDER_SECONDS = 1.0  # wall-clock budget of one render (a run holds the database lock meanwhile)
RENDER_SECONDS_ENV = "PANTRY_ALERT_RENDER_SECONDS"  # overrides it (the tests shorten it)
_local = threading.local()  # the budget of the render running in this thread


class RenderTimeout(Exception):
    pass


class Budget:
    __slots__ = ("seconds", "deadline", "allocated")

    def __init__(self) -> None:
        import time

        from ..timeutil import budget_seconds

        self.seconds = budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV)
        self.deadline = time.monotonic() + self.seconds
        self.allocated = 0


def current() -> Budget | None:
    return getattr(_local, "budget", None)


def tick() -> None:
    budget = current()
    if budget is not None:
        import time

        if time.monotonic() > budget.deadline:
            raise RenderTimeout(f"rendering took longer than {budget.seconds:g}s")


def too_big(what: str):
    from jinja2.exceptions import SecurityError

    return SecurityError(what)


def account(size: int, what: str = "a string") -> None:
    """Count ``size`` characters built by the template against the budget."""
    if size > MAX_STRING:
        raise too_big(f"{what} of more than {MAX_STRING} characters")
    budget = current()
    if budget is not None:
        budget.allocated += size
        if budget.allocated > MAX_ALLOCATED:
            raise too_big(f"the template built more than {MAX_ALLOCATED} characters")


def measure(obj: Any, limit: int = MAX_STRING) -> int:
    """About how many characters ``str(obj)`` has; stops counting past ``limit``."""
    total, stack = 0, [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 64
        if total > limit:
            return limit + 1
    return total


def checked_str(value: Any, what: str = "a value shown as text") -> Any:
    if not isinstance(value, str) and measure(value) > MAX_STRING:
        raise too_big(f"{what} of more than {MAX_STRING} characters")
    return value


@contextmanager
def started() -> Iterator[Budget]:
    """A fresh budget for the render that runs inside (the one outside is restored after)."""
    previous = current()
    _local.budget = Budget()
    try:
        yield _local.budget
    finally:
        _local.budget = previous
