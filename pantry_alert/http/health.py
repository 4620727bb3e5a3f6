"""``GET /healthz`` (the dead-man switch for the timer) and ``GET /metrics`` (Prometheus).

``/metrics`` is written with prometheus-client's own exposition
(``generate_latest`` over a registry built per scrape from the database), so
escaping, ``# HELP``/``# TYPE`` lines and the content type are the library's.
Every value is a gauge: the counts are of rows currently stored, which
``prune`` lowers.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse, Response

from ..errors import StateError
from ..store import health

log = logging.getLogger("pantry_alert.http")


def healthz(request):
    """200 ``{"status": "ok", "lastCheck": ms}`` when the last ``check`` ended within
    ``api.stale_after``; 503 otherwise (never ran, stale, or the database unusable)."""
    ws = request.app.state.ctx.workspace()
    stale_after = ws.config().api.stale_after_ms
    try:
        with ws.store() as store:
            run = health.last_run(store)
    except StateError as exc:
        # /healthz answers anyone: the reason (with the database's path) goes to the log only.
        log.error("healthz: %s", exc.message)
        message = "the state database cannot be used (the server log says why)"
        return JSONResponse({"status": "error", "lastCheck": None, "message": message}, status_code=503)
    now = ws.now()
    last = run["finishedAt"] if run else None
    if last is None:
        return JSONResponse(
            {"status": "stale", "lastCheck": None, "message": "no check run recorded yet"}, status_code=503
        )
    if now - last > stale_after:
        return JSONResponse(
            {
                "status": "stale",
                "lastCheck": last,
                "message": f"the last check run ended {(now - last) // 1000}s ago, "
                f"more than api.stale_after ({stale_after // 1000}s)",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "lastCheck": last})


def metrics(request):
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from ..store.pings import last_successes

    ws = request.app.state.ctx.workspace()
    config = ws.config()
    with ws.store() as store:
        active = health.active_counts(store)
        notifications = health.notification_counts(store)
        run = health.last_run(store)
        successes = last_successes(store) if config.heartbeats else {}
    registry = CollectorRegistry(auto_describe=False)
    snapshot = _Snapshot(config, active, notifications, run)
    snapshot.successes = {hb.name: successes[hb.name] for hb in config.heartbeats if hb.name in successes}
    registry.register(snapshot)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Snapshot:
    """A one-off collector over numbers already read from the database."""

    def __init__(self, config, active, notifications, run):
        self.config, self.active, self.notifications, self.run = config, active, notifications, run
        self.successes: dict[str, int] = {}  # heartbeat -> its last success ping (epoch ms)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        active = GaugeMetricFamily(
            "pantry_alert_active_alerts", "Unresolved alerts by rule and current severity", labels=["rule", "severity"]
        )
        seen = set()
        for rule, severity, count in self.active:
            active.add_metric([rule, severity], count)
            seen.add(rule)
        for rule in self.config.rules:  # 0 for a quiet rule, so absent and zero differ
            if rule.id not in seen:
                active.add_metric([rule.id, rule.severity], 0)
        yield active

        notifications = GaugeMetricFamily(
            "pantry_alert_notifications",
            "Stored notifications by channel and status (pending, sent, failed, skipped, deferred, unknown)",
            labels=["channel", "status"],
        )
        for channel, status, count in self.notifications:
            notifications.add_metric([channel, status], count)
        yield notifications

        if self.config.heartbeats:
            heartbeats = GaugeMetricFamily(
                "pantry_alert_heartbeat_last_success_timestamp_seconds",
                "When each heartbeat last pinged success (Unix time); absent until its first",
                labels=["heartbeat"],
            )
            for name, at in self.successes.items():
                heartbeats.add_metric([name], at / 1000)
            yield heartbeats

        if self.run is not None:
            yield GaugeMetricFamily(
                "pantry_alert_last_check_timestamp_seconds",
                "When the last check run ended (Unix time)",
                value=self.run["finishedAt"] / 1000,
            )
            if self.run["exitCode"] is not None:
                yield GaugeMetricFamily(
                    "pantry_alert_last_check_exit_code", "Exit code of the last check run", value=self.run["exitCode"]
                )


def routes() -> list:
    from starlette.routing import Route

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
