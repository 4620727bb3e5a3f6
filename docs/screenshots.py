#!/usr/bin/env python3
"""Regenerate the console screenshots in docs/ (console-*.png) with the browser tests that take them.

    python docs/screenshots.py          # from the repository root, in the test venv

Runs the JavaScript flow of tests/test_console_browser.py (Playwright driving
Debian's /usr/bin/chromium against a real ``pantry-alert serve``) with
``PANTRY_ALERT_SCREENSHOTS`` pointing here, so the pictures in
docs/console.md are what the tests saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/test_console_browser.py::test_sign_in_list_open_acknowledge_resolve_and_silence[javascript]"


def main() -> int:
    env = dict(os.environ, PANTRY_ALERT_SCREENSHOTS=str(ROOT / "docs"))
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-n", "0", TEST], cwd=ROOT, env=env
    )
    for png in sorted((ROOT / "docs").glob("console-*.png")):
        print(png.relative_to(ROOT))
    return code


if __name__ == "__main__":
    sys.exit(main())
