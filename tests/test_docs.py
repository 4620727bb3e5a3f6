"""The documentation follows the code: every command, option and rules.yaml key is documented,
the README's two commands are the ones CI runs, and every relative link resolves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


# ------------------------------------------------------------------ markdown helpers


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, title) of every heading outside fenced code blocks."""
    found, fenced = [], False
    for i, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#{1,6}) (.+)$", line)):
            found.append((i, len(m.group(1)), m.group(2).strip()))
    return found


def section(text: str, matches) -> str | None:
    """The text under the first heading for which ``matches(title)`` holds, down to the next
    heading of the same or a higher level."""
    lines = text.splitlines()
    all_headings = headings(text)
    for n, (start, level, title) in enumerate(all_headings):
        if matches(title):
            end = next((i for i, lvl, _ in all_headings[n + 1 :] if lvl <= level), len(lines))
            return "\n".join(lines[start:end])
    return None


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = title.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# ------------------------------------------------------------------ commands


def cli_commands() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) for the root and every command and subcommand of the typer app."""
    import typer.main

    from pantry_alert.cli.application import app

    found = []

    def walk(command, path):
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not getattr(sub, "hidden", False):
                walk(sub, path + (name,))

    walk(typer.main.get_command(app), ())
    return found


def parameter_words(command) -> list[str]:
    """What the docs must mention: each option's flags, each argument's metavar."""
    words = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            words.append(param.metavar or param.name.upper())
        else:
            words += [opt for opt in param.opts + param.secondary_opts if opt != "--help"]
    return words


COMMANDS = cli_commands()


def test_the_cli_walk_finds_the_commands():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "check", "list", "rules", "rules validate", "test-notify"} <= paths


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "(global)" for p, _ in COMMANDS])
def test_every_command_and_option_is_in_commands_md(path, command):
    text = (DOCS / "commands.md").read_text()
    if path:
        name = " ".join(path)
        body = section(text, lambda title: re.match(rf"^`{re.escape(name)}(?: |`)", title) is not None)
        assert body is not None, f"docs/commands.md has no heading for `{name}`"
    else:
        body = section(text, lambda title: title == "Global options")
        assert body is not None, "docs/commands.md has no 'Global options' heading"
    missing = [word for word in parameter_words(command) if not mentions(body, word)]
    assert not missing, f"docs/commands.md, section for {' '.join(path) or 'global options'}: missing {missing}"


# ------------------------------------------------------------------ rules.yaml keys


def config_key_sets() -> list[tuple[str, set[str]]]:
    """(heading in docs/configuration.md, keys) for every key set the config loader accepts.

    The loader names its allowed keys in module constants ending in ``_KEYS``: ``TOP_KEYS``
    (the top level), ``RULE_KEYS`` (each rule), and one set per section (``SOURCE_KEYS`` for
    ``source``, and so on); each channel module of the registry declares its ``SECTION_KEYS``."""
    from pantry_alert import config
    from pantry_alert.notify.registry import CHANNEL_NAMES, section_keys

    found = [(f"`channels.{channel}`", set(section_keys(channel))) for channel in CHANNEL_NAMES]
    for name in sorted(vars(config)):
        value = getattr(config, name)
        if not name.endswith("_KEYS") or name.startswith("_"):
            continue
        if name == "TOP_KEYS":
            found.append(("Top-level keys", set(value)))
        elif name == "RULE_KEYS":
            found.append(("`rules`", set(value)))
        elif isinstance(value, dict):
            prefix = name[: -len("_KEYS")].lower()
            found += [(f"`{prefix}.{sub}`", set(keys)) for sub, keys in value.items()]
        else:
            found.append((f"`{name[: -len('_KEYS')].lower()}`", set(value)))
    return found


KEY_SETS = config_key_sets()


def test_the_config_key_sets_are_found():
    headings_found = [heading for heading, _ in KEY_SETS]
    assert {"Top-level keys", "`rules`", "`source`", "`state`", "`channels.email`"} <= set(headings_found)


@pytest.mark.parametrize("heading, keys", KEY_SETS, ids=[h for h, _ in KEY_SETS])
def test_every_rules_yaml_key_is_in_configuration_md(heading, keys):
    text = (DOCS / "configuration.md").read_text()
    body = section(text, lambda title: title == heading)
    assert body is not None, f"docs/configuration.md has no heading {heading}"
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", body, re.MULTILINE))
    missing = sorted(keys - rows)
    assert not missing, f"docs/configuration.md, section {heading}: no table row for {missing}"


# ------------------------------------------------------------------ the README's two commands


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "README.md has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line for line in lines if not line.startswith("#") and "pip install" in line]


def test_readme_commands_are_what_ci_runs():
    readme = readme_commands()
    assert readme == ci_commands()
    assert len(readme) == 2
    run, test = (shlex.split(command.replace("&&", " && ")) for command in readme)
    # both: a fresh venv, then a regular (not editable) install
    for words in (run, test):
        assert words[:4] == ["python3", "-m", "venv", ".venv"]
        assert "-e" not in words and "--editable" not in words
    assert run[-6:] == ["pip", "install", ".", "&&", "pantry-alert", "check"]
    assert test[-7:] == ["pip", "install", ".[test]", "&&", "pytest", "-n", "2"]  # both cores (pytest-xdist)


def test_ci_installs_the_debian_tools_only_when_missing():
    text = (ROOT / ".ci" / "run").read_text()
    for command, package in (
        ("systemd-analyze", "systemd"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("prometheus", "prometheus"),
    ):
        assert f"command -v {command} >/dev/null 2>&1 || missing+=({package})" in text
    assert "apt-get update" in text
    assert 'apt-get install -y --no-install-recommends "${missing[@]}"' in text


# ------------------------------------------------------------------ links and words


@pytest.mark.parametrize("doc", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_relative_links_resolve(doc: Path):
    text = doc.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            if anchor not in {slug(title) for _, _, title in headings(file.read_text())}:
                broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"


# Names of documents that live outside the repository (the product contract and its section sign,
# the library notes, the design the project grew from), which a reader of it cannot look up.  The
# patterns are spelled in pieces so that this file does not itself name them.
UNKNOWN_REFERENCES = tuple(
    "".join(parts)
    for parts in ((r"\bse", r"ed\b"), (r"\bSP", r"EC\b"), ("\u00a7",), ("contract ", "section"), ("LIBRARY", "-NOTES"))
)


@pytest.mark.parametrize("doc", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_no_words_a_reader_cannot_look_up(doc: Path):
    text = doc.read_text()
    found = [w for w in UNKNOWN_REFERENCES if re.search(w, text)]
    assert not found, f"{doc.name} uses {found}"


def test_code_and_tests_cite_nothing_a_reader_cannot_look_up():
    sources = sorted((ROOT / "pantry_alert").rglob("*.py")) + sorted((ROOT / "tests").glob("*.py"))
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(re.search(w, line) for w in UNKNOWN_REFERENCES)
    ]
    assert not found, "\n".join(found)


# ------------------------------------------------------------------ examples are true output


def console_example(doc: Path, command: str) -> list[str]:
    """The lines printed under ``$ <command>`` in the doc's first console block that shows it."""
    text = doc.read_text()
    for block in re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        lines = block.splitlines()
        if lines and lines[0] == f"$ {command}":
            return lines[1:]
    raise AssertionError(f"{doc.name} shows no `$ {command}`")


def test_readme_first_run_output_is_true(cli):
    """The README's first check, with the clock at the example's time: every shown line, in order."""
    shown = [line for line in console_example(ROOT / "README.md", "pantry-alert check") if line != "..."]
    result = cli("check")
    assert result.code == 0, result.err
    actual = (result.out + result.err).splitlines()
    positions = [actual.index(line) for line in shown]  # ValueError names a line that is not printed
    assert positions == sorted(positions)


def test_commands_md_check_json_is_true(cli):
    shown = "\n".join(console_example(DOCS / "commands.md", "pantry-alert check --json"))
    result = cli("check", "--json")
    assert result.code == 0, result.err
    assert result.out.strip() == shown
