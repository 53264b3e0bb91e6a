"""Headless Chromium for the browser tests: where it is, how it is run, and what pages wrote to
its console. Tests import these from here; the ``chromium`` fixture is in ``conftest.py``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run sets this, so that a machine without Chromium fails there instead of skipping.
REQUIRED = os.environ.get("NEWSWIRE_BROWSER_TESTS") == "required"
MISSING = "Chromium is not installed: apt-get install chromium (Debian) to run the browser tests"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0"]
ARTEFACTS = Path(__file__).parent / "artefacts"  # screenshots, kept for people to look at (git-ignored)
SIZES = {"desktop": "1280,900", "phone": "360,740"}


def run_chromium(*args: str, tmp: Path) -> tuple[str, list[str]]:
    """The browser's output, and every message a page wrote to its console (errors among them)."""
    assert CHROMIUM, MISSING
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, re.findall(r":CONSOLE[:(]\d+\)?\] (.*)", result.stderr)
