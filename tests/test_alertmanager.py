"""The alertmanager channel against the real Alertmanager (Debian's 0.25).

Alertmanager keeps its own clock, so every ``check`` here runs with
``PANTRY_ALERT_NOW`` at the real time (plus small offsets where a test needs
time to pass for pantry-alert).  Each test uses a service name of its own, so
the module's Alertmanagers can be shared: every query filters by it.
"""

from __future__ import annotations

import time

import pytest
from conftest import Cli, free_port
from promstack import Alertmanager, Recorder, start_alertmanagers, wait_for

pytestmark = pytest.mark.slow  # real servers and processes

DASHBOARD = "https://crm.example.com/dashboard/performance"
RUNBOOK = "https://wiki.example.com/runbooks/cpu"
NFLOG_QUERIES = "alertmanager_nflog_queries_total"
CONFIG = """
service: {service}
dashboard_url: {dashboard}
channels:
  alertmanager:
    urls: [{urls}]
    interval: 1m
escalation:
  thresholds: {{low: 1}}
  add_channels: []
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: {severity}
    when: cpu > 90
    cooldown: {cooldown}
    channels: [alertmanager]
    description: "CPU at {{{{ cpu }}}}%"
    runbook_url: {runbook}
    labels: {{team: backend, "on-call": primary}}
"""


def real_now() -> int:
    return int(time.time() * 1000)


