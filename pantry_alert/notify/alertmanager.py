"""The Alertmanager channel: keep Alertmanager's view of the alerts in step.

==========  ==================  ==============================================
key         env                 meaning
==========  ==================  ==============================================
urls        ALERTMANAGER_URLS   every Alertmanager (each peer of a cluster, never
                                a load balancer); a list, or comma-separated
headers     -                   extra request headers (a mapping)
timeout     -                   total per request, default 10s
interval    -                   how often ``check`` runs, default 1m
==========  ==================  ==============================================

Unlike the other channels it does not send messages per notification.  Each
``check`` run posts, in one request per URL to ``/api/v2/alerts``, the whole
state routed to it (``sync``): every active, unsilenced alert with ``endsAt``
= now + 4 × interval (so two missed runs never resolve it), every such alert
resolved in the last 15 minutes with ``endsAt`` at its resolution, and the
label set an alert had before escalation changed its severity, ended at the
escalation.  Alertmanager groups, repeats, silences, inhibits and routes.

Labels: ``alertname`` (rule id), ``severity`` (current), ``type``,
``service`` and the rule's labels (names made valid for Alertmanager; the
four above cannot be overridden).  No host label: two hosts running the same
rules send identical label sets, which an Alertmanager cluster merges.

httpx is imported only when something is posted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DeliveryError
from ..labels import label_name
from ..record import FrozenRecord, Record
from ..redact import redact_url, scrub
from ..timeutil import rfc3339
from ..urls import is_http_url, why_not
from .capabilities import Capabilities
from .settings import DEFAULT_TIMEOUT, check_section, parse_timeout, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

NAME = "alertmanager"
# one state synchronisation per run, not a message per notification
CAPABILITIES = Capabilities(env=("ALERTMANAGER_URLS",), sync=True)
SECTION_KEYS = ("urls", "headers", "timeout", "interval")
API_PATH = "/api/v2/alerts"
DEFAULT_INTERVAL_MS = 60_000
RESOLVED_WINDOW_MS = 15 * 60_000  # resolved alerts are repeated this long, as Prometheus does
_SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|cookie|password|session", re.IGNORECASE)


# ---------------------------------------------------------------- settings


class Settings(FrozenRecord):
    """The Alertmanager channel's settings."""

    urls: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    timeout: float
    interval_ms: int
    _fields = ("urls", "headers", "timeout", "interval_ms")
    _shown = ("timeout", "interval_ms")  # not the secrets

    def __init__(
        self,
        urls: tuple[str, ...],
        headers: tuple[tuple[str, str], ...] = (),
        timeout: float = DEFAULT_TIMEOUT,
        interval_ms: int = DEFAULT_INTERVAL_MS,
    ) -> None:
        object.__setattr__(self, "urls", urls)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "interval_ms", interval_ms)

    def secrets(self) -> list[str]:
        found: list[str] = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.password:
                found += [parts.password, unquote(parts.password)]
            if parts.query:
                found += [parts.query] + [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
        found += [value for name, value in self.headers if _SECRET_HEADER.search(name)]
        return found

    @property
    def peers(self) -> list[str]:
        return [redact_url(url) for url in self.urls]

    def describe(self) -> str:
        """One secret-free line for ``rules list`` and ``test-notify``."""
        text = "POST " + ", ".join(self.peers)
        return text + (f" (headers: {', '.join(n for n, _ in self.headers)})" if self.headers else "")


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    """Build the settings; ``None`` when no URL is configured."""
    from ..timeutil import parse_duration
    from .webhook import parse_headers

    sec = check_section(section, SECTION_KEYS)
    raw, where = picker(sec, env)("urls", "ALERTMANAGER_URLS")
    timeout = parse_timeout(sec.get("timeout"), "timeout")
    headers = parse_headers(sec.get("headers"), "headers")
    interval_ms = DEFAULT_INTERVAL_MS
    if sec.get("interval") not in (None, ""):
        try:
            interval_ms = parse_duration(sec["interval"], what="interval")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if interval_ms <= 0:
            raise ConfigError(f"interval: must be more than 0, not {sec['interval']!r}")
    if raw is None:
        return None
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",")]
    elif isinstance(raw, list):
        items = [part.strip() if isinstance(part, str) else part for part in raw]
    else:
        raise ConfigError(f"{where}: must be a list of URLs (or one comma-separated string)")
    urls: list[str] = []
    for item in items:
        if item == "":
            continue
        if not is_http_url(item):
            raise ConfigError(f"{where}: invalid Alertmanager URL {redact_url(str(item))!r} ({why_not(item)})")
        url = item.rstrip("/")
        if not url.endswith(API_PATH):
            url += API_PATH
        if url not in urls:
            urls.append(url)
    if not urls:
        return None
    return Settings(urls=tuple(urls), headers=headers, timeout=timeout, interval_ms=interval_ms)


