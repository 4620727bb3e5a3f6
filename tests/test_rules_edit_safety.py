"""Rule edits held to the loader's bar: no ``${VAR}`` from callers, the loader's limits on the
exact text written, YAML 1.1 strings quoted, a lock on the rules file itself, no lone surrogates."""

from __future__ import annotations

import threading
import time

import pytest
import yaml
from conftest import SIMPLE_CONFIG, Cli

from pantry_alert.config import MAX_CONFIG_BYTES, load
from pantry_alert.errors import ConfigError
from pantry_alert.rules_edit import add_rule, update_rule

RULE = {"id": "queue_high", "name": "Queue", "type": "business", "severity": "low", "when": "queue > 10"}


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "rules.yaml"
    path.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    monkeypatch.setenv("PANTRY_ALERT_DB", str(tmp_path / "state.db"))
    return path


def test_a_variable_in_a_callers_rule_is_refused_naming_the_key(config, monkeypatch):
    monkeypatch.setenv("SMTP_PASS", "hunter2-secret")
    before = config.read_text()
    with pytest.raises(ConfigError) as info:
        add_rule(config, {**RULE, "name": "leak ${SMTP_PASS}"})
    assert info.value.message.startswith("rule key name: '${' is not allowed")
    with pytest.raises(ConfigError, match=r"^rule key labels\.team: '\$\{' is not allowed"):
        update_rule(config, "cpu_high", {"labels": {"team": "${HOME}"}})
    assert config.read_text() == before


def test_rules_add_with_a_variable_exits_2(tmp_path):
    cli = Cli(tmp_path)
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    (tmp_path / "rule.yaml").write_text(yaml.safe_dump({**RULE, "description": "${SMTP_PASS}"}))
    result = cli("rules", "add", "--file", str(tmp_path / "rule.yaml"), env={"SMTP_PASS": "hunter2-secret"})
    assert result.code == 2
    assert "rule key description: '${' is not allowed" in result.err
    assert "hunter2" not in result.err + result.out


def test_edits_that_would_push_the_file_past_the_size_limit_are_refused(config):
    # 540,000 bytes in four-byte characters (a quarter of the text to scan and emit): one such
    # rule fits under the limit, a second one would take the file past it.
    description = "\U0001f600" * 135_000
    add_rule(config, {**RULE, "id": "big_0", "description": description})
    before = config.read_bytes()
    assert MAX_CONFIG_BYTES // 2 < len(before) <= MAX_CONFIG_BYTES
    with pytest.raises(ConfigError) as info:
        add_rule(config, {**RULE, "id": "big_1", "description": description})
    assert "would be larger than 1024 KiB" in info.value.message
    assert config.read_bytes() == before  # nothing written past the limit
    assert [r.id for r in load(config).rules] == ["cpu_high", "big_0"]  # the file still loads


@pytest.mark.parametrize("word", ["yes", "on", "NO", "off", "y", "null", "~", "0o17", "1_000", "12:30", "true"])
def test_yaml_1_1_words_are_quoted_and_read_back_as_strings(config, word):
    rule = add_rule(config, {**RULE, "name": word, "labels": {"team": word, word: "x"}})
    assert rule.name == word
    assert rule.labels == {"team": word, word: "x"}
    assert load(config).rule("queue_high").labels == {"team": word, word: "x"}
    updated = update_rule(config, "cpu_high", {"name": word})
    assert updated.name == word


def test_lone_surrogates_in_a_rule_are_refused(config):
    before = config.read_text()
    with pytest.raises(ConfigError, match=r"^labels\.team: holds a lone surrogate \(\\udcff\) at character 2"):
        add_rule(config, {**RULE, "labels": {"team": "x\udcff"}})
    assert config.read_text() == before


def test_an_edit_waits_until_the_one_before_has_written_its_audit_entry(config, monkeypatch):
    """The new file takes the path while the audit entry is still being written: an editor opening
    it then must wait, so no two edits are ever in their critical section at once."""
    from pantry_alert import rules_edit

    inside, most, lock = [0], [0], threading.Lock()
    real_audit = rules_edit._audit

    def slow_audit(*args):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # long enough for another editor's whole edit
        try:
            real_audit(*args)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(rules_edit, "_audit", slow_audit)
    threads = [threading.Thread(target=add_rule, args=(config, {**RULE, "id": f"rule_{n}"})) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == [1]
    assert sorted(r.id for r in load(config).rules) == ["cpu_high", "rule_0", "rule_1", "rule_2", "rule_3"]


def test_concurrent_edits_resolving_different_databases_lose_nothing(config, tmp_path, monkeypatch):
    errors: list[BaseException] = []

    def edit(n: int) -> None:
        from pantry_alert.workspace import Workspace

        try:
            ws = Workspace(config_path=str(config), db=str(tmp_path / f"db{n % 3}.db"))
            add_rule(ws, {**RULE, "id": f"rule_{n}"})
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.id for r in load(config).rules) == sorted(["cpu_high"] + [f"rule_{n}" for n in range(12)])
