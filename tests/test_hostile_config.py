"""Hostile rules.yaml through the installed command: secrets in messages, huge or deep documents."""

from __future__ import annotations

import os

import pytest

RULES = """
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: {when}
    channels: [console]
"""


def rules(when: str = "cpu > 90") -> str:
    return RULES.format(when=when)


def validate(cli, text: str, env: dict | None = None):
    cli.config.write_text(text)
    return cli("rules", "validate", env=env)


# ------------------------------------------------------------------ secrets never echoed


def test_crlf_in_a_metrics_header_is_refused_at_load_without_the_value(simple):
    text = rules() + 'source:\n  url: http://127.0.0.1:9/m\n  headers: {Authorization: "Bearer ${METRICS_TOKEN}"}\n'
    for command in (("rules", "validate"), ("check",)):
        simple.config.write_text(text)
        result = simple(*command, env={"METRICS_TOKEN": "tok-SECRET-42\r"})
        assert result.code == 2
        assert result.err == (
            f"error: {simple.config}: 1 configuration problem\n"
            f"  {simple.config}:11: source.headers.Authorization: the header value contains a control character "
            "(CR, LF or another; an env file with CRLF line endings?); the value is not shown\n"
            "hint: fix them and check with: pantry-alert rules validate\n"
        )
        assert "SECRET" not in result.out + result.err
    assert not simple.db.exists()


def test_control_character_in_a_webhook_header_is_refused_at_load(simple):
    text = rules() + 'channels:\n  webhook:\n    url: https://hooks.example.com/x\n    headers: {X-Key: "${KEY}"}\n'
    result = validate(simple, text, env={"KEY": "k3y-SECRET\n"})
    assert result.code == 2
    assert "channels.webhook.headers.X-Key: the header value contains a control character" in result.err
    assert "SECRET" not in result.out + result.err


@pytest.mark.parametrize(
    "snippet, key, template",
    [
        ("source:\n  url: 127.0.0.1:8080/m?token=${TOKEN}\n", "source.url", "127.0.0.1:8080/m?token=${TOKEN}"),
        ("dashboard_url: ${TOKEN}/dash\n", "dashboard_url", "${TOKEN}/dash"),
    ],
)
def test_url_problems_show_the_template_not_the_secret(simple, snippet, key, template):
    result = validate(simple, rules() + snippet, env={"TOKEN": "tok-SECRET-77"})
    assert result.code == 2
    assert f"{key}: '{template}' is not a valid URL (absolute http(s) URL expected)" in result.err
    assert "SECRET" not in result.out + result.err


def test_runbook_url_problem_shows_the_template(simple):
    text = rules() + ""
    text = text.replace("channels: [console]", "channels: [console]\n    runbook_url: wiki/${TOKEN}")
    result = validate(simple, text, env={"TOKEN": "tok-SECRET-88"})
    assert result.code == 2
    assert (
        "rule 'cpu_high': rules.0.runbook_url: 'wiki/${TOKEN}' is not a valid URL (absolute http(s) URL expected)"
        in result.err
    )
    assert "SECRET" not in result.err


def test_webhook_url_problem_shows_the_template(simple):
    text = rules() + "channels:\n  webhook:\n    url: ftp://hooks.example.com/${HOOK_SECRET}\n"
    result = validate(simple, text, env={"HOOK_SECRET": "abcdef-SECRET-99"})
    assert result.code == 2
    assert "${HOOK_SECRET}" in result.err
    assert "SECRET-99" not in result.out + result.err


# ------------------------------------------------------------------ bounded documents


def test_billion_laughs_is_refused_quickly(simple):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    text = (
        "\n".join(lines)
        + "\n"
        + rules().replace("    channels: [console]", "    channels: [console]\n    labels: {x: *a9}")
    )
    # the anchors sit at the top level, so they are unknown keys too, but the size check comes first
    result = validate(simple, text)
    assert result.code == 2
    assert result.err == (
        f"error: {simple.config}: the document has more than 100000 values (counting every use of a YAML alias)\n"
        "hint: a rules.yaml is a few hundred values; look for aliases (*name) that repeat large parts\n"
    )


def test_recursive_alias_is_refused(simple):
    text = rules().replace("    channels: [console]", "    channels: [console]\n    labels: &loop {x: *loop}")
    result = validate(simple, text)
    assert result.code == 2
    assert result.err.startswith(f"error: {simple.config}: the document ")


def test_deeply_nested_labels_are_refused(simple):
    deep = "{a: " * 900 + "1" + "}" * 900
    text = rules().replace("    channels: [console]", f"    channels: [console]\n    labels: {deep}")
    result = validate(simple, text)
    assert result.code == 2
    assert result.err == f"error: {simple.config}: the document is nested more than 32 levels deep\n"


def test_label_values_must_be_strings(simple):
    text = rules().replace("    channels: [console]", "    channels: [console]\n    labels: {team: {a: 1}}")
    result = validate(simple, text)
    assert result.code == 2
    assert "rule 'cpu_high': rules.0.labels.team: a label value must be a string" in result.err


def test_unary_minus_chain_is_a_config_error(simple):
    result = validate(simple, rules(when="'" + "-" * 990 + "cpu > 1'"))
    assert result.code == 2
    assert "rules.0.when: invalid condition" in result.err
    assert "the condition is nested too deeply (at most 100 levels)" in result.err


def test_config_over_one_mib_is_refused(simple):
    simple.config.write_text(rules() + "#" + "x" * (1024 * 1024) + "\n")
    result = simple("rules", "validate")
    assert result.code == 2
    assert result.err == f"error: config file {simple.config} is larger than 1024 KiB\n"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_as_config_is_refused(simple):
    fifo = simple.tmp / "rules.fifo"
    os.mkfifo(fifo)
    result = simple("--config", str(fifo), "rules", "validate", timeout=20)
    assert result.code == 2
    assert result.err == f"error: config file {fifo} is not a regular file\n"
