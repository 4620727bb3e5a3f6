"""The package's seams, checked from its source: a channel is one module plus one registry line,
the pure steps never import the channels, and no two modules import each other."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pantry_alert
from pantry_alert.model import ChannelFacts
from pantry_alert.notify import registry
from pantry_alert.notify.capabilities import Capabilities

PACKAGE = Path(pantry_alert.__file__).resolve().parent

# Every channel and what it declared.  A new channel adds its module, its line in
# ``notify.registry.CHANNELS`` and its row here.
EXPECTED = {
    "email": {
        "env": (
            "SMTP_HOST",
            "ALERT_TO_EMAILS",
            "SMTP_SECURE",
            "SMTP_PORT",
            "SMTP_USER",
            "SMTP_PASS",
            "ALERT_FROM_EMAIL",
            "SMTP_ALLOW_INSECURE_AUTH",
        ),
        "always": False,
        "sync": False,
        "digest": True,
        "batched": True,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "slack": {
        "env": ("SLACK_BOT_TOKEN", "SLACK_ALERT_CHANNEL", "SLACK_WEBHOOK_URL", "SLACK_API_URL"),
        "always": False,
        "sync": False,
        "digest": True,
        "batched": True,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "webhook": {
        "env": ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_TOKEN"),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "alertmanager": {
        "env": ("ALERTMANAGER_URLS",),
        "always": False,
        "sync": True,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "console": {
        "env": (),
        "always": True,
        "sync": False,
        "digest": True,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": True,
    },
    "pagerduty": {
        "env": ("PAGERDUTY_ROUTING_KEY", "PAGERDUTY_EVENTS_URL"),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": True,
        "serial": False,
    },
    "ntfy": {
        "env": ("NTFY_TOPIC", "NTFY_URL", "NTFY_TOKEN"),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "teams": {
        "env": ("TEAMS_WEBHOOK_URL",),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "telegram": {
        "env": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL"),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "discord": {
        "env": ("DISCORD_WEBHOOK_URL",),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
    "apprise": {
        "env": ("APPRISE_URLS",),
        "always": False,
        "sync": False,
        "digest": False,
        "batched": False,
        "follows_ack_resolve": False,
        "serial": False,
    },
}


# ----------------------------------------------------------------- channels


def test_every_channel_lists_its_capabilities():
    assert {name: registry.capabilities(name).as_dict() for name in registry.CHANNEL_NAMES} == EXPECTED


@pytest.mark.parametrize("name", registry.CHANNEL_NAMES)
def test_a_channel_is_its_module_and_one_registry_line(name):
    module = registry.channel_module(name)
    assert module.__name__ == registry.CHANNELS[name]
    # The registry's reading of the declaration (from the source) is the module's own value.
    assert isinstance(module.CAPABILITIES, Capabilities)
    assert registry.capabilities(name) == module.CAPABILITIES
    # Declared in the channel's own module, nowhere else.
    declaring = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if "\nCAPABILITIES = " in p.read_text()]
    assert Path(module.__file__).resolve().relative_to(PACKAGE) in declaring
    assert len(declaring) == len(registry.CHANNELS)
    caps = module.CAPABILITIES
    assert hasattr(module, "sync") == caps.sync
    assert hasattr(module, "send") and hasattr(module, "settings") and isinstance(module.SECTION_KEYS, tuple)


def test_the_facts_the_pure_steps_take_are_built_from_the_declarations():
    assert registry.channel_facts() == ChannelFacts(
        sync=frozenset({"alertmanager"}),
        digest=frozenset({"email", "slack", "console"}),
        batched=frozenset({"email", "slack"}),
        follows=frozenset({"pagerduty"}),
    )
    assert registry.following_channels() == frozenset({"pagerduty"})
    assert registry.sync_channels() == ("alertmanager",)


def test_reading_capabilities_imports_no_channel_and_no_sending_library():
    probe = (
        "import json, sys\n"
        "from pantry_alert.notify import registry\n"
        "facts = registry.channel_facts()\n"
        "[registry.unconfigured(n, None, {}) for n in registry.CHANNEL_NAMES]\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pantry_alert.notify.', 'slack_sdk',"
        " 'smtplib', 'httpx', 'jinja2')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["pantry_alert.notify.capabilities", "pantry_alert.notify.registry"]


def test_a_declaration_must_be_literal():
    with pytest.raises(ValueError, match="batched channel must be digest-capable"):
        Capabilities(batched=True)
    with pytest.raises(ValueError, match="synchronising channel"):
        Capabilities(sync=True, digest=True)


# ----------------------------------------------------------------- imports


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["pantry_alert", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (read by the type checker only, never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines.update(n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno"))
    return lines


def _imports(name: str) -> set[str]:
    """The package's modules that module ``name`` imports at run time, at its top or inside a function."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("pantry_alert"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.startswith("pantry_alert"):
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    found.add(full if full in MODULES else source)
    found.discard(name)
    return found


@functools.cache
def graph() -> dict[str, set[str]]:
    """Each module's imports of the package, built by the first test that asks (not at collection)."""
    return {name: _imports(name) for name in MODULES}


def _reaches(start: str, prefix: str) -> list[str]:
    return sorted(m for m in graph()[start] if m == prefix or m.startswith(prefix + "."))


@pytest.mark.parametrize(
    "module", ["pantry_alert.engine", "pantry_alert.policy", "pantry_alert.metrics", "pantry_alert.prometheus"]
)
def test_the_pure_steps_and_the_sources_do_not_import_the_channels(module):
    assert _reaches(module, "pantry_alert.notify") == []


def test_the_channels_do_not_import_the_policy_the_engine_or_the_config():
    for name in MODULES:
        if name.startswith("pantry_alert.notify"):
            for forbidden in ("pantry_alert.policy", "pantry_alert.engine", "pantry_alert.config"):
                assert _reaches(name, forbidden) == [], name


def test_no_two_modules_import_each_other():
    imports = graph()
    mutual = sorted((a, b) for a in imports for b in imports[a] if a < b and a in imports.get(b, ()))
    assert mutual == []


def test_the_notify_package_has_no_import_cycle():
    notify = {n: {m for m in imports if m.startswith("pantry_alert.notify")} for n, imports in graph().items()}
    notify = {n: deps for n, deps in notify.items() if n.startswith("pantry_alert.notify")}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        for dep in sorted(notify.get(node, ())):
            if dep in path:
                return [*path[path.index(dep) :], dep]
            found = cycle_from(dep, [*path, dep])
            if found:
                return found
        return None

    assert [c for n in sorted(notify) if (c := cycle_from(n, [n]))] == []


def test_no_private_name_is_imported_across_modules():
    private = []
    for name, path in MODULES.items():
        if not name.startswith("pantry_alert.notify"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                private += [
                    (name, alias.name)
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert private == []
