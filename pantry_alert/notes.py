"""Notes on an alert's timeline, as the console reads and adds them (``actions.add_note`` writes)."""

from __future__ import annotations

from .actions import add_note

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_note", "list_notes"]


def list_notes(ws, alert_id: str) -> list[dict[str, Any]]:
    """The alert's notes, oldest first: ``[{"at", "by", "text"}]`` (empty for an unknown alert)."""
    with ws.store() as store:
        events = store.events(alert_id)
    return [
        {"at": e["at"], "by": (e.get("detail") or {}).get("by"), "text": (e.get("detail") or {}).get("text", "")}
        for e in events
        if e["kind"] == "note"
    ]
