"""What every command shares: global options, config/db/now on demand, output helpers."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..record import Record
from ..text import printable
from ..workspace import Workspace

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config
    from ..store import Store


class Globals(Record):
    """The global options, and the library ``Workspace`` they describe."""

    config_path: str | None
    db: str | None
    debug: bool
    workspace: Workspace
    _fields = ("config_path", "db", "debug", "workspace")
    _shown = ("config_path", "db", "debug")

    def __init__(self, config_path: str | None = None, db: str | None = None, debug: bool = False) -> None:
        self.config_path = config_path
        self.db = db
        self.debug = debug
        self.__post_init__()

    def __post_init__(self) -> None:
        self.workspace = Workspace(config_path=self.config_path, db=self.db)

    def config(self, *, check_templates: bool = False) -> Config:
        return self.workspace.config(check_templates=check_templates)

    def db_path(self) -> Path:
        return self.workspace.db_path()

    def now(self) -> int:
        return self.workspace.now()

    def store(self, *, create: bool = False) -> Store:
        return self.workspace.store(create=create)


def get_globals(ctx) -> Globals:
    while ctx is not None and not isinstance(ctx.obj, Globals):
        ctx = ctx.parent
    return ctx.obj if ctx is not None else Globals()


def json_text(data: Any) -> str:
    import json  # here: a command that prints no JSON (``--help`` included) need not load it

    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data))


class SafeOut:
    """stdout for ``check``: a write that fails (stdout closed, a broken pipe) is remembered, not
    raised, so the run goes on to deliver its notifications; ``report()`` says so on stderr."""

    def __init__(self) -> None:
        self.failed: str | None = None

    def write(self, text: str) -> None:
        if self.failed is not None:
            return
        try:
            if sys.stdout is None:
                raise OSError("standard output is closed")
            sys.stdout.write(text)
        except (OSError, ValueError) as exc:
            self.failed = str(exc) or type(exc).__name__

    def flush(self) -> None:
        if self.failed is None:
            try:
                if sys.stdout is not None:
                    sys.stdout.flush()
            except (OSError, ValueError) as exc:
                self.failed = str(exc) or type(exc).__name__

    def report(self) -> None:
        self.flush()
        if self.failed is not None:
            warn(f"could not write to standard output ({self.failed}); the run itself completed")


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def choice(value: str | None, allowed, option: str) -> str | None:
    if value is not None and value not in allowed:
        raise UsageError(f"{option}: {value!r} must be one of {', '.join(allowed)}")
    return value


def timed_table(title: str, timezone: str | None):
    """An empty rich table whose title names the zone its times are shown in."""
    from rich import box
    from rich.table import Table

    from ..timeutil import format_time

    zone = timezone or format_time(0).split(" ")[2]
    return Table(
        title=f"{title} · times in {zone}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def alerts_table(alerts, timezone: str | None, title: str, windows=(), now: int | None = None):
    """A rich table of alerts that stays readable at 80 columns (the zone is named in the title)."""
    from ..timeutil import format_time
    from ..views import hold_marks

    table = timed_table(title, timezone)
    # The id never wraps (it is copied into ack, show and resolve): the column is at least as
    # wide as the longest id; a long title folds instead.
    widest = max((len(printable(alert.id)) for alert in alerts), default=0)
    table.add_column("Alert", overflow="fold", min_width=max(32, widest))
    table.add_column("Severity", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Count", justify="right", no_wrap=True)
    table.add_column("Fired", no_wrap=True)  # the time zone is named in the title
    for alert in alerts:
        severity = alert.severity + (" ↑" if alert.escalated else "")
        day, clock = format_time(alert.timestamp, timezone).split(" ")[:2]
        marks = hold_marks(alert, windows, now)
        table.add_row(
            f"[bold]{escape(printable(alert.title))}[/]\n{escape(printable(alert.id))}",
            severity,
            alert.status + "".join(f"\n{m}" for m in marks),
            str(alert.count),
            f"{day}\n{clock}",
        )
    return table


def escape(text: str) -> str:
    """Text for rich markup: markup escaped, control characters shown as escapes."""
    from rich.markup import escape as rich_escape

    from ..text import printable

    return rich_escape(printable(text))
