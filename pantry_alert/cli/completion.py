"""Shell completion of the values some arguments take: channel names and rule ids.

They run inside a completion request (``_PANTRY_ALERT_COMPLETE``), where no command
runs and the global options' callback does not either, so the config is read here
without the loader's checks: the file (``--config``, ``PANTRY_ALERT_CONFIG`` or
``./rules.yaml``), within its size and shape limits, and only its rules' ids.  A
config that cannot be read completes nothing; it never prints an error into the shell.
"""

from __future__ import annotations

import os

import click  # loaded with typer already: only the typer commands import this module


def channel_names(incomplete: str) -> list[str]:
    """Every channel pantry-alert knows, in the registry's order."""
    from ..notify.registry import CHANNEL_NAMES

    return [name for name in CHANNEL_NAMES if name.startswith(incomplete)]


def rule_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """The ids of the rules in the config the command line names, in file order."""
    from pathlib import Path

    from ..config_file import read_document
    from ..errors import PantryAlertError
    from ..paths import DEFAULT_CONFIG

    path = ctx.find_root().params.get("config") or os.environ.get("PANTRY_ALERT_CONFIG") or DEFAULT_CONFIG
    try:
        data, _text = read_document(Path(path))
    except (PantryAlertError, OSError, ValueError):
        return []
    rules = data.get("rules") if isinstance(data, dict) else None
    ids = [rule.get("id") for rule in rules if isinstance(rule, dict)] if isinstance(rules, list) else []
    return [rule_id for rule_id in ids if isinstance(rule_id, str) and rule_id.startswith(incomplete)]
