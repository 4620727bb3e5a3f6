"""Where the state database lives: --db, PANTRY_ALERT_DB, state.path (relative to the config
file, ~ expanded), else $XDG_STATE_HOME/pantry-alert/state.db (~/.local/state when unset)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import SIMPLE_CONFIG, T0, Cli

ALERT_ID = f"cpu_high_{T0}"
FIRED = f"FIRED     {ALERT_ID} [high] CPU High: CPU at 95%\n"
# No database from the environment: the config and the defaults decide.
NO_DB = {"PANTRY_ALERT_DB": "", "XDG_STATE_HOME": ""}


def alerts_in(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT id, status FROM alerts").fetchall()


def databases(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.db"))


@pytest.fixture
def elsewhere(tmp_path) -> Cli:
    """A Cli whose config lives in conf/, run from tmp_path (another directory), HOME in home/."""
    c = Cli(tmp_path)
    c.env["HOME"] = str(tmp_path / "home")  # a database in the wrong place shows up under tmp_path
    (tmp_path / "conf").mkdir()
    c.config = tmp_path / "conf" / "rules.yaml"
    return c


def configure(cli: Cli, state: str = "") -> None:
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m") + state)


def test_relative_state_path_is_relative_to_the_config_file_not_the_working_directory(elsewhere, tmp_path):
    configure(elsewhere, "state:\n  path: data/state.db\n")
    result = elsewhere.check({"cpu": 95}, env=NO_DB)
    assert (result.code, result.out.splitlines()[0] + "\n", result.err) == (0, FIRED, "")
    assert databases(tmp_path) == ["conf/data/state.db"]
    assert alerts_in(tmp_path / "conf" / "data" / "state.db") == [(ALERT_ID, "firing")]
    # A command through typer, the config named by --config: the same database.
    listed = elsewhere("--config", str(elsewhere.config), "list", "--json", env=dict(NO_DB, PANTRY_ALERT_CONFIG=""))
    assert listed.code == 0 and [a["id"] for a in listed.json()] == [ALERT_ID]
    assert databases(tmp_path) == ["conf/data/state.db"]


def test_state_path_with_a_tilde_is_under_home(elsewhere, tmp_path):
    configure(elsewhere, "state:\n  path: ~/pantry/state.db\n")
    result = elsewhere.check({"cpu": 95}, env=NO_DB)
    assert (result.code, result.err) == (0, "")
    assert databases(tmp_path) == ["home/pantry/state.db"]
    assert alerts_in(tmp_path / "home" / "pantry" / "state.db") == [(ALERT_ID, "firing")]


def test_db_option_and_environment_win_over_state_path(elsewhere, tmp_path):
    configure(elsewhere, "state:\n  path: data/state.db\n")
    by_env = elsewhere.check({"cpu": 95}, env={"PANTRY_ALERT_DB": str(tmp_path / "env.db")})
    metrics = str(elsewhere.metrics({"cpu": 95}))
    by_option = elsewhere("--db", str(tmp_path / "option.db"), "check", "--metrics-file", metrics)
    assert (by_env.code, by_option.code) == (0, 0)
    assert databases(tmp_path) == ["env.db", "option.db"]
    assert alerts_in(tmp_path / "env.db") == alerts_in(tmp_path / "option.db") == [(ALERT_ID, "firing")]


def test_without_state_path_the_database_is_under_xdg_state_home(elsewhere, tmp_path):
    configure(elsewhere)
    env = dict(NO_DB, XDG_STATE_HOME=str(tmp_path / "xdg"))
    result = elsewhere.check({"cpu": 95}, env=env)
    assert (result.code, result.err) == (0, "")
    assert databases(tmp_path) == ["xdg/pantry-alert/state.db"]
    assert alerts_in(tmp_path / "xdg" / "pantry-alert" / "state.db") == [(ALERT_ID, "firing")]
    history = elsewhere("history", "--json", env=env)
    assert history.code == 0 and [a["id"] for a in history.json()] == [ALERT_ID]


def test_without_xdg_state_home_the_database_is_under_home_local_state(elsewhere, tmp_path):
    configure(elsewhere)
    result = elsewhere.check({"cpu": 95}, env=NO_DB)
    assert (result.code, result.err) == (0, "")
    assert databases(tmp_path) == ["home/.local/state/pantry-alert/state.db"]
    assert alerts_in(tmp_path / "home" / ".local" / "state" / "pantry-alert" / "state.db") == [(ALERT_ID, "firing")]
