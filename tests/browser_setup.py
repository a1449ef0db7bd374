"""Finding Chromium for tests/test_browser.py, and installing Debian's when it is missing and this is root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
APT_STEPS = (("update", "-qq"), ("install", "-y", "-qq", "--no-install-recommends", "chromium"))
HOW = ("run `apt-get update && apt-get install -y --no-install-recommends chromium` as root, "
       "or point INSPECTOR_CHROMIUM at a Chromium or Chrome binary")
MISSING = f"Chromium is needed for tests/test_browser.py and is not installed: {HOW}"


class NoBrowser(Exception):
    """No Chromium, and none could be installed; the message is one line saying how to get one."""


def find(path: str | None = None) -> str | None:
    """A Chromium or Chrome on ``path`` (default $PATH), or None."""
    for name in NAMES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def chromium(*, path: str | None = None, say: Callable[[str], None] = lambda line: None) -> str:
    """The browser to drive: INSPECTOR_CHROMIUM, else one on ``path``, else Debian's, installed now if this is root.

    No browser is downloaded from anywhere but the system's own package sources.
    """
    override = os.environ.get("INSPECTOR_CHROMIUM")
    if override:
        if not os.access(override, os.X_OK):
            raise NoBrowser(f"INSPECTOR_CHROMIUM={override}: not an executable file; {HOW}")
        return override
    found = find(path)
    if found:
        return found
    if os.geteuid() != 0:
        raise NoBrowser(MISSING)
    apt = shutil.which("apt-get", path=path)
    if apt is None:
        raise NoBrowser("Chromium is needed for tests/test_browser.py and is not installed, and this system has no "
                        "apt-get: install Chromium with its package manager, or point INSPECTOR_CHROMIUM at a Chromium or Chrome binary")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if path is not None:
        env["PATH"] = path
    for step in APT_STEPS:
        command = f"apt-get {' '.join(step)}"
        say(f"Chromium is missing: {command}")
        done = subprocess.run([apt, *step], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=1800)
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
            raise NoBrowser(f"Chromium is not installed and `{command}` failed ({said}); fix that, then {HOW}")
    found = find(path)
    if not found:
        raise NoBrowser(f"apt-get installed chromium, but none of {', '.join(NAMES)} is on PATH; "
                        "point INSPECTOR_CHROMIUM at the Chromium binary")
    return found
