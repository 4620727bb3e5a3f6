"""Rule files, cases files and templates handed to the CLI meet the loader's limits: exit 2, never 70 or a hang."""

from __future__ import annotations

import os

import pytest
from conftest import SIMPLE_CONFIG, Cli

LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    + ["id: laughs", "name: L", "type: error", "severity: low", "when: x > 1", "labels: {team: *a8}"]
)


@pytest.fixture
def cli(tmp_path) -> Cli:
    c = Cli(tmp_path)
    c.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    return c


@pytest.mark.slow
def test_billion_laughs_rule_file_is_refused(cli):
    (cli.tmp / "rule.yaml").write_text(LAUGHS)
    result = cli("rules", "add", "--file", str(cli.tmp / "rule.yaml"), timeout=20)
    assert result.code == 2
    assert "the document has more than 100000 values (counting every use of a YAML alias)" in result.err


def test_deeply_nested_rule_file_is_refused(cli):
    (cli.tmp / "rule.yaml").write_text("id: deep\nlabels: " + "[" * 5000 + "]" * 5000 + "\n")
    result = cli("rules", "add", "--file", str(cli.tmp / "rule.yaml"))
    assert result.code == 2
    assert "nested" in result.err and "Traceback" not in result.err


def test_a_rule_file_over_the_size_limit_is_refused(cli):
    (cli.tmp / "rule.yaml").write_text("id: big\ndescription: " + "x" * 1_200_000 + "\n")
    result = cli("rules", "add", "--file", str(cli.tmp / "rule.yaml"))
    assert result.code == 2
    assert f"error: rule file {cli.tmp / 'rule.yaml'} is larger than 1024 KiB" in result.err


@pytest.mark.parametrize("template", ["{{ " + "(" * 3000 + "x" + ")" * 3000 + " }}", "{% if x %}" * 2000])
def test_deeply_nested_templates_are_a_config_error(cli, template):
    (cli.tmp / "rule.yaml").write_text(
        f"id: deep\nname: D\ntype: error\nseverity: low\nwhen: x > 1\ndescription: '{template}'\n"
    )
    result = cli("rules", "add", "--file", str(cli.tmp / "rule.yaml"))
    assert result.code == 2, result.err
    assert "nested too deeply" in result.err


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_cases_from_a_fifo_or_a_device_are_refused_at_once(cli, kind):
    if kind == "fifo":
        path = cli.tmp / "cases.fifo"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    result = cli("rules", "test", "--cases", str(path), timeout=20)
    assert result.code == 2
    assert f"error: cases file {path} is not a regular file" in result.err
