"""What the fast paths (``check`` and ``ping`` on cron lines, parsed without typer) share."""

from __future__ import annotations

import os


def split_globals(argv: list[str], command: str) -> tuple[str | None, str | None, bool, int] | None:
    """For the fast paths that run without typer: the global options before ``command``
    (``[--config X] [--db X] [--debug]``, defaulting to ``PANTRY_ALERT_CONFIG`` and
    ``PANTRY_ALERT_DB``) as ``(config, db, debug, index of command)``; None when anything else
    comes first (typer then parses it)."""
    config, db, debug = os.environ.get("PANTRY_ALERT_CONFIG") or None, os.environ.get("PANTRY_ALERT_DB") or None, False
    i = 0
    while i < len(argv) and argv[i] != command:
        if argv[i] in ("--config", "--db") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            if argv[i] == "--config":
                config = argv[i + 1] or None
            else:
                db = argv[i + 1] or None
            i += 2
        elif argv[i] == "--debug":
            debug = True
            i += 1
        else:
            return None
    return (config, db, debug, i) if i < len(argv) else None
