"""The console's server-side SVG chart geometry (pure functions)."""

from __future__ import annotations

from pantry_alert.http.console import charts


def fmt(ms: int) -> str:
    return f"t{ms}"


def test_a_line_needs_two_finite_samples():
    assert charts.line_chart([], [], label="x", format_time=fmt) is None
    assert charts.line_chart([1], [1.0], label="x", format_time=fmt) is None
    assert charts.line_chart([1, 2, 3], [float("nan"), float("inf"), 2.0], label="x", format_time=fmt) is None


def test_a_line_spans_the_plot():
    chart = charts.line_chart([0, 50, 100], [0, 10, 5], label="errorRate", format_time=fmt)
    assert chart is not None
    left, top = charts.LEFT, charts.TOP
    right, bottom = charts.WIDTH - charts.RIGHT, charts.HEIGHT - charts.BOTTOM
    assert (
        chart["points"]
        == f"{left:.1f},{bottom:.1f} {(left + right) / 2:.1f},{top:.1f} {right:.1f},{(top + bottom) / 2:.1f}"
    )
    assert [t["text"] for t in chart["ticks_y"]] == ["10", "5", "0"]
    assert [t["text"] for t in chart["ticks_x"]] == ["t0", "t100"]
    assert chart["last"] == "5" and chart["count"] == 3 and chart["label"] == "errorRate"


def test_a_flat_line_and_many_samples():
    flat = charts.line_chart([0, 1], [3, 3], label="x", format_time=fmt)
    assert flat is not None and [t["text"] for t in flat["ticks_y"]] == ["4", "3", "2"]
    many = charts.line_chart(list(range(10_000)), [i % 7 for i in range(10_000)], label="x", format_time=fmt)
    assert many is not None and many["count"] == charts.MAX_POINTS + 1
    assert many["points"].split()[-1].startswith(f"{charts.WIDTH - charts.RIGHT:.1f},")


def test_bars_scale_to_the_busiest_day():
    chart = charts.bar_chart([(1, "Nov 01", 0), (2, "Nov 02", 4), (3, "Nov 03", 2)], label="per day")
    heights = [b["h"] for b in chart["bars"]]
    plot_h = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert heights == [0.0, float(plot_h), plot_h / 2]
    assert chart["total"] == 6 and chart["ticks_y"][0]["text"] == "4"
    empty = charts.bar_chart([(1, "Nov 01", 0)], label="per day")
    assert empty["bars"][0]["h"] == 0 and empty["total"] == 0
