"""Rule label names as Alertmanager (and Prometheus) accept them: ``[A-Za-z_][A-Za-z0-9_]*``.

The Alertmanager channel cleans names up (``on-call`` becomes ``on_call``);
the config loader refuses label sets that the clean-up would merge, and
reserved names, so that no label is silently lost on the way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def label_name(name: str) -> str:
    """A rule label's name as Alertmanager accepts it (``[A-Za-z_][A-Za-z0-9_]*``)."""
    if _LABEL_NAME.match(name):
        return name
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return fixed if fixed and not fixed[0].isdigit() else "_" + fixed


def label_problems(labels: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Why a rule's labels cannot all reach Alertmanager unchanged, as ``(label, problem)``:
    a reserved name (``__``-prefixed), an empty name, or two names that become the same
    Alertmanager label (``on-call`` and ``on_call``).  The config loader refuses them."""
    found: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for name in labels:
        if name == "":
            found.append((name, "a label name may not be empty"))
            continue
        if name.startswith("__"):
            found.append((name, "label names beginning with '__' are reserved (Prometheus and Alertmanager)"))
            continue
        fixed = label_name(name)
        if fixed in seen:
            found.append(
                (name, f"becomes the Alertmanager label '{fixed}', as '{seen[fixed]}' does: rename one of them")
            )
            continue
        seen[fixed] = name
    return found
