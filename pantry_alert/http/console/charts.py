"""The geometry of the console's inline SVG charts, computed on the server.

A chart is a dictionary of numbers and labels that a template draws with
``<svg>`` elements and presentation attributes (no inline style, which the
Content-Security-Policy forbids); every label is escaped by the template.
"""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
MAX_POINTS = 2000  # samples drawn per line: more are thinned evenly


def _number(value: float) -> str:
    return f"{value:.4g}"


def line_chart(ats: list[int], values: list[float], *, label: str, format_time) -> dict[str, Any] | None:
    """A polyline of the samples ``values`` taken at ``ats`` (at least 2 finite ones, else None)."""
    import math

    points = [
        (at, float(v)) for at, v in zip(ats, values, strict=True) if isinstance(v, int | float) and math.isfinite(v)
    ]
    if len(points) < 2:
        return None
    if len(points) > MAX_POINTS:
        step = len(points) / MAX_POINTS
        points = [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]
    t0, t1 = points[0][0], points[-1][0]
    low, high = min(v for _, v in points), max(v for _, v in points)
    if high == low:
        high, low = high + 1, low - 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at):
        return LEFT + (at - t0) / max(t1 - t0, 1) * plot_w

    def y(value):
        return TOP + (high - value) / (high - low) * plot_h

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "label": label,
        "points": " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in points),
        "plot": {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h},
        "ticks_y": [{"y": round(y(v), 1), "text": _number(v)} for v in (high, (high + low) / 2, low)],
        "ticks_x": [{"x": round(x(at), 1), "text": format_time(at)} for at in (t0, t1)],
        "last": _number(points[-1][1]),
        "count": len(points),
    }


def bar_chart(days: list[tuple[int, str, int]], *, label: str) -> dict[str, Any]:
    """Bars of ``[(day start ms, day label, count)]``, in order."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((count for _, _, count in days), default=0) or 1
    slot = plot_w / max(len(days), 1)
    bars = []
    for i, (_, text, count) in enumerate(days):
        h = count / top * plot_h
        bars.append(
            {
                "x": round(LEFT + i * slot + slot * 0.1, 1),
                "y": round(TOP + plot_h - h, 1),
                "w": round(slot * 0.8, 1),
                "h": round(h, 1),
                "label": text,
                "count": count,
                "label_x": round(LEFT + i * slot + slot / 2, 1),
            }
        )
    every = max(1, len(days) // 7)  # at most about seven day labels under the bars
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "label": label,
        "bars": bars,
        "labelled": set(range(0, len(days), every)),
        "plot": {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h},
        "ticks_y": [{"y": TOP, "text": str(top)}, {"y": TOP + plot_h, "text": "0"}],
        "total": sum(count for _, _, count in days),
    }
