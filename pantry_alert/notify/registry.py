"""The channel registry: every notification channel, one line each.

A channel is a module, named as in rules.yaml (``channels.<name>``, a rule's
``channels`` list), listed in ``CHANNELS`` with its module path, that declares:

``CAPABILITIES = Capabilities(...)``
    What it can do (``notify.capabilities``): its environment variables,
    whether it synchronises state instead of sending messages, whether it can
    take a digest, whether batching applies to it, whether it follows
    acknowledge/resolve, whether it sends one at a time.  Literal arguments
    only: the registry reads the declaration without importing the module.
``SECTION_KEYS``
    The keys its ``channels.<name>`` section accepts.
``settings(section, env, **options) -> Settings | None``
    Its settings from that section (already ``${VAR}``-interpolated; ``None``
    when absent) or, where the section leaves a key out, from the channel's
    environment variables.  ``None`` when the channel is not configured;
    ``ConfigError`` (message ``"<key or VAR (environment)>: <problem>"``) for a
    present but invalid or half-done setting.  Cheap: no network, no heavy
    imports at module level.  ``options`` are run-time choices of the caller
    (the console's output stream).
``send(settings, message) -> None``
    One delivery within ``settings.timeout``; ``DeliveryError`` on failure
    (see ``notify.base``).  Optionally ``open_session(settings)`` (see
    ``notify.delivery``).
``sync(store, config, settings, now)`` (a channel declared ``sync=True``)
    The run-level synchronisation of the whole alert state (the Alertmanager
    channel); the runner calls it once per run.

Adding a channel is that module plus its line in ``CHANNELS``: config
validation, ``configured_channels``, the engine's and the policy's channel
facts, delivery, ``rules list`` and ``test-notify`` all read this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

from ..model import ChannelFacts
from .capabilities import Capabilities

CHANNELS: dict[str, str] = {
    "email": "pantry_alert.notify.email",
    "slack": "pantry_alert.notify.slack",
    "webhook": "pantry_alert.notify.webhook",
    "alertmanager": "pantry_alert.notify.alertmanager",
    "console": "pantry_alert.notify.console",
    "pagerduty": "pantry_alert.notify.pagerduty",
    "ntfy": "pantry_alert.notify.ntfy",
    "teams": "pantry_alert.notify.teams",
    "telegram": "pantry_alert.notify.telegram",
    "discord": "pantry_alert.notify.discord",
    "apprise": "pantry_alert.notify.apprise",
}

CHANNEL_NAMES: tuple[str, ...] = tuple(CHANNELS)

_DECLARATION = "\nCAPABILITIES = Capabilities("
_declared: dict[str, Capabilities] = {}
_facts: list[ChannelFacts] = []


def channel_module(name: str) -> ModuleType:
    """The module of a registered channel (``ChannelNotConfigured`` for an unknown name)."""
    from ..errors import ChannelNotConfigured

    if name not in CHANNELS:
        raise ChannelNotConfigured(f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
    return importlib.import_module(CHANNELS[name])


def capabilities(name: str) -> Capabilities:
    """What channel ``name`` declared in its module's ``CAPABILITIES``, read without importing it."""
    found = _declared.get(name)
    if found is None:
        if name not in CHANNELS:
            channel_module(name)  # raises ChannelNotConfigured
        found = _declared[name] = _read_declaration(CHANNELS[name])
    return found


def _read_declaration(module_path: str) -> Capabilities:
    """The module's ``CAPABILITIES = Capabilities(...)`` statement, evaluated from its source; the
    imported module's value when no source is at hand.

    The statement is the module's own code, exactly what importing it would run, evaluated with
    nothing but ``Capabilities`` in scope; reading it costs ~0.05 ms where importing the module
    (its settings classes, ``notify.base``) costs milliseconds."""
    import importlib.util

    if module_path.startswith(f"{__package__}."):  # a module of this package: no finder needed
        origin = f"{__file__.rpartition('/')[0]}/{module_path[len(__package__) + 1 :].replace('.', '/')}.py"
    else:
        origin = str(getattr(importlib.util.find_spec(module_path), "origin", None))
    try:
        with open(origin, encoding="utf-8") as file:
            source = file.read()
    except (OSError, ValueError):
        source = ""
    begin = source.find(_DECLARATION) + len("\nCAPABILITIES = ")
    if begin < len("\nCAPABILITIES = ") or not origin.endswith(".py"):
        return importlib.import_module(module_path).CAPABILITIES
    end = begin
    while (end := source.find("\n", end) + 1) > 0:  # one line more until the call is complete
        text = source[begin:end]
        if text.count("(") > text.count(")"):
            continue
        try:
            found = eval(compile(text, origin, "eval"), {"__builtins__": {}, "Capabilities": Capabilities})
        except SyntaxError:
            continue
        if isinstance(found, Capabilities):
            return found
        break
    raise ValueError(f"{module_path}: CAPABILITIES must be one Capabilities(...) call with literal arguments")


def channel_facts() -> ChannelFacts:
    """The channel facts the engine and the policy take as data."""
    if not _facts:
        of = {name: capabilities(name) for name in CHANNEL_NAMES}
        _facts.append(
            ChannelFacts(
                sync=frozenset(name for name, caps in of.items() if caps.sync),
                digest=frozenset(name for name, caps in of.items() if caps.digest),
                batched=frozenset(name for name, caps in of.items() if caps.batched),
                follows=frozenset(name for name, caps in of.items() if caps.follows_ack_resolve),
            )
        )
    return _facts[0]


def unconfigured(name: str, section: Mapping | None, env: Mapping[str, str]) -> bool:
    """True when channel ``name`` is certainly not configured: no section, none of its variables set."""
    caps = capabilities(name)
    return not caps.always and not section and not any(env.get(var) for var in caps.env)


def section_keys(name: str) -> tuple[str, ...]:
    return tuple(channel_module(name).SECTION_KEYS)


def following_channels() -> frozenset[str]:
    """The channels told when an alert is acknowledged or resolved (``follows_ack_resolve``)."""
    return channel_facts().follows


def sync_channels() -> tuple[str, ...]:
    """The channels that synchronise state once per run instead of sending messages (registry order)."""
    return tuple(name for name in CHANNEL_NAMES if capabilities(name).sync)
