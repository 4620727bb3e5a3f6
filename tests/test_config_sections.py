"""The config by section: structured problems (key path and line), channel settings built once, and the
section table that a new section joins with one line."""

from __future__ import annotations

import pytest

from pantry_alert.config import TOP_KEYS, load
from pantry_alert.config.sections import HEADER_KEYS, SECTIONS
from pantry_alert.errors import ConfigError
from pantry_alert.notify import configured_channels

BAD = """\
state:
  retention: soon
quiet_hours: {start: "22:00", end: "22:00"}
channels:
  webhook: {url: "not a url"}
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: loud
    when: cpu > 90
"""

GOOD = """\
channels:
  webhook: {url: "http://127.0.0.1:9/hook"}
rules:
  - {id: cpu_high, name: CPU High, type: performance, severity: high, when: cpu > 90, channels: [webhook]}
"""


def test_every_problem_carries_its_key_path_and_line(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    located = [(p.keys, p.line) for p in caught.value.located]
    assert located == [
        (("state", "retention"), 2),
        (("channels", "webhook", "url"), 5),
        (("quiet_hours", "end"), 3),
        (("rules", 0, "severity"), 10),
    ]
    assert [p.text for p in caught.value.located if p.keys[0] != "channels"] == caught.value.problems[:3]
    assert caught.value.problems[3] == caught.value.located[1].text  # a channel's problems come last


def test_channel_settings_are_built_once_at_load_and_reused(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    env: dict[str, str] = {}
    config = load(path, env)
    assert sorted(config.channel_settings) == ["console", "webhook"]
    channels = configured_channels(config, env)
    assert channels["webhook"] is config.channel_settings["webhook"]
    assert configured_channels(config, {})["webhook"] is not config.channel_settings["webhook"]  # another env


def test_the_top_level_keys_are_the_plain_values_and_the_sections():
    assert TOP_KEYS == HEADER_KEYS | {name for name, _parser in SECTIONS}
    assert [name for name, _parser in SECTIONS] == [
        "source",
        "state",
        "channels",
        "escalation",
        "escalation_policies",
        "quiet_hours",
        "batching",
        "routes",
        "maintenance",
        "flapping",
        "notify_resolved_when_silenced",
        "api",
        "audit",
        "rules",
        "history",  # after the rules: it checks their window functions
        "heartbeats",
    ]
