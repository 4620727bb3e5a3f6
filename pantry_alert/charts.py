"""Terminal charts of a metric's samples, drawn with Unicode block characters.

``sparkline`` is one line (``show``); ``chart`` is a small area chart with
its scale and time axis (``pantry-alert metrics``).  Both squeeze a long
series into the width by taking each column's mean.  Plain strings out: no
terminal library, nothing imported that a quiet run would pay for.
"""

from __future__ import annotations

from datetime import UTC, datetime

BLOCKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▁▂▃▄▅▆▇█"


def columns(values: list[float], width: int) -> list[float]:
    """``values`` squeezed into at most ``width`` columns, each the mean of its share."""
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        chunk = values[lo:hi] or values[lo : lo + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: list[float], width: int = 60) -> str:
    """One line of blocks, lowest ▁ to highest █ (all ▄ when the values do not change)."""
    points = columns(values, width)
    if not points:
        return ""
    lo, hi = min(points), max(points)
    if hi == lo:
        return BLOCKS[3] * len(points)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - lo) / (hi - lo) * top)] for v in points)


def number(value: float) -> str:
    """A sample as charts and tables show it: up to 6 significant digits."""
    return f"{value:.6g}"


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC, to the millisecond: ``2025-11-26T12:00:00.000Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chart(samples: list[tuple[int, float]], *, width: int = 60, height: int = 8) -> list[str]:
    """An area chart of ``[(at, value)]`` (at least one sample): the scale on the left, the span below."""
    values = [value for _, value in samples]
    points = columns(values, width)
    lo, hi = min(values), max(values)
    span = hi - lo
    labels = [number(hi), number(lo)]
    pad = max(len(label) for label in labels)
    eighths = [height * 8 if span == 0 else round((v - lo) / span * (height * 8 - 1)) + 1 for v in points]
    lines = []
    for row in range(height - 1, -1, -1):
        cells = "".join(_EIGHTHS[max(0, min(8, level - row * 8))] for level in eighths)
        label = labels[0] if row == height - 1 else labels[1] if row == 0 else ""
        lines.append(f"{label:>{pad}} ┤{cells}")
    start, end = iso(samples[0][0]), iso(samples[-1][0])
    axis = f"{'':>{pad}} └{'─' * len(points)}"
    lines.append(axis)
    gap = max(1, len(points) + 1 - len(start) - len(end))
    lines.append(f"{'':>{pad}}  {start}{' ' * gap}{end}")
    return lines
