"""What another part of pantry-alert may provide to the console: notes on alerts.

Each is looked up when a page needs it; a part that is not there (an older
database, a feature not built into this version) gives ``None`` and the page
shows an empty state instead.
"""

from __future__ import annotations

import importlib
from typing import Any


def _find(module: str, name: str):
    try:
        return getattr(importlib.import_module(module, __package__), name, None)
    except ImportError:
        return None


def notes(ws, alert_id: str) -> list[dict[str, Any]] | None:
    """An alert's notes ``[{"at", "by", "text"}]``, or None when this version has no notes."""
    listing = _find("pantry_alert.notes", "list_notes")
    return None if listing is None else list(listing(ws, alert_id))


def note_adder():
    """``add_note(ws, alert_id, text, by=...)``, or None when this version has no notes."""
    return _find("pantry_alert.notes", "add_note") or _find("pantry_alert.actions", "add_note")