# ---------------------------------------------------------------- the alerts


def labels_of(alert: Mapping[str, Any], service: str, severity: str | None = None) -> dict[str, str]:
    """The identity of an alert in Alertmanager (``alert`` in the JSON shape of ``Alert.to_json``)."""
    labels = {label_name(str(k)): str(v) for k, v in (alert.get("labels") or {}).items() if str(v) != ""}
    labels.update(
        alertname=str(alert["ruleId"]),
        severity=str(severity or alert["severity"]),
        type=str(alert["type"]),
        service=service,
    )
    return labels


def postable(
    alert: Mapping[str, Any],
    *,
    now: int,
    service: str,
    dashboard_url: str | None,
    interval_ms: int,
    ends_at: int | None = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """One entry of the ``POST /api/v2/alerts`` array.

    ``ends_at`` None: the alert is firing and ends at now + 4 × interval unless
    a later run repeats it; resolved alerts end at their resolution."""
    if ends_at is None:
        ends_at = alert["resolvedAt"] if alert.get("resolvedAt") is not None else now + 4 * interval_ms
    annotations = {
        "summary": alert.get("title") or "",
        "description": alert.get("description") or "",
        "runbook_url": alert.get("runbookUrl") or "",
        "dashboard_url": dashboard_url or "",
        "alert_id": str(alert["id"]),
    }
    if alert.get("status") == "acknowledged" and alert.get("acknowledgedBy"):
        annotations["acknowledged_by"] = str(alert["acknowledgedBy"])
    if alert.get("status") == "resolved":  # how long it fired, as every resolved notice says
        from .base import resolved_after_text

        annotations["resolved_after"] = resolved_after_text(dict(alert)) or ""
    starts_at = int(alert["timestamp"])
    out = {
        "labels": labels_of(alert, service, severity),
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(max(ends_at, starts_at)),
    }
    if dashboard_url:
        out["generatorURL"] = dashboard_url
    return out


def state_payload(
    active: Iterable[Mapping[str, Any]],
    resolved: Iterable[Mapping[str, Any]],
    superseded: Iterable[tuple[Mapping[str, Any], str, int]],
    *,
    now: int,
    service: str,
    dashboard_url: str | None,
    interval_ms: int,
) -> list[dict[str, Any]]:
    """The array one run posts: firing alerts, recently resolved ones, and the label
    sets escalation replaced (``(alert, old severity, escalated at)``), each ended then."""
    common: dict[str, Any] = {
        "now": now,
        "service": service,
        "dashboard_url": dashboard_url,
        "interval_ms": interval_ms,
    }
    out = [postable(a, **common, ends_at=None) for a in active]
    out += [postable(a, **common, ends_at=a["resolvedAt"]) for a in resolved]
    out += [postable(a, **common, ends_at=at, severity=old) for a, old, at in superseded]
    return out


# ---------------------------------------------------------------- posting


class PeerResult(Record):
    """The outcome of one Alertmanager peer."""

    url: str  # shown without credentials or query
    ok: bool
    error: str | None
    _fields = ("url", "ok", "error")
    _shown = _fields

    def __init__(self, url: str, ok: bool, error: str | None = None) -> None:
        self.url = url
        self.ok = ok
        self.error = error


def post(settings: Settings, payload: list[dict[str, Any]], version: str = "") -> list[PeerResult]:
    """POST ``payload`` to every URL concurrently, one request each; never raises."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = {name: value for name, value in settings.headers}
    headers["Content-Type"] = "application/json"
    if not any(k.lower() == "user-agent" for k in headers):
        headers["User-Agent"] = f"pantry-alert/{version or 'dev'}"
    secrets: list[str | None] = list(settings.secrets())

    def one(url: str) -> PeerResult:
        from ..fetch import FetchError, channel_problem, fetch

        shown = redact_url(url)
        try:
            # A total deadline and a bounded answer: a trickling or endless Alertmanager
            # cannot hold the run (and its lock) past ``timeout``.
            response = fetch(
                "POST",
                url,
                timeout_s=settings.timeout,
                headers=headers,
                content=body,
                secrets=secrets,
                accept_encoding=False,
            )
        except FetchError as exc:
            return PeerResult(shown, False, channel_problem(exc, settings.timeout))
        if response.ok:
            return PeerResult(shown, True)
        snippet = " ".join(scrub(response.text(), secrets).split())
        snippet = snippet if len(snippet) <= 200 else snippet[:199] + "…"
        text = f"HTTP {response.status} {response.reason}".rstrip() + (f": {snippet}" if snippet else "")
        return PeerResult(shown, False, text)

    if len(settings.urls) == 1:
        return [one(settings.urls[0])]
    from concurrent.futures import ThreadPoolExecutor  # with logging: ~5 ms a run that syncs nothing need not pay

    with ThreadPoolExecutor(max_workers=len(settings.urls), thread_name_prefix="alertmanager") as pool:
        return list(pool.map(one, settings.urls))


def send(settings: Settings, message: Message) -> list[str]:
    """Post one alert (``test-notify``): a test or resolved alert ends at once.

    Returns a warning per URL that failed while another accepted; raises
    ``DeliveryError`` when none accepted."""
    ends_at = message.now_ms if message.kind in ("test", "resolved") else None
    entry = postable(
        message.alert,
        now=message.now_ms,
        service=message.service,
        dashboard_url=message.dashboard_url,
        interval_ms=settings.interval_ms,
        ends_at=ends_at,
    )
    results = post(settings, [entry], message.version)
    failed = [f"alertmanager {r.url}: {r.error}" for r in results if not r.ok]
    if len(failed) == len(results):
        raise DeliveryError("; ".join(failed))
    return failed


# ---------------------------------------------------------------- the run's sync


class SyncOutcome(Record):
    """What one run's sync did; ``ok`` when at least one URL accepted (or nothing was due)."""

    channel: str
    alerts: int
    peers: list[PeerResult]
    _fields = ("channel", "alerts", "peers")
    _shown = _fields

    def __init__(self, channel: str, alerts: int, peers: list[PeerResult] | None = None) -> None:
        self.channel = channel
        self.alerts = alerts
        self.peers = [] if peers is None else peers

    @property
    def ok(self) -> bool:
        return not self.peers or any(p.ok for p in self.peers)

    def warnings(self) -> list[str]:
        return [f"{self.channel} {p.url}: {p.error}" for p in self.peers if not p.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "alerts": self.alerts,
            "ok": self.ok,
            "peers": [{"url": p.url, "ok": p.ok, "error": p.error} for p in self.peers],
        }


def routed(alert, config) -> bool:
    """Whether an alert goes to Alertmanager: its channels (the rule's, plus escalation's),
    or a severity route of the config naming the channel.  Held alerts (a silence, an open
    maintenance window, an inhibiting rule's unresolved alert) are not."""
    if alert.silenced or getattr(alert, "inhibited", False):
        return False
    routes = getattr(config, "routes", None) or {}
    return NAME in alert.channels or NAME in (routes.get(alert.severity) or ())


def sync(store, config, settings: Settings, now: int) -> SyncOutcome:
    """Post the state of every alert routed here, once per URL (see the module docstring)."""
    from .. import __version__
    from ..store.handoff import escalations_since, resolved_since

    since = now - RESOLVED_WINDOW_MS
    active = [a for a in store.active_alerts().values() if routed(a, config)]
    resolved = [a for a in resolved_since(store, since) if routed(a, config)]
    by_id = {a.id: a for a in active + resolved}
    escalated = [a.id for a in by_id.values() if a.escalated]
    superseded = [
        (by_id[alert_id].to_json(), old, at) for alert_id, old, at in escalations_since(store, escalated, since)
    ]
    payload = state_payload(
        [a.to_json() for a in active],
        [a.to_json() for a in resolved],
        superseded,
        now=now,
        service=config.service,
        dashboard_url=config.dashboard_url,
        interval_ms=settings.interval_ms,
    )
    outcome = SyncOutcome(NAME, len(payload))
    if payload:
        outcome.peers = post(settings, payload, __version__)
    return outcome
