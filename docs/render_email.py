#!/usr/bin/env python3
"""Render an example alert email and screenshot it to docs/email-example.png.

Not part of the test suite.  Needs headless Chromium:

    apt-get update && apt-get install -y chromium
    python docs/render_email.py            # from the repository root
    python docs/render_email.py --html-only out.html   # just write the HTML

It uses pantry_alert.notify.email exactly as a real send would (the same
subject, text and HTML), with the sample alert below.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # works from a clone without `pip install`

from pantry_alert.notify import email as email_channel  # noqa: E402
from pantry_alert.notify.base import Message  # noqa: E402

EXAMPLE_ALERT = {
    "id": "high_response_time_1764160000000",
    "type": "performance",
    "severity": "high",
    "title": "High Response Time",
    "description": "95th percentile response time is 2500.00ms (threshold: 2000ms)",
    "timestamp": 1764160000000,
    "metadata": {
        "rule": "high_response_time",
        "metrics": {"p95ResponseTime": 2500, "memoryUsage.current.heapUsed": 900},
        "escalated": False,
        "alertCount": 1,
    },
    "resolved": False,
    "resolvedAt": None,
    "ruleId": "high_response_time",
    "status": "firing",
    "count": 1,
    "lastSeenAt": 1764160000000,
    "acknowledgedAt": None,
    "acknowledgedBy": None,
    "resolvedBy": None,
    "escalated": False,
    "silenced": False,
    "runbookUrl": "https://wiki.example.com/runbooks/latency",
    "labels": {"team": "backend", "env": "production"},
}


def example_message() -> Message:
    return Message(
        kind="firing",
        alert=EXAMPLE_ALERT,
        idempotency_key="example",
        now_ms=1764160000000,
        timezone="Europe/Berlin",
        dashboard_url="https://crm.example.com/dashboard/performance",
        version="0.1.0",
    )


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("render_email: no Chromium found; install it with: apt-get update && apt-get install -y chromium")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "email-example.png"))
    parser.add_argument("--html-only", metavar="PATH", help="write the HTML to PATH and stop")
    args = parser.parse_args()

    message = example_message()
    html = email_channel.render_html(message)
    print(f"Subject: {email_channel.subject(message)}")
    if args.html_only:
        Path(args.html_only).write_text(html, encoding="utf-8")
        print(f"wrote {args.html_only}")
        return 0

    chromium = find_chromium()
    output = Path(args.output).resolve()
    with tempfile.TemporaryDirectory(prefix="pantry-alert-render-") as tmp:
        page = Path(tmp) / "email.html"
        page.write_text(html, encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--screenshot={output}",
            "--window-size=800,900",
            page.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not output.exists():
        sys.stderr.write(result.stderr[-2000:])
        sys.exit(f"render_email: chromium failed (exit {result.returncode})")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