def after(ms: int) -> int:
    """The real time, once it is past ``ms`` (each run's clock must move on, and stay
    behind Alertmanager's, which is the real one)."""
    while (now := real_now()) <= ms:
        time.sleep(0.001)
    return now


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 time as Alertmanager writes it (``…:11.7Z``: no trailing zeros)."""
    from datetime import datetime

    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def setup(cli: Cli, urls: list[str], service: str, severity: str = "high", cooldown: str = "10m") -> None:
    cli.config.write_text(
        CONFIG.format(
            service=service,
            dashboard=DASHBOARD,
            urls=", ".join(urls),
            severity=severity,
            cooldown=cooldown,
            runbook=RUNBOOK,
        )
    )


@pytest.fixture(scope="module")
def hook():
    recorder = Recorder()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module")
def am(tmp_path_factory, hook):
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager"), hook.url + "/hook")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def capture():
    """A stand-in Alertmanager that records exactly what pantry-alert posts."""
    recorder = Recorder()
    yield recorder
    recorder.stop()


def notifications(hook: Recorder, service: str, status: str) -> list[dict]:
    return hook.matching(lambda b: b["commonLabels"].get("service") == service and b["status"] == status)


def test_a_firing_alert_appears_in_alertmanager_and_resolves_there(am, hook, capture, tmp_path):
    service = "crm-fire"
    cli = Cli(tmp_path)
    setup(cli, [am.url, capture.url], service)
    t1 = real_now()
    fired = cli.check({"cpu": 97}, "--json", now=t1)
    assert fired.code == 0, fired.err
    summary = fired.json()
    (alert_id,) = summary["fired"]
    assert summary["notifications"] == {"sent": 1, "failed": 0, "deferred": 0, "skipped": 0}
    assert summary["sync"] == [
        {
            "channel": "alertmanager",
            "alerts": 1,
            "ok": True,
            "peers": [
                {"url": am.url + "/api/v2/alerts", "ok": True, "error": None},
                {"url": capture.url + "/api/v2/alerts", "ok": True, "error": None},
            ],
        }
    ]
    labels = {
        "alertname": "cpu_high",
        "severity": "high",
        "type": "performance",
        "service": service,
        "team": "backend",
        "on_call": "primary",
    }
    annotations = {
        "summary": "CPU High",
        "description": "CPU at 97%",
        "runbook_url": RUNBOOK,
        "dashboard_url": DASHBOARD,
        "alert_id": alert_id,
    }
    # Exactly what was posted: one array, one alert.
    assert capture.paths == ["/api/v2/alerts"]
    assert capture.bodies == [
        [
            {
                "labels": labels,
                "annotations": annotations,
                "startsAt": iso(t1),
                "endsAt": iso(t1 + 4 * 60_000),
                "generatorURL": DASHBOARD,
            }
        ]
    ]
    # Alertmanager holds it with those labels and annotations.
    (held,) = am.alerts(service)
    assert held["labels"] == labels
    assert held["annotations"] == annotations
    assert held["status"]["state"] == "active"
    assert held["generatorURL"] == DASHBOARD
    assert ms(held["startsAt"]) == t1
    # Routing to Alertmanager records no per-alert notification.
    assert cli("show", alert_id, "--json").json()["notifications"] == []
    # Its webhook receiver gets the notification.
    (note,) = wait_for(lambda: notifications(hook, service, "firing"), "the firing webhook notification")
    assert note["receiver"] == "hook"
    assert [a["labels"] for a in note["alerts"]] == [labels]
    assert note["alerts"][0]["annotations"]["alert_id"] == alert_id

    # Every run repeats the state (no cooldown); an acknowledged alert carries who acknowledged it.
    assert cli("ack", alert_id, "--by", "alice", now=after(t1)).code == 0
    t2 = after(t1 + 1)
    again = cli.check({"cpu": 98}, "--json", now=t2)
    assert again.code == 0, again.err
    posted = capture.bodies[-1]
    assert len(capture.bodies) == 2 and len(posted) == 1
    assert posted[0]["annotations"]["acknowledged_by"] == "alice"
    assert posted[0]["endsAt"] == iso(t2 + 4 * 60_000)
    assert am.alerts(service)[0]["annotations"]["acknowledged_by"] == "alice"

    # Recovery: posted with endsAt at the resolution; Alertmanager resolves it and notifies.
    # (Alertmanager keeps the later of two endsAt unless the new one is already past: a
    # resolution takes effect when it is not ahead of Alertmanager's clock, as with Prometheus.)
    t3 = after(t2)
    resolved = cli.check({"cpu": 10}, "--json", now=t3)
    assert resolved.code == 0, resolved.err
    assert resolved.json()["resolved"] == [alert_id]
    assert capture.bodies[-1][0]["endsAt"] == iso(t3)
    assert capture.bodies[-1][0]["labels"] == labels
    wait_for(lambda: am.alerts(service) == [], "Alertmanager to drop the resolved alert", timeout=15)
    (done,) = wait_for(lambda: notifications(hook, service, "resolved"), "the resolved webhook notification", 15)
    assert [a["labels"] for a in done["alerts"]] == [labels]
    assert ms(done["alerts"][0]["endsAt"]) == t3

    # The resolution is repeated for 15 minutes, then no longer.
    later = cli.check({"cpu": 10}, "--json", now=t3 + 14 * 60_000)
    assert later.json()["sync"][0]["alerts"] == 1
    assert capture.bodies[-1][0]["endsAt"] == iso(t3)
    count = len(capture.bodies)
    gone = cli.check({"cpu": 10}, "--json", now=t3 + 16 * 60_000)
    assert gone.code == 0
    assert "sync" in gone.json() and gone.json()["sync"][0]["alerts"] == 0
    assert len(capture.bodies) == count  # nothing to post: no request
    assert cli("show", alert_id, "--json").json()["notifications"] == []  # never through the outbox


def test_escalation_ends_the_old_label_set(capture, tmp_path):
    cli = Cli(tmp_path)
    setup(cli, [capture.url], "crm-escalate", severity="low", cooldown="1s")
    t1 = real_now()
    assert cli.check({"cpu": 97}, now=t1).code == 0
    escalated = cli.check({"cpu": 97}, "--json", now=t1 + 2000)
    assert escalated.code == 0, escalated.err
    assert escalated.json()["escalated"]
    posted = capture.bodies[-1]
    by_severity = {a["labels"]["severity"]: a for a in posted}
    assert set(by_severity) == {"medium", "low"}
    assert by_severity["medium"]["endsAt"] == iso(t1 + 2000 + 4 * 60_000)
    assert by_severity["low"]["endsAt"] == iso(t1 + 2000)  # the old label set, ended now
    assert by_severity["low"]["startsAt"] == by_severity["medium"]["startsAt"] == iso(t1)


def test_test_notify_posts_a_test_alert_that_ends_at_once(am, capture, tmp_path):
    cli = Cli(tmp_path)
    setup(cli, [am.url, capture.url], "crm-test")
    now = real_now()
    result = cli("test-notify", "alertmanager", now=now)
    assert result.code == 0, result.err
    assert result.out == (
        f"Test notification sent via alertmanager (POST {am.url}/api/v2/alerts, {capture.url}/api/v2/alerts)\n"
    )
    ((posted,),) = capture.bodies
    assert posted["labels"] == {
        "alertname": "pantry_alert_test",
        "severity": "low",
        "type": "business",
        "service": "crm-test",
    }
    assert posted["startsAt"] == posted["endsAt"] == iso(now)
    assert am.alerts("crm-test") == []  # ended at once


def test_one_alertmanager_down_is_a_warning_both_down_a_failure_until_they_return(hook, tmp_path):
    service = "crm-outage"
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    cli = Cli(tmp_path)
    setup(cli, urls, service)

    down = cli.check({"cpu": 97}, "--json", now=real_now())
    assert down.code == 1
    summary = down.json()
    assert summary["notifications"]["failed"] == 1 and summary["notifications"]["sent"] == 0
    assert summary["sync"][0]["ok"] is False
    assert [p["ok"] for p in summary["sync"][0]["peers"]] == [False, False]
    human = cli.check({"cpu": 97}, now=real_now())
    assert human.code == 1
    for url in urls:
        assert (
            f"warning: alertmanager {url}/api/v2/alerts: cannot connect: connection refused (nothing listens on that host and port?)\n"
            in human.err
        )
    assert "warning: alertmanager: no URL accepted the state of 1 alert(s); the next run sends it again" in human.err

    first = Alertmanager(tmp_path / "am1", hook.url + "/hook", port=ports[0])
    second = None
    try:
        first.wait_ready()
        one_up = cli.check({"cpu": 97}, "--json", now=real_now())
        assert one_up.code == 0, one_up.err
        assert one_up.json()["notifications"]["sent"] == 1
        assert [p["ok"] for p in one_up.json()["sync"][0]["peers"]] == [True, False]
        warned = cli.check({"cpu": 97}, now=real_now())
        assert warned.code == 0
        assert (
            f"warning: alertmanager {urls[1]}/api/v2/alerts: cannot connect: connection refused (nothing listens on that host and port?)\n"
            in warned.err
        )
        assert f"{urls[0]}/api/v2/alerts" not in warned.err
        assert [a["labels"]["alertname"] for a in first.alerts(service)] == ["cpu_high"]

        second = Alertmanager(tmp_path / "am2", hook.url + "/hook", port=ports[1])
        second.wait_ready()
        both = cli.check({"cpu": 97}, now=real_now())
        assert both.code == 0 and "warning" not in both.err
        assert [a["labels"]["alertname"] for a in second.alerts(service)] == ["cpu_high"]
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, hook):
    gossip = [free_port(), free_port()]
    peers = [
        Alertmanager(tmp_path_factory.mktemp("am-peer-a"), hook.url + "/hook", cluster=(gossip[0], gossip[1])),
        Alertmanager(tmp_path_factory.mktemp("am-peer-b"), hook.url + "/hook", cluster=(gossip[1], gossip[0])),
    ]
    try:
        start_alertmanagers(*peers)
        for peer in peers:
            wait_for(
                lambda peer=peer: (
                    peer.status()["cluster"]["status"] == "ready" and len(peer.status()["cluster"]["peers"]) == 2
                ),
                f"{peer.url} to join the cluster and settle",
                timeout=30,
            )
        yield peers
    finally:
        for peer in peers:
            peer.stop()


def test_two_hosts_two_peers_one_alert_one_notification(cluster, hook, tmp_path):
    service = "crm-ha"
    hosts = [Cli(tmp_path / "host-a"), Cli(tmp_path / "host-b")]
    for host in hosts:
        host.tmp.mkdir()
        setup(host, [peer.url for peer in cluster], service)
    now = real_now()
    runs = [host.check({"cpu": 97}, "--json", now=now + offset) for offset, host in zip((0, 700), hosts, strict=True)]
    for run in runs:
        assert run.code == 0, run.err
        assert [p["ok"] for p in run.json()["sync"][0]["peers"]] == [True, True]
    # Two state databases, two alert ids, one label set: each peer holds one alert.
    assert runs[0].json()["fired"] != runs[1].json()["fired"]
    for peer in cluster:
        (held,) = peer.alerts(service)
        assert held["labels"]["alertname"] == "cpu_high"
        assert ms(held["startsAt"]) == now  # the earliest wins
    # The receiver gets one notification for it, not one per host or per peer.
    wait_for(lambda: notifications(hook, service, "firing"), "the cluster's webhook notification", timeout=20)
    # Before it sends, each peer asks its notification log whether the group was already
    # notified (the second peer after its peer timeout), and it finishes one flush, sends
    # included, before the next: once each has asked twice more, a duplicate would be here.
    asked = [peer.metric(NFLOG_QUERIES) for peer in cluster]
    for peer, before in zip(cluster, asked, strict=True):
        wait_for(lambda peer=peer, before=before: peer.metric(NFLOG_QUERIES) >= before + 2, f"{peer.url} to dedup")
    (note,) = notifications(hook, service, "firing")
    assert len(note["alerts"]) == 1


def test_urls_from_the_environment_and_the_interval(capture, tmp_path):
    cli = Cli(tmp_path)
    cli.config.write_text(
        "channels:\n  alertmanager: {interval: 30s}\n"
        "rules:\n  - {id: cpu_high, name: CPU High, type: performance, severity: high, when: cpu > 90,"
        " channels: [alertmanager, console]}\n"
    )
    now = real_now()
    result = cli.check({"cpu": 97}, "--json", now=now, env={"ALERTMANAGER_URLS": f" {capture.url}/ , "})
    assert result.code == 0, result.err
    ((posted,),) = capture.bodies
    assert capture.paths == ["/api/v2/alerts"]
    assert posted["endsAt"] == iso(now + 4 * 30_000)
    assert "generatorURL" not in posted and "dashboard_url" not in posted["annotations"]
    # Not configured: the alerts stay local, recorded as skipped like any channel.
    unset = Cli(tmp_path / "unset")
    unset.tmp.mkdir()
    unset.config.write_text(cli.config.read_text().replace("channels:\n  alertmanager: {interval: 30s}\n", ""))
    skipped = unset.check({"cpu": 97}, "--json", now=now)
    assert skipped.code == 0
    assert skipped.json()["notifications"]["skipped"] == 1 and "sync" not in skipped.json()
    unset.config.write_text(unset.config.read_text().replace("id: cpu_high", "id: cpu_higher"))
    warned = unset.check({"cpu": 97}, now=now)
    assert "warning: channel 'alertmanager' is not configured: 1 notification(s) recorded as skipped" in warned.err


@pytest.mark.parametrize(
    "section, problem",
    [
        ("{urls: ['ftp://am.example.com']}", "urls: invalid Alertmanager URL 'ftp://am.example.com'"),
        ("{urls: [http://am:9093], interval: soon}", "interval: 'soon' is not a duration"),
        ("{urls: [http://am:9093], interval: 0s}", "interval: must be more than 0"),
        ("{urls: [http://am:9093], resend: 1m}", "unknown key 'resend' (allowed: headers, interval, timeout, urls)"),
        ("{urls: 9093}", "urls: must be a list of URLs"),
    ],
)
def test_bad_settings_are_configuration_errors(tmp_path, section, problem):
    cli = Cli(tmp_path)
    cli.config.write_text(
        f"channels:\n  alertmanager: {section}\n"
        "rules:\n  - {id: cpu_high, name: CPU High, type: performance, severity: high, when: cpu > 90,"
        " channels: [alertmanager]}\n"
    )
    result = cli.check({"cpu": 97})
    assert result.code == 2
    assert f"{cli.config}" in result.err and "channels.alertmanager" in result.err
    assert problem in result.err
    assert not cli.db.exists()


@pytest.mark.parametrize(
    "labels, problem",
    [
        ("{on-call: a, on_call: b}", "labels.on_call: becomes the Alertmanager label 'on_call', as 'on-call' does"),
        ("{__name__: x}", "labels.__name__: label names beginning with '__' are reserved"),
        ('{"": x}', "labels.: a label name may not be empty"),
    ],
)
def test_label_names_that_alertmanager_would_merge_or_reserve_are_config_errors(tmp_path, labels, problem):
    from conftest import SIMPLE_CONFIG, Cli

    cli = Cli(tmp_path)
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m") + f"    labels: {labels}\n")
    result = cli("rules", "validate")
    assert result.code == 2
    assert problem in result.err
