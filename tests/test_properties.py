"""Property-based tests (hypothesis), in-process through ``cli.main``: whatever the metrics document
or the ``when`` expression, no exception escapes as an internal error (exit 70); the exit codes stay in
{0, 1, 3} for metrics and {0, 2} for config validation."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantry_alert.cli import main

CONFIG = """
source:
  file: metrics.json  # the variables its templates read (y) are known to rules validate
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    channels: [console]
    description: "CPU {{ cpu }} {{ y }} {{ '%.2f' | format(cpu) }}"
  - id: heap
    name: Heap
    type: performance
    severity: medium
    when: memoryUsage.current.heapUsed / memoryUsage.current.heapTotal > 0.85
    channels: [console]
    description: "{{ (memoryUsage.current.heapUsed / memoryUsage.current.heapTotal * 100) | round(1) }}% {{ y }}"
"""

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),  # includes control characters and lone surrogates
)
keys = st.one_of(
    st.sampled_from(["cpu", "y", "memoryUsage", "current", "heapUsed", "heapTotal", "_x"]), st.text(max_size=5)
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)


@pytest.fixture
def world(monkeypatch):
    tmp = Path(tempfile.mkdtemp(prefix="pantry-props-"))
    config = tmp / "rules.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("PANTRY_ALERT_NOW", str(T0))
    monkeypatch.delenv("PANTRY_ALERT_CONFIG", raising=False)
    monkeypatch.delenv("PANTRY_ALERT_DB", raising=False)
    return tmp


def run(world: Path, *args: str) -> int:
    return main(["--config", str(world / "rules.yaml"), "--db", str(world / "state.db"), *args])


@pytest.mark.slow
@FAST
@given(doc=documents)
def test_any_json_document_gives_exit_0_1_or_3(world, capsys, doc):
    path = world / "metrics.json"
    path.write_text(json.dumps(doc))  # ensure_ascii: lone surrogates become \\udxxx escapes
    assert run(world, "check", "--metrics-file", str(path)) in (0, 1, 3)
    assert run(world, "rules", "test", "--metrics-file", str(path)) in (0, 1, 3)
    capsys.readouterr()


@FAST
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_metrics_give_exit_0_1_or_3(world, capsys, raw):
    path = world / "metrics.json"
    path.write_bytes(raw)
    assert run(world, "check", "--metrics-file", str(path)) in (0, 1, 3)
    capsys.readouterr()


TOKENS = [
    "cpu",
    "a.b",
    "x._y",
    "1",
    "0",
    "2.5",
    "9" * 60,
    "1e308",
    "-",
    "+",
    "*",
    "/",
    "%",
    "**",
    "(",
    ")",
    ">",
    "<",
    ">=",
    "==",
    "!=",
    " and ",
    " or ",
    "not ",
    "abs(",
    "min(",
    "max(",
    ",",
    " ",
    "'s'",
    "lambda: 1",
    "[1]",
    "__import__",
    "cpu.__class__",
    "f(x)",
    "if",
    "\\",
    "\n",
    ":",
]
expressions = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.text(max_size=40),
    st.integers(min_value=1, max_value=1500).map(lambda n: "-" * n + "cpu > 1"),
)


@FAST
@given(when=expressions)
def test_any_when_expression_validates_to_0_or_2(world, capsys, when):
    text = CONFIG.replace("when: cpu > 90", "when: " + json.dumps(when))
    (world / "rules.yaml").write_text(text)
    path = world / "metrics.json"
    path.write_text(json.dumps({"cpu": 95, "a": {"b": 1}, "y": "z"}))
    code = run(world, "rules", "validate")
    assert code in (0, 2)
    if code == 0:
        assert run(world, "rules", "test", "--metrics-file", str(path)) in (0, 1)
    capsys.readouterr()
