"""Start-up and evaluation benchmark for `pantry-alert check` (run by hand, not in CI).

    python benchmarks/bench_check.py [--runs 15]

Prints the median wall and CPU times (user + system, from ``wait4``) of:
`python -c pass`; a minimal script that loads the YAML and writes one SQLite
row (the baseline of the targets "a quiet check within 2x" and "--help within
2x"); `pantry-alert check` on the shipped rules with healthy metrics (nothing
fires); `pantry-alert --help`; `check` with 1,000 generated rules; and
`pantry-alert ping` (a job's heartbeat, target "within 1.5x") on the shipped
rules with two heartbeats added, one cron and one ``every``.  The
commands run interleaved, round after round, so that other load on the machine
spreads over all of them alike.  It also lists which heavy modules a quiet
check imported.

Bytecode: the subprocesses run without ``PYTHONDONTWRITEBYTECODE`` and a
warm-up round writes the package's ``.pyc`` files first, as an installed
package has them; otherwise every run would compile the package's sources.
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


def timed(cmd, env) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PANTRY_ALERT_DB=str(tmp / "state.db"), PANTRY_ALERT_CONFIG=str(ROOT / "rules.yaml"))
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

    heartbeats = (
        "heartbeats:\n"
        '  nightly_backup: {schedule: "30 2 * * *", timezone: Europe/Berlin, grace: 30m, channels: [email]}\n'
        "  queue_worker: {every: 5m, channels: [slack]}\n"
    )
    (tmp / "rules-heartbeats.yaml").write_text((ROOT / "rules.yaml").read_text() + heartbeats)
    env_ping = dict(env, PANTRY_ALERT_CONFIG=str(tmp / "rules-heartbeats.yaml"), PANTRY_ALERT_DB=str(tmp / "ping.db"))
    env1000 = dict(env, PANTRY_ALERT_CONFIG=str(tmp / "rules1000.yaml"), PANTRY_ALERT_DB=str(tmp / "s1000.db"))
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "minimal: load YAML + write 1 SQLite row": (
            [sys.executable, str(tmp / "minimal.py"), str(ROOT / "rules.yaml"), str(tmp / "min.db")],
            env,
        ),
        "pantry-alert check (quiet, shipped rules)": ([script, "check", "--metrics-file", healthy], env),
        "pantry-alert --help": ([script, "--help"], env),
        "pantry-alert check (1,000 rules, quiet)": (
            [script, "check", "--metrics-file", str(tmp / "m1000.json")],
            env1000,
        ),
        "pantry-alert ping (a heartbeat)": ([script, "ping", "queue_worker"], env_ping),
    }
    for cmd, cmd_env in commands.values():  # warm-up: databases, .pyc files, page cache
        subprocess.run(cmd, env=cmd_env, check=False, capture_output=True)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, (cmd, cmd_env) in commands.items():
            samples[name].append(timed(cmd, cmd_env))
    results = {}
    print(f"{'median of ' + str(args.runs) + ' runs':<45} {'wall':>9} {'CPU':>9}")
    for name, rows in samples.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        results[name] = (wall, cpu)
        print(f"{name:<45} {wall * 1000:6.1f} ms {cpu * 1000:6.1f} ms")
    base = results["minimal: load YAML + write 1 SQLite row"]
    for name in ("pantry-alert check (quiet, shipped rules)", "pantry-alert --help", "pantry-alert ping (a heartbeat)"):
        wall, cpu = results[name]
        print(f"{name} / minimal script: wall {wall / base[0]:.2f}x, CPU {cpu / base[1]:.2f}x (target <= 1.5x)")
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
