"""Start-up and evaluation benchmark for `pantry-alert check` (run by hand, not in CI).

    python benchmarks/bench_check.py [--runs 15]

Prints median wall times of: `python -c pass`; a minimal script that loads
the YAML and writes one SQLite row (the baseline of the target "a quiet check
within 3x"); `pantry-alert check` on the shipped rules with healthy metrics
(nothing fires); `pantry-alert --help`; and `check` with 1,000 generated rules.
It also lists which heavy modules a quiet check imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = """
import sqlite3, sys, yaml
yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)
c = sqlite3.connect(sys.argv[2]); c.execute("CREATE TABLE IF NOT EXISTS t (x)"); c.execute("INSERT INTO t VALUES (1)"); c.commit()
"""


def median_time(cmd, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = dict(os.environ, PANTRY_ALERT_DB=str(tmp / "state.db"), PANTRY_ALERT_CONFIG=str(ROOT / "rules.yaml"))
    script = shutil.which("pantry-alert") or "pantry-alert"
    healthy = str(ROOT / "examples" / "metrics-healthy.json")
    (tmp / "minimal.py").write_text(MINIMAL)

    rules = ["rules:"]
    doc = {}
    for i in range(1000):
        doc[f"m{i}"] = i
        rules.append(
            f"  - {{id: r{i}, name: Rule {i}, type: performance, severity: low, "
            f"when: m{i} > 100000, channels: [console], description: 'm is {{{{ m{i} }}}}'}}"
        )
    (tmp / "rules1000.yaml").write_text("\n".join(rules) + "\n")
    (tmp / "m1000.json").write_text(json.dumps(doc))

    subprocess.run([script, "check", "--metrics-file", healthy], env=env, check=False, capture_output=True)
    results = {
        "python -c pass": median_time([sys.executable, "-c", "pass"], env, args.runs),
        "minimal: load YAML + write 1 SQLite row": median_time(
            [sys.executable, str(tmp / "minimal.py"), str(ROOT / "rules.yaml"), str(tmp / "min.db")], env, args.runs
        ),
        "pantry-alert check (quiet, shipped rules)": median_time(
            [script, "check", "--metrics-file", healthy], env, args.runs
        ),
        "pantry-alert --help": median_time([script, "--help"], env, args.runs),
    }
    env1000 = dict(env, PANTRY_ALERT_CONFIG=str(tmp / "rules1000.yaml"), PANTRY_ALERT_DB=str(tmp / "s1000.db"))
    subprocess.run(
        [script, "check", "--metrics-file", str(tmp / "m1000.json")], env=env1000, check=False, capture_output=True
    )
    results["pantry-alert check (1,000 rules, quiet)"] = median_time(
        [script, "check", "--metrics-file", str(tmp / "m1000.json")], env1000, max(3, args.runs // 3)
    )
    for name, seconds in results.items():
        print(f"{name:<45} {seconds * 1000:8.1f} ms")
    base = results["minimal: load YAML + write 1 SQLite row"]
    print(
        f"quiet check / minimal script: {results['pantry-alert check (quiet, shipped rules)'] / base:.2f}x (target <= 3x)"
    )
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pantry_alert", "check", "--metrics-file", healthy],
        env=env,
        capture_output=True,
        text=True,
    )
    heavy = sorted(
        {
            line.split("|")[-1].strip()
            for line in probe.stderr.splitlines()
            if line.split("|")[-1].strip() in ("httpx", "slack_sdk", "jinja2", "rich", "sqlite_utils")
        }
    )
    print("heavy modules imported by a quiet check:", ", ".join(heavy) or "none")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
