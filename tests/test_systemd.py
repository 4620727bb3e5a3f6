"""The systemd units in systemd/: valid, pointing at the documented install, and hardened.

Each unit is copied with ExecStart pointed at the pantry-alert this test suite runs, then
checked with `systemd-analyze verify` and `systemd-analyze security --offline=yes`; every
service must rate 2.0 or lower.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

UNITS = ROOT / "systemd"
SERVICES = ["pantry-alert.service", "pantry-alert-prune.service", "pantry-alert-api.service"]
TIMERS = ["pantry-alert.timer", "pantry-alert-prune.timer"]
INSTALLED = "/usr/local/bin/pantry-alert"  # the link the install steps in docs/operations.md create
MAX_EXPOSURE = 2.0


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    reason = "systemd-analyze is missing: install the Debian package `systemd` (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def installed_command() -> str:
    found = shutil.which("pantry-alert", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    assert found, "the pantry-alert console script is not installed next to this Python"
    return os.path.abspath(found)


def settings(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, by key (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def unit_copies(tmp_path_factory) -> Path:
    """The units with ExecStart pointed at the pantry-alert under test."""
    target = tmp_path_factory.mktemp("units")
    command = installed_command()
    for unit in SERVICES + TIMERS:
        text = (UNITS / unit).read_text()
        (target / unit).write_text(text.replace(f"ExecStart={INSTALLED} ", f"ExecStart={command} "))
    return target


def test_the_units_are_the_expected_set():
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(SERVICES + TIMERS + ["pantry-alert-api.service.d"])


@pytest.mark.parametrize("unit", SERVICES)
def test_services_run_the_installed_command_without_root(unit):
    s = settings(unit)
    assert s["ExecStart"][0].startswith(f"{INSTALLED} ")
    assert s["DynamicUser"] == ["yes"] and s["User"] == ["pantry-alert"]
    assert s["StateDirectory"] == ["pantry-alert"] and s["StateDirectoryMode"] == ["0700"]
    assert s["EnvironmentFile"] == ["-/etc/pantry-alert/env"]
    assert "PANTRY_ALERT_CONFIG=/etc/pantry-alert/rules.yaml" in s["Environment"]
    assert "PANTRY_ALERT_DB=/var/lib/pantry-alert/state.db" in s["Environment"]
    for key, value in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
    ]:
        assert s[key] == [value], key
    assert "@system-service" in s["SystemCallFilter"]
    assert s["RestrictAddressFamilies"]


def test_api_service_binds_loopback_8080():
    s = settings("pantry-alert-api.service")
    assert s["ExecStart"] == [f"{INSTALLED} serve --host 127.0.0.1 --port 8080"]
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]


def test_timers():
    check, prune = settings("pantry-alert.timer"), settings("pantry-alert-prune.timer")
    assert check["OnCalendar"] == ["*-*-* *:*:00"] and check["Persistent"] == ["true"]
    assert prune["OnCalendar"] == ["hourly"] and prune["Persistent"] == ["true"]


@pytest.mark.parametrize("unit", SERVICES + TIMERS)
def test_documentation_points_at_an_installed_doc(unit):
    """Documentation= names a file that the install steps copy from docs/."""
    (doc,) = settings(unit)["Documentation"]
    match = re.fullmatch(r"file:///usr/local/share/doc/pantry-alert/([a-z-]+\.md)", doc)
    assert match, doc
    assert (ROOT / "docs" / match.group(1)).is_file()
    steps = (ROOT / "docs" / "operations.md").read_text()
    assert "install -m 0644 README.md docs/*.md /usr/local/share/doc/pantry-alert/" in steps


def test_systemd_analyze_verify(unit_copies):
    tool = systemd_analyze()
    units = [str(unit_copies / u) for u in SERVICES + TIMERS]
    result = subprocess.run([tool, "verify", *units], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("unit", SERVICES)
def test_systemd_analyze_security_rates_2_or_lower(unit_copies, unit):
    tool = systemd_analyze()
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(unit_copies / unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit, limit", [("pantry-alert.service", "10min"), ("pantry-alert-prune.service", "30min")])
def test_oneshot_runs_have_a_start_timeout_beyond_their_own_budget(unit, limit):
    """A hung oneshot run would block its timer for ever: systemd stops it after TimeoutStartSec."""
    assert settings(unit)["Type"] == ["oneshot"]
    assert settings(unit)["TimeoutStartSec"] == [limit]


def test_api_service_raises_its_file_descriptor_limit():
    assert settings("pantry-alert-api.service")["LimitNOFILE"] == ["8192"]


DROP_INS = sorted(p.name for p in (UNITS / "pantry-alert-api.service.d").glob("*.conf"))


def test_api_drop_ins_are_the_documented_ones():
    assert DROP_INS == ["rule-edits.conf", "slack-actions.conf"]
    ops = (ROOT / "docs" / "operations.md").read_text()
    for name in DROP_INS:
        assert f"pantry-alert-api.service.d/{name}" in ops


@pytest.mark.parametrize("drop_in", DROP_INS)
def test_api_drop_ins_verify(unit_copies, drop_in):
    """Each drop-in applied to the API unit passes `systemd-analyze verify` and does what it says."""
    tool = systemd_analyze()
    target = unit_copies / "pantry-alert-api.service.d"
    target.mkdir(exist_ok=True)
    for old in target.glob("*.conf"):
        old.unlink()
    (target / drop_in).write_text((UNITS / "pantry-alert-api.service.d" / drop_in).read_text())
    unit = str(unit_copies / "pantry-alert-api.service")
    result = subprocess.run([tool, "verify", unit], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = (UNITS / "pantry-alert-api.service.d" / drop_in).read_text()
    if drop_in == "rule-edits.conf":
        assert "ReadWritePaths=/etc/pantry-alert" in text
    else:
        assert re.search(r"^IPAddressDeny=$", text, re.MULTILINE)
