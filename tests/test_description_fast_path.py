"""Descriptions made only of text and ``{{ name }}`` render without a Jinja compile: the result,
or the error, must be exactly what the compiled template gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantry_alert import templates
from pantry_alert.errors import ExpressionError
from pantry_alert.expressions import Unavailable
from pantry_alert.templates import descriptions, render_description, sandbox

METRICS = {
    "cpu": 93.5,
    "count": 12,
    "flag": True,
    "nothing": None,
    "name": "db-1 \u202e\x1b[2J",
    "items": [1, 2, {"a": "b"}],
    "gone": Unavailable("query failed"),
    "dict": "a metric named like a global",
    "huge": "x" * 5000,
    "enormous": "y" * (templates.MAX_STRING + 1),
    "big_list": list(range(300_000)),
}
RULE = {"id": "r1", "name": "Rule one", "severity": "high"}
SOURCES = [
    "plain text, no expression",
    "cpu is {{ cpu }}%",
    "{{ cpu }}",
    "{{count}} errors, {{ count }} again, flag {{ flag }}, nothing {{ nothing }}",
    "{{ name }} / {{ items }} / {{ gone }}",
    "{{ rule }} and {{ value }}",
    "{{ dict }} shadows the global; {{ range }} and {{ namespace }} do not",
    "{{ missing }} is not there",
    "before {{ cpu }} then {{ missing }}",
    "{{ huge }}{{ huge }}",
    "{{ huge }}{{ missing }}",
    "{{ enormous }}",
    "{{ big_list }}",
    "ends with a newline {{ cpu }}\n",
    "  {{- cpu -}}  !  {# a comment #} {{ count }}",
    "{% raw %}{{ cpu }}{% endraw %} raw",
    "ünïcödé ✓ {{ name }}",
    "{# only a comment #}",
    "{{ _private }}",
    "{{ cpu }",
    "{{ self }} {{ super }} {{ loop }} {{ caller }} {{ varargs }} {{ kwargs }}",
    "{{ self }}",
]


def _render(source: str):
    try:
        return "ok", render_description(source, METRICS, RULE, 42.5)
    except ExpressionError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("source", SOURCES)
def test_text_and_names_render_as_the_compiled_template_does(monkeypatch, source):
    descriptions.compiled.cache_clear()
    fast = _render(source)
    descriptions.compiled.cache_clear()
    monkeypatch.setattr(descriptions, "_text_and_names", lambda tree: None)  # always compile
    compiled = _render(source)
    descriptions.compiled.cache_clear()
    assert fast == compiled


def test_the_simple_templates_take_the_fast_path_and_others_compile():
    descriptions.compiled.cache_clear()
    assert isinstance(descriptions.compiled("cpu is {{ cpu }}")[0], descriptions._TextAndNames)
    assert not isinstance(descriptions.compiled("{{ '%.1f' | format(cpu) }}")[0], descriptions._TextAndNames)
    assert descriptions.compiled("{{ cpu }} {{ rule.id }}")[1] == frozenset({"cpu", "rule"})


def test_a_description_is_compiled_once_per_process():
    descriptions.compiled.cache_clear()
    for value in (1, 2, 3):
        assert render_description("{{ '%.1f' | format(value) }}!", {}, RULE, value) == f"{value:.1f}!"
    info = descriptions.compiled.cache_info()
    assert (info.misses, info.hits) == (1, 2)


PIECES = st.sampled_from(
    ["a", "b_1", " ", "\t", "\n", "\r", "\r\n", "{", "}", "{{", "}}", "%", "#", "-", "+", "é", ".", "(", ")"]
    + ["{{ a }}", "{{b_1}}", "{{ _a }}", "{{ true }}", "{{ None }}", "{{ not }}", "{{ if }}", "{{ in }}", "{{ for }}"]
    + [
        "{{ class }}",
        "{{ loop }}",
        "{{ self }}",
        "{{\ta\t}}",
        "{{ a.b }}",
        "{{- a -}}",
        "{% raw %}",
        "{% endraw %}",
        "{# c #}",
    ]
)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_a_plain_source_is_read_as_jinja_reads_it(source):
    """When the source is read without Jinja, the pieces are the ones Jinja's parser gives."""
    parts = descriptions._source_parts(source)
    if parts is not None:
        assert parts == descriptions._text_and_names(sandbox.checked_tree(source))


@pytest.mark.parametrize(
    "source",
    ["m0 is {{ m0 }}", "{{ databaseErrors }} database errors in the last hour", "a\r\nb {{x}}\n", "{{a}}{{b}}", ""],
)
def test_plain_sources_are_read_without_jinja(source):
    parts = descriptions._source_parts(source)
    assert parts is not None and parts == descriptions._text_and_names(sandbox.checked_tree(source))
