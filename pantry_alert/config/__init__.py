"""Load, interpolate and validate ``rules.yaml`` into typed objects.

Every problem is collected (not just the first) and reported together with
file, line and rule id; the caller gets one ``ConfigError`` (exit 2).  The
package: ``model`` (the records; time-policy ones in ``time_model``, source and
state ones in ``source_model``), ``sections`` (one parser per section, with
``io_sections`` and ``time_sections``), ``checks`` (the problem collector and the value checkers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..config_file import MAX_CONFIG_BYTES, parse_yaml, read_document, read_limited
from ..errors import ConfigError
from ..history import HISTORY_KEYS, HistorySettings
from ..model import SEVERITIES
from ..notify.registry import CHANNEL_NAMES
from .checks import Problems, interpolate, unknown_keys
from .model import (
    BUILTIN_SOURCE_RULE,
    DEFAULT_COOLDOWN_MS,
    DEFAULT_DELIVERY_BUDGET_MS,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_RETENTION_MS,
    DEFAULT_SOURCE_TIMEOUT_MS,
    DEFAULT_STALE_AFTER_MS,
    DEFAULT_THRESHOLDS,
    RULE_ID,
    TYPES,
    ApiSettings,
    AuditSettings,
    Batching,
    Config,
    Escalation,
    EscalationStep,
    Flapping,
    Maintenance,
    PrometheusSource,
    QuietHours,
    Rule,
    Source,
    StateSettings,
    WeeklySpan,
    source_rule,
)
from .sections import (
    API_KEYS,
    AUDIT_KEYS,
    BATCHING_KEYS,
    ESCALATION_KEYS,
    ESCALATION_POLICIES_KEYS,
    FLAPPING_KEYS,
    HEARTBEATS_KEYS,
    MAINTENANCE_KEYS,
    QUIET_HOURS_KEYS,
    RULE_KEYS,
    SECTIONS,
    SOURCE_KEYS,
    STATE_KEYS,
    TOP_KEYS,
    Parse,
    header,
)

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "API_KEYS",
    "AUDIT_KEYS",
    "BATCHING_KEYS",
    "BUILTIN_SOURCE_RULE",
    "DEFAULT_COOLDOWN_MS",
    "DEFAULT_DELIVERY_BUDGET_MS",
    "DEFAULT_LOCK_TIMEOUT_MS",
    "DEFAULT_RETENTION_MS",
    "DEFAULT_SOURCE_TIMEOUT_MS",
    "DEFAULT_STALE_AFTER_MS",
    "DEFAULT_THRESHOLDS",
    "ESCALATION_KEYS",
    "ESCALATION_POLICIES_KEYS",
    "FLAPPING_KEYS",
    "HEARTBEATS_KEYS",
    "MAINTENANCE_KEYS",
    "HISTORY_KEYS",
    "HistorySettings",
    "MAX_CONFIG_BYTES",
    "QUIET_HOURS_KEYS",
    "RULE_ID",
    "RULE_KEYS",
    "SEVERITIES",
    "SOURCE_KEYS",
    "STATE_KEYS",
    "TOP_KEYS",
    "TYPES",
    "ApiSettings",
    "AuditSettings",
    "Batching",
    "Config",
    "ConfigError",
    "Escalation",
    "EscalationStep",
    "Flapping",
    "Maintenance",
    "PrometheusSource",
    "QuietHours",
    "Rule",
    "Source",
    "StateSettings",
    "WeeklySpan",
    "load",
    "load_text",
    "parse_yaml",
    "read_limited",
    "parse",
    "source_rule",
]

# Keys of the contract that a later stage delivers: rejected plainly, not half-working.
NOT_YET: dict[str, str] = {}


def parse(
    data: Any, path: Path, text: str, env: Mapping[str, str] | None = None, *, check_templates: bool = False
) -> Config:
    """The config from a loaded YAML document: each section by its own parser (``sections.SECTIONS``)."""
    env = os.environ if env is None else env
    problems = Problems(path, text)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with a 'rules' list",
            problems=[f"{path}:1: the top level must be a mapping"],
        )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raw_rules = []
    problems.rule_ids = [r.get("id") if isinstance(r, dict) else None for r in raw_rules]
    problems.raw = data
    data = interpolate(data, (), env, problems)
    for key in data:
        if key in NOT_YET:
            problems.add((key,), NOT_YET[key])
    unknown_keys({k: v for k, v in data.items() if k not in NOT_YET}, TOP_KEYS, (), problems)

    config = Config(path=path)
    p = Parse(data=data, config=config, env=env, problems=problems, check_templates=check_templates)
    header(p)
    for name, parser in SECTIONS:
        setattr(config, name, parser(data.get(name), p))

    config.channel_problems = problems.channel_items
    config.substitutions = dict(problems.substitutions)
    if problems.items:
        every = problems.items + [item for name in CHANNEL_NAMES for item in problems.channel_items.get(name, [])]
        count = len(every)
        raise ConfigError(
            f"{path}: {count} configuration problem{'s' if count > 1 else ''}",
            hint="fix them and check with: pantry-alert rules validate",
            problems=every,
            located=problems.located,
        )
    return config


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None, *, check_templates: bool = False) -> Config:
    """Read and validate a config file.  Raises ``ConfigError`` (exit 2)."""
    path = Path(path)
    data, text = read_document(path, max_bytes=MAX_CONFIG_BYTES)
    return parse(data, path, text, env, check_templates=check_templates)


def load_text(
    text: str, path: str | os.PathLike, env: Mapping[str, str] | None = None, *, check_templates: bool = False
) -> Config:
    """Validate ``text`` as the config file ``path`` would hold it: the same size, alias and
    depth limits, the same YAML version (1.1) and the same checks as ``load``.  Rule edits
    run it on the exact text they are about to write."""
    path = Path(path)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} would be larger than {MAX_CONFIG_BYTES // 1024} KiB")
    data = parse_yaml(text, path)
    return parse(data, path, text, env, check_templates=check_templates)
