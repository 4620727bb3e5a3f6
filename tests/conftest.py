"""Shared fixtures: the command line run in-process (or as the installed console script in a
subprocess where the process itself matters), configs and metrics in tmp_path.

The helpers live in plain modules next to this file (cli_runner.py, loopback.py, samples.py) and are
re-exported here, so ``from conftest import Cli, T0, wait_for`` keeps working."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runner import (  # noqa: F401
    BoundWorker,
    Cli,
    Result,
    _script,
    dump,
    lines,
    ok,
    rows,
    run_in_process,
    write_config,
)
from hypothesis import settings
from loopback import Mailbox, free_port, smtp_authenticator, wait_for  # noqa: F401
from pytest_httpserver import HTTPServer
from samples import (  # noqa: F401
    BREACH_METRICS,
    CHANNEL_ENV,
    HEALTHY_METRICS,
    MINUTE,
    ROOT,
    SAMPLE_ALERT,
    SIMPLE_CONFIG,
    T0,
)

# Property tests judge results, not speed: a loaded CI machine (two cores, two xdist workers and
# the real servers some tests start) must not turn a slow example into a failure.
settings.register_profile("pantry-alert", deadline=None)
settings.load_profile("pantry-alert")


def _serve_until_stopped(self) -> None:
    """pytest-httpserver's server thread, polling for shutdown every 20 ms instead of 500 ms:
    each ``stop()`` returns at once rather than after up to half a second."""
    self.server.serve_forever(poll_interval=0.02)


# The plugin names thread_target as the method to override to tailor how the server runs.
HTTPServer.thread_target = _serve_until_stopped  # type: ignore[method-assign]


RAM_DIR = Path("/dev/shm")
RAM_NEEDED = 2 * 1024**3  # bytes free in RAM_DIR before the tests' files go there


def pytest_configure(config) -> None:
    """Put every test's files (``tmp_path``: databases, rules, sockets) in RAM when there is room.

    The tests judge what pantry-alert writes, not how fast the disk makes it durable: SQLite's
    commits and the atomic file writes call fsync, which on a disk costs the suite a third of its
    time and on tmpfs nothing.  The code run is the same.  ``--basetemp DIR`` (or no roomy
    ``/dev/shm``) keeps them on disk; the directory made here is removed at the end."""
    if hasattr(config, "workerinput") or config.option.basetemp:
        return  # an xdist worker gets its directory from the controller; an explicit one wins
    import shutil
    import tempfile

    try:
        roomy = RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK) and shutil.disk_usage(RAM_DIR).free > RAM_NEEDED
    except OSError:
        roomy = False
    if roomy:
        config.option.basetemp = config._pantry_alert_ram_dir = tempfile.mkdtemp(
            prefix="pantry-alert-tests-", dir=RAM_DIR
        )


def pytest_unconfigure(config) -> None:
    made = getattr(config, "_pantry_alert_ram_dir", None)
    if made:
        import shutil

        shutil.rmtree(made, ignore_errors=True)


def pytest_sessionstart(session) -> None:
    """In CI, test the installed package, not the source tree next to the tests.

    ``python -m pytest`` puts the working directory first on ``sys.path``, so from the repository
    root ``import pantry_alert`` would find ./pantry_alert/ whatever was installed; run ``pytest``
    (or ``python -P -m pytest``).  Locally an editable install points at the source tree: fine.
    """
    if not os.environ.get("CI"):
        return
    import pantry_alert

    loaded = Path(pantry_alert.__file__).resolve().parent
    if loaded == ROOT / "pantry_alert":
        pytest.exit(
            f"CI: pantry_alert was imported from the source tree ({loaded}), not from the installed package; "
            "install it with `pip install '.[test]'` (not -e) and run `pytest` rather than `python -m pytest`",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture
def cli(tmp_path) -> Cli:
    """A Cli on a copy of the shipped rules.yaml (source.file points at the shipped sample)."""
    c = Cli(tmp_path)
    text = (
        (ROOT / "rules.yaml")
        .read_text()
        .replace("file: examples/metrics-breach.json", f"file: {ROOT / 'examples' / 'metrics-breach.json'}")
    )
    c.config.write_text(text)
    return c


@pytest.fixture
def simple(tmp_path) -> Cli:
    """A Cli on a one-rule config (cpu > 90, high, cooldown 10m, console only)."""
    c = Cli(tmp_path)
    c.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    return c


# The delivery tests' peers (tests/delivery_world.py): an SMTP server and two HTTP peers for the
# session (stopping an HTTP server waits out its poll interval), reset around each test.
@pytest.fixture(scope="session")
def servers():
    from delivery_world import Servers

    s = Servers()
    yield s
    s.stop()


@pytest.fixture
def world(tmp_path, servers):
    from delivery_world import World

    servers.reset()
    yield World(tmp_path, servers)
    servers.reset()


# Stand-ins for PagerDuty, ntfy, Teams, Telegram, Discord and Apprise's JSON endpoint
# (tests/reach_world.py), for the session, reset around each test.
@pytest.fixture(scope="session")
def reach_services():
    from reach_world import Receivers

    receivers = Receivers()
    yield receivers
    receivers.stop()


@pytest.fixture
def reach(reach_services):
    reach_services.reset()
    yield reach_services
    reach_services.reset()
