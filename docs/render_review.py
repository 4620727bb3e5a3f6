#!/usr/bin/env python3
"""Write docs/review-example.md and docs/review-example.html from the tests' example incident.

    python docs/render_review.py        # from the repository root, with pantry-alert installed

It plays tests/incident.py (two rules, an acknowledgement, notes, an overlapping
alert) through the installed ``pantry-alert`` in a temporary directory, then
runs ``review`` on the incident's main alert, as a person would.
tests/test_reviews.py checks that the Markdown example is what ``review`` prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import incident  # noqa: E402


def main() -> int:
    script = shutil.which("pantry-alert") or sys.exit("pantry-alert is not installed (pip install -e .)")
    folder = Path(tempfile.mkdtemp(prefix="review-example-"))
    env = dict(os.environ, PANTRY_ALERT_CONFIG=str(folder / "rules.yaml"), PANTRY_ALERT_DB=str(folder / "state.db"))
    env["LOGNAME"] = "ops"

    def run(*args: str, now: int) -> Result:
        return _run(script, args, env, now, folder)

    try:
        incident.play(run, folder)
        for fmt in ("md", "html"):
            out = ROOT / "docs" / f"review-example.{fmt}"
            args = ("review", incident.ERROR_ALERT, "--format", fmt, "-o", str(out))
            result = _run(script, args, env, incident.REVIEW_AT, folder)
            if result.code:
                sys.exit(result.err)
            print(f"wrote {out}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr


def _run(script: str, args, env: dict, now: int, folder: Path) -> Result:
    return Result(
        subprocess.run(
            [script, *args], env=dict(env, PANTRY_ALERT_NOW=str(now)), capture_output=True, text=True, cwd=folder
        )
    )


if __name__ == "__main__":
    sys.exit(main())
