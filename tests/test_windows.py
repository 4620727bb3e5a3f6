"""Window functions: hand-computed values, counter resets, not enough history, and a property
against a naive reference; the evaluator accepts nothing new beyond them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantry_alert.errors import ExpressionError, Unevaluable
from pantry_alert.expressions import compile_condition
from pantry_alert.windows import History, Series

MINUTE = 60_000
NOW = 1_764_158_400_000


def history(path: str, samples: list[tuple[int, float]], now: int = NOW) -> History:
    """Samples given as (minutes before now, value)."""
    ordered = sorted(samples, key=lambda s: -s[0])
    return History(now, {path: Series([now - m * MINUTE for m, _ in ordered], [v for _, v in ordered])})


def value(source: str, current: float, h: History | None, path: str = "x") -> float:
    holds, read, lhs = compile_condition(source).evaluate({path: current}, h)
    return lhs


STORED = [(20, 100.0), (14, 1.0), (10, 4.0), (5, 2.0), (1, 8.0)]  # the 20-minute-old one is outside 15m


@pytest.mark.parametrize(
    "call, expected",
    [
        ('avg_over(x, "15m")', (1 + 4 + 2 + 8 + 5) / 5),
        ('min_over(x, "15m")', 1),
        ('max_over(x, "15m")', 8),
        ('delta(x, "15m")', 5 - 1),
        ('max_over(x, "30m")', 100),
        ('avg_over(x, "6m")', (2 + 8 + 5) / 3),
        # increases 3, (drop 4 -> 2: a reset, +2), 6, (drop 8 -> 5: +5) over 14 minutes
        ('rate(x, "15m")', (3 + 2 + 6 + 5) / (14 * 60)),
    ],
)
def test_hand_computed_values(call, expected):
    h = history("x", STORED)
    assert value(f"{call} > 0", 5.0, h) == pytest.approx(expected)


def test_the_window_is_open_at_its_start_and_closed_at_now():
    h = history("x", [(15, 1000.0), (14, 1.0)])  # exactly now - 15m: outside (now - 15m, now]
    assert value('max_over(x, "15m") > 0', 3.0, h) == 3.0


def test_rate_of_a_counter_that_resets_counts_the_new_value_as_increase():
    # 10 -> 40 (+30), restart -> 5 (+5), -> 25 (+20): 55 over 3 minutes, as Prometheus' rate without extrapolation
    h = history("requests", [(3, 10.0), (2, 40.0), (1, 5.0)])
    assert value('rate(requests, "5m") > 0', 25.0, h, "requests") == pytest.approx(55 / 180)
    # delta knows nothing of resets: newest minus oldest
    assert value('delta(requests, "5m") > 0', 25.0, h, "requests") == 15


def test_pct_change_uses_the_sample_nearest_to_d_ago_within_half_of_d():
    h = history("x", [(95, 50.0), (62, 40.0), (58, 80.0), (20, 1.0)])
    # 60m ago: 62 and 58 minutes ago are both 2 minutes off; the older one wins the tie
    assert value('pct_change(x, "1h") > 0', 60.0, h) == pytest.approx(100 * (60 - 40) / 40)
    h = history("x", [(95, 50.0), (40, 80.0)])  # 95 is 35 min off, 40 is 20 min off (within 30)
    assert value('pct_change(x, "1h") > 0', 60.0, h) == pytest.approx(-25.0)


@pytest.mark.parametrize(
    "source, samples, reason",
    [
        ('avg_over(x, "15m") > 1', [], "1 sample in the last 15m"),
        ('rate(x, "5m") > 1', [(6, 1.0)], "1 sample in the last 5m"),
        ('pct_change(x, "1h") > 1', [(20, 3.0), (100, 3.0)], "no stored sample within 30m of 1h ago"),
        ('pct_change(x, "1h") > 1', [(60, 0.0)], "the sample of 1h ago is 0"),
    ],
)
def test_not_enough_history_makes_the_condition_unevaluable(source, samples, reason):
    with pytest.raises(Unevaluable) as info:
        compile_condition(source).evaluate({"x": 2}, history("x", samples))
    call = source.split(" >")[0]
    assert str(info.value).startswith(f"not enough history for {call}: {reason}")


def test_the_call_text_keys_the_value_read_and_the_path_is_read():
    condition = compile_condition('avg_over(errorRate,  "15m") > 0.05 and errorRate > 0')
    holds, read, _ = condition.evaluate({"errorRate": 0.2}, history("errorRate", [(5, 0.0)]))
    assert holds and read == {'avg_over(errorRate,  "15m")': 0.1, "errorRate": 0.2}
    assert condition.paths == ["errorRate"]
    assert [(w.func, w.path, w.ms, w.text) for w in condition.windows] == [
        ("avg_over", "errorRate", 900_000, 'avg_over(errorRate,  "15m")')
    ]


@pytest.mark.parametrize(
    "source, message",
    [
        ('avg_over(x + 1, "5m") > 1', "avg_over() takes a metric path and a quoted duration"),
        ("avg_over(x, 5) > 1", "takes a metric path and a quoted duration"),
        ('avg_over(x, "5m", "1h") > 1', "takes a metric path and a quoted duration"),
        ('avg_over(x, window="5m") > 1', "takes a metric path and a quoted duration"),
        ('avg_over(x, "soon") > 1', "'soon' is not a duration"),
        ('avg_over(x, "0s") > 1', "must be longer than 0"),
        ('avg_over(x.__class__, "5m") > 1', "begins with '_'"),
        ("avg_over > 1", "'avg_over' is a function"),
        ('"5m" > 1', "only numbers are allowed as constants"),
        ('x.avg_over(x, "5m") > 1', "only the functions abs, min and max may be called"),
        ('avg_over(x, "5m")(1) > 1', "only the functions abs, min and max may be called"),
        ("[x][0] > 1", "is not allowed in a condition"),
    ],
)
def test_window_calls_admit_only_a_path_and_a_quoted_duration(source, message):
    with pytest.raises(ExpressionError) as info:
        compile_condition(source)
    assert message in str(info.value)


series = st.lists(
    st.tuples(st.integers(min_value=1, max_value=120), st.floats(min_value=-1e6, max_value=1e6)),
    max_size=40,
    unique_by=lambda s: s[0],
)


@given(series, st.floats(min_value=-1e6, max_value=1e6), st.integers(min_value=1, max_value=90))
def test_avg_min_max_delta_equal_a_naive_reference(samples, current, minutes):
    h = history("x", samples)
    inside = [(m, v) for m, v in samples if m < minutes]  # (now - d, now]: strictly newer than d ago
    window = [v for m, v in sorted(inside, key=lambda s: -s[0])] + [current]
    calls = {
        "avg_over": sum(window) / len(window),
        "min_over": min(window),
        "max_over": max(window),
        "delta": window[-1] - window[0],
    }
    for func, expected in calls.items():
        source = f'{func}(x, "{minutes}m") > 0'
        if len(window) < 2:
            with pytest.raises(Unevaluable):
                compile_condition(source).evaluate({"x": current}, h)
        else:
            assert value(source, current, h) == pytest.approx(expected, rel=1e-9, abs=1e-6)
