"""The registry knows, without importing a channel, when it is not configured and whether it synchronises:
each channel's declared ``CAPABILITIES`` must say what the channel module itself does."""

from __future__ import annotations

import os

import pytest

from pantry_alert.notify.registry import CHANNEL_NAMES, capabilities, channel_module, sync_channels, unconfigured

# name -> the environment variables it declares, for the channels configured by them (the console is always on)
CHANNEL_ENV = {name: capabilities(name).env for name in CHANNEL_NAMES if not capabilities(name).always}


class RecordingEnv(dict):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return default

    def __getitem__(self, key):
        self.read.add(key)
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return False


@pytest.mark.parametrize("section", [None, {}])
@pytest.mark.parametrize("name", sorted(CHANNEL_ENV))
def test_a_channel_with_no_section_and_none_of_its_variables_is_not_configured(monkeypatch, name, section):
    env, process_env = RecordingEnv(), RecordingEnv()
    monkeypatch.setattr(os, "environ", process_env)
    assert channel_module(name).settings(section, env) is None
    # Whatever decided it is in the registry's list, so no other variable can make it configured.
    assert env.read | process_env.read <= set(CHANNEL_ENV[name])
    assert unconfigured(name, section, {}) is True


@pytest.mark.parametrize("name", sorted(CHANNEL_ENV))
def test_each_listed_variable_is_one_the_channel_documents_and_makes_it_worth_importing(name):
    module = channel_module(name)
    for var in CHANNEL_ENV[name]:
        assert var in module.__doc__, (name, var)
        assert unconfigured(name, None, {var: "x"}) is False
        assert unconfigured(name, {}, {var: ""}) is True  # an empty variable counts as unset, as in settings
    assert unconfigured(name, {"timeout": "5s"}, {}) is False  # a section: its keys are checked


def test_console_is_always_configured():
    assert "console" in CHANNEL_NAMES and "console" not in CHANNEL_ENV
    assert unconfigured("console", None, {}) is False


def test_every_channel_but_the_console_has_its_variables_listed():
    assert set(CHANNEL_ENV) == set(CHANNEL_NAMES) - {"console"}


def test_sync_channels_are_the_modules_that_say_so():
    assert sync_channels() == ("alertmanager",)
    assert sync_channels() == tuple(name for name in CHANNEL_NAMES if channel_module(name).CAPABILITIES.sync)
    assert all(hasattr(channel_module(name), "sync") for name in sync_channels())
