"""The leak check itself: it must see a process this session started and not one it did not."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import leftover_processes


def test_leak_check_sees_our_children_and_ignores_others():
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_TEST_SESSION"}
    theirs = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        import time

        time.sleep(0.3)
        pids = {pid for pid, _ in leftover_processes()}
        assert ours.pid in pids
        assert theirs.pid not in pids
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
    assert ours.pid not in {pid for pid, _ in leftover_processes()}
