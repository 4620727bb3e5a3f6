"""Local stand-ins for the paging and chat services, answering as each service does.

One threaded HTTP server per service, shared by a test session (``reach`` fixture)
and reset around each test: PagerDuty's Events API (202), an ntfy server (200 with
the message), a Teams Workflows webhook (202), Telegram's Bot API (``{"ok": true}``),
a Discord webhook (204) and a JSON endpoint for Apprise's ``json://``.  Each
records every POST (path, headers, JSON body); ``then`` queues other answers (400,
429 with Retry-After, 503) for the next requests.
"""

from __future__ import annotations

import copy
import json

from conftest import SAMPLE_ALERT, T0
from delivery_world import Peer
from werkzeug import Request, Response

from pantry_alert.notify.base import Message

PD_KEY = "pd-routing-Key-8c1e5a77"
NTFY_TOKEN = "tk_ntfyS3cretToken42"
TEAMS_SIG = "teamsSigQ7w2LbA9zz"
TG_TOKEN = "123456:AAE-telegramBotT0kenXyz"
DISCORD_TOKEN = "discordWebhookTok3nVv81"
APPRISE_TOKEN = "appriseP4ssw0rdQq"
SECRETS = (PD_KEY, NTFY_TOKEN, TEAMS_SIG, TG_TOKEN, DISCORD_TOKEN, APPRISE_TOKEN)
DASHBOARD = "https://crm.example.com/dashboard/performance"
RUNBOOK = "https://wiki.example.com/runbooks/cpu"
TEAMS_PATH = "/workflows/9f2a/triggers/manual/paths/invoke"
DISCORD_PATH = f"/api/webhooks/1234567890/{DISCORD_TOKEN}"


def json_answer(status: int, body: dict, headers: dict | None = None):
    return lambda request: Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def pagerduty_ok(request: Request) -> Response:
    event = json.loads(request.get_data())
    return json_answer(202, {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")})(
        request
    )


def ntfy_ok(request: Request) -> Response:
    body = json.loads(request.get_data())
    return json_answer(200, {"id": "hwQ2YpKdmg", "time": 1764158400, "event": "message", "topic": body["topic"]})(
        request
    )


SERVICES = {
    "pagerduty": ("/v2/enqueue", pagerduty_ok),
    "ntfy": ("/", ntfy_ok),
    "teams": (TEAMS_PATH, lambda request: Response("", status=202)),
    "telegram": (f"/bot{TG_TOKEN}/sendMessage", json_answer(200, {"ok": True, "result": {"message_id": 7}})),
    "discord": (DISCORD_PATH, lambda request: Response(status=204)),
    "apprise": ("/apprise", json_answer(200, {"ok": True})),
}


class Receivers:
    def __init__(self):
        self.peers = {name: Peer(path, answer) for name, (path, answer) in SERVICES.items()}

    def __getitem__(self, name: str) -> Peer:
        return self.peers[name]

    def base(self, name: str) -> str:
        return self.peers[name].url("")

    def sections(self) -> dict[str, dict]:
        """``channels:`` sections pointing every service at its receiver."""
        return {
            "pagerduty": {"routing_key": PD_KEY, "url": self["pagerduty"].url("/v2/enqueue")},
            "ntfy": {"url": self.base("ntfy"), "topic": "pantry-alerts", "token": NTFY_TOKEN},
            "teams": {"webhook_url": self["teams"].url(f"{TEAMS_PATH}?api-version=1&sig={TEAMS_SIG}")},
            "telegram": {"bot_token": TG_TOKEN, "chat_id": "-1001234567", "api_url": self.base("telegram")},
            "discord": {"webhook_url": self["discord"].url(DISCORD_PATH)},
            "apprise": {"urls": [f"json://ops:{APPRISE_TOKEN}@127.0.0.1:{self['apprise'].server.port}/apprise"]},
        }

    def settings(self, name: str, **extra):
        from pantry_alert.notify import registry

        return registry.channel_module(name).settings({**self.sections()[name], **extra}, {})

    def reset(self) -> None:
        for peer in self.peers.values():
            peer.reset()
            peer.server.check_assertions()
            peer.server.clear_log()

    def stop(self) -> None:
        for peer in self.peers.values():
            peer.stop()


def message(kind: str = "firing", ack_url: str | None = None, dashboard: str | None = DASHBOARD, **alert_changes):
    alert = copy.deepcopy(SAMPLE_ALERT)
    alert.update(alert_changes)
    return Message(
        kind=kind,
        alert=alert,
        idempotency_key=f"{alert['id']}:{kind}",
        now_ms=T0 + 60_000,
        service="kitchen-pantry-crm",
        service_name="Kitchen Pantry CRM",
        dashboard_url=dashboard,
        version="0.1.0",
        ack_url=ack_url,
    )
