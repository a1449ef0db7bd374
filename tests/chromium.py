"""A headless Debian Chromium and one page in it, driven over the DevTools protocol on a pipe (tests and bench share it).

No browser download and no extra package: Chromium is Debian's (``apt-get
install chromium``; tests/browser_setup.py installs it when it is missing and
the suite runs as root), started with ``--remote-debugging-pipe``, which speaks
the DevTools protocol as NUL-separated JSON on file descriptors 3 and 4.
Screenshots land in tests/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
WIDTH, HEIGHT = 1400, 1000
# Finds elements through shadow roots (TensorBoard's Polymer graph view) and
# same-origin iframes (dynamic plugins such as Graph diff).
DEEP_QUERY = """
window.__deepAll = (selector) => {
  const out = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll(selector)) out.push(el);
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) visit(el.shadowRoot);
      if (el.tagName === 'IFRAME') {
        try { if (el.contentDocument) visit(el.contentDocument); } catch (e) {}
      }
    }
  };
  visit(document);
  return out;
};
"""
# The Graph diff tab's document, inside TensorBoard's plugin iframe.
DIFF_DOC = "(document.querySelector('iframe[src*=\"name=graph_diff\"]') || {}).contentDocument"


class Chromium:
    """A headless Chromium and one page in it, over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, profile: Path, log: Path) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. Our ends
        # are parked above 10 (close-on-exec) so the dup2 calls in the child
        # cannot overwrite each other, whatever numbers os.pipe() gave.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def wire() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        argv = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            "--disable-dev-shm-usage", "--disable-extensions", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank",
        ]
        with log.open("wb") as sink:
            # close_fds=False so fds 3 and 4 survive; every other fd Python
            # opened is close-on-exec already.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                preexec_fn=wire, close_fds=False, start_new_session=True,
            )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._last_id = 0
        self.exceptions: list[str] = []
        self.log = log
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        self.page("Page.enable")
        self.page("Runtime.enable")

    def call(self, method: str, *, session: str | None = None, timeout: float = 60.0, **params) -> dict:
        self._last_id += 1
        ident = self._last_id
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._messages(deadline, method):
                if reply.get("id") == ident:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                if reply.get("method") == "Runtime.exceptionThrown":
                    details = reply["params"]["exceptionDetails"]
                    self.exceptions.append(json.dumps(details.get("exception", {}).get("description") or details.get("text")))

    def page(self, method: str, **params) -> dict:
        return self.call(method, session=self.session, **params)

    def _messages(self, deadline: float, method: str) -> list[dict]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: Chromium did not answer (log: {self.log})")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"{method}: Chromium exited ({self.proc.poll()}); log: {self.log}")
                self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in complete]

    def evaluate(self, expression: str):
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, what: str, timeout: float = 60.0):
        """Poll ``expression`` (with the deep query loaded) until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(DEEP_QUERY + f"\n;({expression})")
            except RuntimeError:
                value = None  # the page is still loading
            if value:
                return value
            time.sleep(0.25)
        shot = self.screenshot("failed-" + re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-") + ".png")
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value {value!r}; screenshot {shot}")

    def settle(self, expression: str, *, polls: int = 4, timeout: float = 15.0) -> None:
        """Wait until ``expression`` gives the same value ``polls`` times running (an animation ended)."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while same < polls and time.monotonic() < deadline:
            value = self.evaluate(DEEP_QUERY + f"\n;({expression})")
            same = same + 1 if value == last else 0
            last = value
            time.sleep(0.25)

    def navigate(self, url: str) -> None:
        self.page("Page.navigate", url=url)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        path.write_bytes(base64.b64decode(self.page("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Its own session: the group is this Chromium and its helpers, nothing else.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
