"""A storm reads its alerts in a few queries, not one per notification, and each notice still
carries its own alert."""

from __future__ import annotations

import re

from conftest import T0, write_config

from pantry_alert.store import Store

COUNT = 150


def test_a_storm_reads_its_alerts_a_batch_at_a_time(cli, monkeypatch):
    rules = "\n".join(
        f"  - {{id: r{i}, name: Rule {i}, type: performance, severity: high, when: m{i} > 0, "
        f"channels: [console], description: 'm{i} is {{{{ m{i} }}}}'}}"
        for i in range(COUNT)
    )
    write_config(cli, "rules:\n" + rules + "\n")
    assert cli.check({f"m{i}": 0 for i in range(COUNT)}, now=T0 - 60_000).code == 0
    calls = []
    real = Store.get_alerts

    def counted(self, alert_ids):
        calls.append(len(alert_ids))
        return real(self, alert_ids)

    monkeypatch.setattr(Store, "get_alerts", counted)
    result = cli.check({f"m{i}": 100 + i for i in range(COUNT)})
    assert result.code == 0
    assert calls == [64, 64, COUNT - 128]
    # Each console notification shows its own alert: the rule's title and the description rendered from its metric.
    shown = re.findall(r"Alert: Rule (\d+)\n  m(\d+) is (\d+)\n  alert r(\d+)_", result.out)
    assert sorted(int(rule) for rule, *_ in shown) == list(range(COUNT))
    assert all(rule == metric == alert and int(value) == 100 + int(rule) for rule, metric, value, alert in shown)


def test_get_alerts_returns_those_that_exist(cli):
    write_config(cli, "rules:\n  - {id: a, name: A, type: error, severity: low, when: x > 0}\n")
    cli.check({"x": 1})
    with cli_store(cli) as store:
        found = store.get_alerts([f"a_{T0}", "nope"])
        assert list(found) == [f"a_{T0}"] and found[f"a_{T0}"].rule_id == "a"
        assert store.get_alerts([]) == {}


def cli_store(cli):
    from pantry_alert.store import open_store

    return open_store(cli.db, create=False)
