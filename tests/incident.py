"""One incident, step by step, for the review and report tests and for docs/review-example.md.

Two rules on the console channel, times in Europe/Berlin (UTC+1 in November):

- 11:58 UTC the error rate breaches; ``high_error_rate`` has ``for: 2m``;
- 12:00 it fires (first breach 11:58); 12:04 alice acknowledges it with a note;
- 12:05 ``slow_checkout`` fires too; 12:06 alice adds a note;
- 12:08 ``slow_checkout`` resolves (3 minutes: a candidate for a longer ``for``);
- 12:12 the error rate is back to normal: ``high_error_rate`` resolves;
- 23:00 ``slow_checkout`` fires again (00:00 in Berlin: after hours); bob resolves it
  by hand at 23:20, and the 23:25 check sends its resolved notice.

``play(run)`` drives it through ``run(*args, now=ms)`` (the tests' ``Cli`` or a subprocess).
"""

from __future__ import annotations

import json
from pathlib import Path

T0 = 1764158400000  # 2025-11-26T12:00:00Z
MINUTE = 60_000
HOUR = 60 * MINUTE
ERROR_ALERT = f"high_error_rate_{T0}"
CHECKOUT_ALERT = f"slow_checkout_{T0 + 5 * MINUTE}"
NIGHT_ALERT = f"slow_checkout_{T0 + 11 * HOUR}"
REVIEW_AT = T0 + 12 * HOUR  # when the review and the report are written

CONFIG = """\
service: shop
service_name: Shop
timezone: Europe/Berlin
rules:
  - id: high_error_rate
    name: High Error Rate
    type: error
    severity: high
    when: errorRate > 0.05
    for: 2m
    channels: [console]
    description: "Error rate is {{ errorRate }}"
  - id: slow_checkout
    name: Slow Checkout
    type: performance
    severity: medium
    when: p95ResponseTime > 2000
    channels: [console]
    description: "p95 at {{ p95ResponseTime }}ms"
"""

STEPS: list[tuple[int, tuple[str, ...] | dict]] = [
    (T0 - 2 * MINUTE, {"errorRate": 0.061, "p95ResponseTime": 800}),
    (T0, {"errorRate": 0.0734, "p95ResponseTime": 900}),
    (T0 + 4 * MINUTE, ("ack", ERROR_ALERT, "--by", "alice", "--note", "rolling back v2.3")),
    (T0 + 5 * MINUTE, {"errorRate": 0.092, "p95ResponseTime": 2400}),
    (T0 + 6 * MINUTE, ("note", ERROR_ALERT, "v2.3 rolled back; errors falling", "--by", "alice")),
    (T0 + 8 * MINUTE, {"errorRate": 0.081, "p95ResponseTime": 1100}),
    (T0 + 12 * MINUTE, {"errorRate": 0.01, "p95ResponseTime": 1000}),
    (T0 + 11 * HOUR, {"errorRate": 0.01, "p95ResponseTime": 2600}),
    (T0 + 11 * HOUR + 20 * MINUTE, ("resolve", NIGHT_ALERT, "--by", "bob", "--note", "CDN purge")),
    (T0 + 11 * HOUR + 25 * MINUTE, {"errorRate": 0.01, "p95ResponseTime": 900}),
]


def play(run, folder: Path) -> None:
    """Write the config and run every step; ``run(*args, now=ms)`` returns a result with ``code``."""
    (folder / "rules.yaml").write_text(CONFIG)
    for now, step in STEPS:
        if isinstance(step, dict):
            path = folder / f"metrics-{now}.json"
            path.write_text(json.dumps(step))
            args: tuple[str, ...] = ("check", "--metrics-file", str(path))
        else:
            args = step
        result = run(*args, now=now)
        assert result.code == 0, (args, result.err)
