"""Board processes: whether a pid still runs the command inspector recorded, signalling, reaping and waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from inspector.errors import InspectorError
from inspector.tb.boardstate import BoardInfo

KILL_GRACE_SECONDS = 5.0

# Boards launched by this very process, kept so stop() can reap them with
# Popen.wait() and Popen.__del__ never warns about a child "still running".
children: dict[int, subprocess.Popen[bytes]] = {}


def cmdline_of(pid: int) -> tuple[str, ...] | None:
    """The argv of a running process, or None if it is gone, a zombie, or unreadable."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        # A zombie (dead, not yet reaped) has an empty cmdline: treat it as gone.
        if not raw:
            return None
        return tuple(os.fsdecode(part) for part in raw.rstrip(b"\0").split(b"\0"))
    try:
        done = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    if done.returncode != 0 or not text:
        return None
    # ps joins the arguments with spaces, so only the joined form is comparable.
    return (text,)


def is_ours(info: BoardInfo) -> bool:
    """True only if the pid runs exactly the command inspector launched."""
    actual = cmdline_of(info.pid)
    if actual is None:
        return False
    if len(actual) == 1 and len(info.cmdline) > 1:
        return actual[0] == " ".join(info.cmdline)
    return actual == info.cmdline


def reap(pid: int) -> None:
    # Only boards this process launched are reaped here; any other board is
    # reaped by its own parent (or init), and /proc shows it gone as a zombie.
    child = children.get(pid)
    if child is not None and child.poll() is not None:
        del children[pid]


def kill_child(proc: subprocess.Popen[bytes]) -> None:
    """Stop a board this process launched and reap it (after a failed start)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    children.pop(proc.pid, None)


def send_signal(info: BoardInfo, signum: int) -> None:
    """Send ``signum`` only if the pid still runs the recorded command."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is not None and send is not None:
        try:
            fd = pidfd_open(info.pid)
        except ProcessLookupError:
            return
        except OSError:
            fd = None  # kernel without pidfd: fall through to os.kill
        if fd is not None:
            # A pidfd names one process: if it exits after the check, the
            # signal fails instead of reaching a program that reused the pid.
            try:
                if is_ours(info):
                    send(fd, signum)
            except ProcessLookupError:
                pass
            finally:
                os.close(fd)
            return
    if not is_ours(info):
        return
    try:
        os.kill(info.pid, signum)
    except ProcessLookupError:
        pass


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat, or None if gone or not on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces or ")".
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def _exited(info: BoardInfo) -> bool:
    if is_ours(info):
        return False
    # A process that is still exiting has already lost its cmdline but is not
    # a zombie yet; it only counts as gone once dead, or the pid runs another program.
    state = _proc_state(info.pid)
    return state is None or state in "ZX" or cmdline_of(info.pid) is not None


def wait_gone(info: BoardInfo, timeout: float) -> bool:
    child = children.get(info.pid)
    if child is not None:
        # Our own child: waiting on it both observes and reaps the exit.
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        children.pop(info.pid, None)
        return True
    deadline = time.monotonic() + timeout
    while not _exited(info):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_one(info: BoardInfo, *, timeout: float) -> bool:
    """Stop one board; False if it had already exited on its own."""
    if not is_ours(info):
        return False
    try:
        send_signal(info, signal.SIGTERM)
        if wait_gone(info, timeout):
            return True
        send_signal(info, getattr(signal, "SIGKILL", signal.SIGTERM))
        if wait_gone(info, KILL_GRACE_SECONDS):
            return True
    except PermissionError:
        raise InspectorError(
            f"TensorBoard pid {info.pid} on port {info.port}: not allowed to signal it; "
            "stop it as the user who started it"
        ) from None
    raise InspectorError(
        f"TensorBoard pid {info.pid} on port {info.port}: still running after SIGKILL; "
        f"check it with `ps -p {info.pid}`"
    )
