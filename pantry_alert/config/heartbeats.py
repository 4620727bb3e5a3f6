"""rules.yaml's ``heartbeats:`` section: one entry per job that reports by pings.

Loaded only when the section is there.  Each heartbeat becomes the alert rule
``heartbeat_<name>`` (type ``heartbeat``), so that routes, silences, quiet
hours, digests, acknowledgements and resolved notices apply to it as to any
rule.
"""

from __future__ import annotations

import re

from ..heartbeats import Heartbeat, check_schedule
from ..model import SEVERITIES
from .checks import (
    Problems,
    bool_setting,
    channel_list,
    duration_setting,
    mapping_setting,
    unknown_keys,
    url_setting,
)
from .model import Rule

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .sections import Parse

DEFAULT_GRACE_MS = 10 * 60_000
DEFAULT_HEARTBEAT_COOLDOWN_MS = 60 * 60_000
MIN_PING_KEY = 16  # characters: the key is all that guards /ping/ from any host
HEARTBEAT_TYPE = "heartbeat"
NAME = re.compile(r"^[a-z0-9_]+$")


def heartbeats(value, p: Parse, allowed: set[str]) -> list[Heartbeat]:
    """``heartbeats: {<name>: {schedule | every, timezone, grace, max_runtime, severity, channels,
    description, runbook_url, cooldown, alert_if_never}}`` (``allowed`` keys).  Parsed after
    ``rules``, whose ids may not take a heartbeat's alert rule id."""
    out: list[Heartbeat] = []
    for name, raw in mapping_setting(value, ("heartbeats",), p.problems).items():
        hb = _heartbeat(name, raw, allowed, p.config.timezone, p.problems)
        if hb is not None:
            out.append(hb)
    _check_rule_ids(out, p.problems)
    return out


def _heartbeat(name, raw, allowed: set[str], default_tz: str | None, problems: Problems) -> Heartbeat | None:
    keys = ("heartbeats", name)
    if not isinstance(name, str) or not NAME.match(name):
        problems.add(keys, f"heartbeat name {name!r} must match [a-z0-9_]+")
        return None
    section = mapping_setting(raw, keys, problems)
    if not isinstance(raw, dict):
        return None
    unknown_keys(section, allowed, keys, problems)
    schedule, every = section.get("schedule"), None
    if "every" in section and schedule is not None:
        problems.add(keys, "give schedule (cron) or every (a duration), not both")
    elif schedule is not None:
        why = check_schedule(schedule)
        if why:
            problems.add(keys + ("schedule",), why)
            schedule = None
    elif "every" in section:
        every = duration_setting(section, "every", None, keys, problems, positive=True)
    else:
        problems.add(keys, "needs schedule (cron, e.g. '30 2 * * *') or every (a duration, e.g. 1h)")
    zone = section.get("timezone") or default_tz or "UTC"
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(zone))
    except Exception:
        problems.add(keys + ("timezone",), f"unknown time zone {zone!r} (use an IANA name like Europe/Berlin)")
        zone = "UTC"
    severity = section.get("severity", "high")
    if severity not in SEVERITIES:
        problems.add(keys + ("severity",), f"severity {severity!r} must be one of {', '.join(SEVERITIES)}")
        severity = "high"
    if "channels" not in section:
        problems.add(keys, "needs channels: the channels its alert goes to, e.g. [email]")
    description = section.get("description")
    if description is not None and (not isinstance(description, str) or not description.strip()):
        problems.add(keys + ("description",), "must be a non-empty string")
        description = None
    max_runtime = duration_setting(section, "max_runtime", None, keys, problems, positive=True)
    grace = duration_setting(section, "grace", DEFAULT_GRACE_MS, keys, problems)
    alert_if_never = bool_setting(section, "alert_if_never", False, keys, problems)
    rule = Rule(
        id=f"heartbeat_{name}",
        name=f"Heartbeat {name}",
        type=HEARTBEAT_TYPE,
        severity=str(severity),
        when=None,
        cooldown_ms=duration_setting(section, "cooldown", DEFAULT_HEARTBEAT_COOLDOWN_MS, keys, problems, bare_unit="m"),
        channels=channel_list(section.get("channels", []), keys + ("channels",), problems),
        description=description or f"{name} has not reported",
        runbook_url=url_setting(section.get("runbook_url"), keys + ("runbook_url",), problems),
    )
    if schedule is None and every is None:
        return None
    return Heartbeat(
        name=name,
        rule=rule,
        schedule=schedule,
        every_ms=every,
        timezone=str(zone),
        grace_ms=grace,
        max_runtime_ms=max_runtime,
        alert_if_never=alert_if_never,
    )


def _check_rule_ids(found: list[Heartbeat], problems: Problems) -> None:
    """A rule may not take the id of a heartbeat's alert rule."""
    taken = {hb.rule_id: hb.name for hb in found}
    for index, rule_id in enumerate(problems.rule_ids):
        if rule_id in taken:
            problems.add(
                ("rules", index, "id"),
                f"rule id '{rule_id}' is the alert rule of heartbeat '{taken[rule_id]}'; choose another id",
                rule_id,
            )


def ping_key(value, problems: Problems) -> str | None:
    """``api.ping_key``: at least ``MIN_PING_KEY`` characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # absent, or "${PANTRY_ALERT_PING_KEY:-}" with the variable unset
    if not isinstance(value, str) or len(value.strip()) < MIN_PING_KEY:
        problems.add(
            ("api", "ping_key"),
            f"must be a string of at least {MIN_PING_KEY} characters (e.g. ${{PANTRY_ALERT_PING_KEY}}, "
            "made with `openssl rand -hex 16`); the value is not shown",
        )
        return None
    return value.strip()
