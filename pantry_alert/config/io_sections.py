"""The sections of ``rules.yaml`` that reach outside the process: the metrics source (a JSON
document or Prometheus), the state database, the channels and the HTTP API.

Parsers as in ``config.sections`` (which lists them all in ``SECTIONS``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ConfigError
from ..links import parse as parse_link_settings
from ..notify.registry import CHANNEL_NAMES, channel_module, unconfigured
from .checks import (
    CONTROL_CHARS,
    Problems,
    duration_setting,
    header_settings,
    mapping_setting,
    unknown_keys,
    url_setting,
)
from .model import DEFAULT_SESSION_TTL_MS, DEFAULT_STALE_AFTER_MS, ApiSettings
from .source_model import (
    DEFAULT_DELIVERY_BUDGET_MS,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_RETENTION_MS,
    DEFAULT_SOURCE_TIMEOUT_MS,
    PrometheusSource,
    Source,
    StateSettings,
)

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .sections import Parse

SOURCE_KEYS = {"url", "file", "prometheus", "timeout", "headers", "path", "alert_after"}
STATE_KEYS = {"path", "retention", "lock_timeout", "delivery_budget"}
API_KEYS = {"token", "stale_after", "ping_key", "session_ttl", "public_url", "link_secret", "link_ttl"}


# ----------------------------------------------------------------- source, state


def source(value: Any, p: Parse) -> Source:
    problems = p.problems
    src = mapping_setting(value, ("source",), problems)
    unknown_keys(src, SOURCE_KEYS, ("source",), problems)
    given = [key for key in ("url", "file", "prometheus") if src.get(key)]
    if len(given) > 1:
        problems.add(("source",), f"give one of url, file or prometheus, not {' and '.join(given)}")
    headers = header_settings(src.get("headers"), ("source", "headers"), problems)
    alert_after = src.get("alert_after", 3)
    if isinstance(alert_after, bool) or not isinstance(alert_after, int) or alert_after < 1:
        problems.add(("source", "alert_after"), f"must be a whole number ≥ 1, not {alert_after!r}")
        alert_after = 3
    timeout_ms = duration_setting(src, "timeout", DEFAULT_SOURCE_TIMEOUT_MS, ("source",), problems, positive=True)
    return Source(
        url=url_setting(src.get("url"), ("source", "url"), problems),
        file=str(src["file"]) if src.get("file") else None,
        timeout_ms=timeout_ms,
        headers=headers,
        path=str(src["path"]) if src.get("path") else None,
        alert_after=alert_after,
        prometheus=_prometheus_source(src, problems, headers, timeout_ms),
    )


def state(value: Any, p: Parse) -> StateSettings:
    st = mapping_setting(value, ("state",), p.problems)
    unknown_keys(st, STATE_KEYS, ("state",), p.problems)
    return StateSettings(
        path=str(st["path"]) if st.get("path") else None,
        retention_ms=duration_setting(st, "retention", DEFAULT_RETENTION_MS, ("state",), p.problems),
        lock_timeout_ms=duration_setting(
            st, "lock_timeout", DEFAULT_LOCK_TIMEOUT_MS, ("state",), p.problems, positive=True
        ),
        delivery_budget_ms=duration_setting(
            st, "delivery_budget", DEFAULT_DELIVERY_BUDGET_MS, ("state",), p.problems, positive=True
        ),
    )


_METRIC_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def _prometheus_source(src: dict, problems: Problems, base_headers: dict, timeout_ms: int) -> PrometheusSource | None:
    """``source.prometheus: {url, queries: {<dotted path>: <PromQL>}, headers, timeout}``."""
    keys = ("source", "prometheus")
    if src.get("prometheus") is None:
        return None
    prom = mapping_setting(src["prometheus"], keys, problems)
    unknown_keys(prom, {"url", "queries", "headers", "timeout"}, keys, problems)
    if src.get("path"):
        problems.add(("source", "path"), "applies to a JSON document (url or file), not to prometheus")
    url = url_setting(prom.get("url"), keys + ("url",), problems)
    if not prom.get("url") and keys + ("url",) not in problems.uninterpolated:
        problems.add(keys, "needs the Prometheus server's url, e.g. http://localhost:9090")
    queries: dict[str, str] = {}
    raw = mapping_setting(prom.get("queries"), keys + ("queries",), problems)
    if not raw:
        problems.add(keys, "needs queries: a mapping of metric paths (as rules read them) to PromQL")
    for path, query in raw.items():
        where = keys + ("queries", path)
        if not isinstance(path, str) or not _METRIC_PATH.match(path):
            problems.add(
                where, f"{path!r} is not a metric path (names joined by dots, e.g. memoryUsage.current.heapUsed)"
            )
        elif not isinstance(query, str) or not query.strip():
            problems.add(where, "must be a PromQL expression")
        else:
            queries[path] = query.strip()
    for path in queries:  # a path cannot be a number and an object at once
        for other in queries:
            if other.startswith(path + "."):
                problems.add(keys + ("queries", other), f"'{other}' lies inside '{path}', which is a query of its own")
    headers = dict(base_headers)  # source.headers, then the prometheus section's own
    headers.update(mapping_setting(prom.get("headers"), keys + ("headers",), problems))
    return PrometheusSource(
        url=url or "",
        queries=queries,
        headers={str(k): str(v) for k, v in headers.items()},
        timeout_ms=duration_setting(prom, "timeout", timeout_ms, keys, problems, positive=True),
    )


# ----------------------------------------------------------------- channels


def channels(value: Any, p: Parse) -> dict[str, dict | None]:
    """The ``channels.<name>`` sections; each configured channel's settings are built here, once
    (kept on ``Config.channel_settings``), so that each problem is reported with its file and line."""
    problems = p.problems
    sections: dict[str, dict | None] = {}
    for name, section in mapping_setting(value, ("channels",), problems).items():
        if name not in CHANNEL_NAMES:
            problems.add(("channels", name), f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
            continue
        section = mapping_setting(section, ("channels", name), problems)
        if "headers" in section:
            header_settings(section["headers"], ("channels", name, "headers"), problems)
        for key in ("token", "password", "user"):
            if isinstance(section.get(key), str) and CONTROL_CHARS.search(section[key]):
                problems.add(
                    ("channels", name, key),
                    "contains a control character (CR, LF or another; an env file with CRLF line endings?); "
                    "the value is not shown",
                )
        sections[name] = section
    p.config.channel_settings = _channel_settings(sections, p.env, problems)
    p.config.settings_env = p.env
    return sections


def _channel_settings(sections: Mapping[str, dict | None], env: Mapping[str, str], problems: Problems) -> dict:
    """name -> settings of every configured, valid channel (the console included)."""
    built = {}
    for name in CHANNEL_NAMES:
        if name in problems.channel_items:  # an unset ${VAR} or a malformed section: said already
            continue
        section = sections.get(name)
        if unconfigured(name, section, env):  # nothing to check, and no need to import the channel
            continue
        module = channel_module(name)
        keys = ("channels", name)
        if section:
            for key in section:
                if key not in module.SECTION_KEYS:
                    allowed = ", ".join(sorted(module.SECTION_KEYS)) or "none"
                    problems.add(keys + (key,), f"unknown key '{key}' (allowed: {allowed})")
            if name in problems.channel_items:
                continue
        try:
            settings = module.settings(section, env)
        except ConfigError as exc:
            path = exc.keys or _leading_keys(exc.message)
            if path and section and path[0] in section:
                problems.add(keys + path, exc.message.partition(": ")[2] if not exc.keys else exc.message)
            else:
                problems.add(keys, exc.message)
            continue
        if settings is not None:
            built[name] = settings
    return built


def _leading_keys(message: str) -> tuple[str, ...]:
    """The key path a channel's message starts with (``"port: ..."``), for a channel whose
    ``settings`` raises ``ConfigError`` without ``keys``."""
    head, sep, _rest = message.partition(": ")
    return tuple(head.split(".")) if sep else ()


# ----------------------------------------------------------------- api


def api(value: Any, p: Parse) -> ApiSettings:
    problems = p.problems
    section = mapping_setting(value, ("api",), problems)
    unknown_keys(section, API_KEYS, ("api",), problems)
    token = section.get("token")
    if token is not None and not isinstance(token, str):
        problems.add(("api", "token"), 'must be a string (write it through ${VAR}, e.g. "${PANTRY_ALERT_API_TOKEN}")')
        token = None
    settings = ApiSettings(
        token=(token.strip() or None) if isinstance(token, str) else None,
        stale_after_ms=duration_setting(
            section, "stale_after", DEFAULT_STALE_AFTER_MS, ("api",), problems, positive=True
        ),
        session_ttl_ms=duration_setting(
            section, "session_ttl", DEFAULT_SESSION_TTL_MS, ("api",), problems, positive=True
        ),
        public_url=(public_url := url_setting(section.get("public_url"), ("api", "public_url"), problems)),
        links=parse_link_settings(section, p.env, problems, public_url),
    )
    if section.get("ping_key") is not None:
        from .heartbeats import ping_key

        settings.ping_key = ping_key(section["ping_key"], problems)
    return settings
