"""Board processes: whether a recorded pid is provably the board inspector launched (/proc), signalling, reaping, waiting."""

from __future__ import annotations

import functools
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError
from inspector.tb.boardstate import BoardInfo, info_files, info_path, read_info, remove_log, remove_record

KILL_GRACE_SECONDS = 5.0

# Bounds for reads of /proc files: a stat line is under 1 KiB, and an argv longer
# than this is not one inspector built (it is read truncated and so never matches).
_STAT_LIMIT = 4096
_STATUS_LIMIT = 64 * 1024
_CMDLINE_LIMIT = 256 * 1024

# What judge() concludes about a recorded board.
OURS = "ours"  # the very process inspector launched: may be signalled
GONE = "gone"  # exited: the record and its log may go
IMPOSTOR = "impostor"  # the pid runs something else now: the record may go, the process is left alone
UNPROVEN = "unproven"  # an old record without a start time: kept, never signalled
OTHER_USER = "other user"  # the board, but another user's: kept, never signalled

# Boards launched by this very process, kept so stop() can reap them with
# Popen.wait() and Popen.__del__ never warns about a child "still running".
children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Process:
    """What /proc says about one running pid."""

    pid: int
    state: str  # R, S, D, T (stopped), t (traced), Z (zombie), ...
    start_ticks: int  # when it started, in clock ticks since boot (field 22 of /proc/PID/stat)
    uid: int  # its real uid
    cmdline: tuple[str, ...]  # empty once it is exiting


@dataclass(frozen=True)
class Verdict:
    """Whether a recorded pid is still the board inspector launched: ``kind`` (OURS, GONE, ...) and why not."""

    kind: str
    why: str = ""
    state: str = ""


def _read_proc(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    chunks, left = [], limit
    try:
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _stat_fields(pid: int) -> list[str] | None:
    raw = _read_proc(f"/proc/{pid}/stat", _STAT_LIMIT)
    if not raw:
        return None
    # Field 2, the command name in parentheses, may itself hold spaces and ")"
    # (a program can name itself anything): the fields that follow start after the last ")".
    fields = raw.decode("ascii", errors="replace").rpartition(")")[2].split()
    # fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return fields


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None if it is gone or there is no /proc."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


@functools.lru_cache(maxsize=1)
def boot_id() -> str | None:
    """The kernel's id of this boot: start times count from boot, so a record from an earlier boot proves nothing."""
    raw = _read_proc("/proc/sys/kernel/random/boot_id", 128)
    text = raw.decode("ascii", errors="replace").strip() if raw else ""
    return text or None


def process(pid: int) -> Process | None:
    """The running process ``pid``, or None if it is gone (or this system has no /proc)."""
    fields = _stat_fields(pid)
    status = _read_proc(f"/proc/{pid}/status", _STATUS_LIMIT)
    if fields is None or status is None:
        return None
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith(b"Uid:")), None)
    raw = _read_proc(f"/proc/{pid}/cmdline", _CMDLINE_LIMIT) or b""
    # Read again: the pid may have exited and been reused between the reads.
    if uid is None or not uid.isdigit() or start_ticks(pid) != int(fields[19]):
        return None
    # Each argument ends in a NUL; an empty argument is kept, as it was passed.
    cmdline = tuple(os.fsdecode(part) for part in raw.removesuffix(b"\0").split(b"\0")) if raw else ()
    return Process(pid=pid, state=fields[0], start_ticks=int(fields[19]), uid=int(uid), cmdline=cmdline)


def runs_tensorboard(argv: tuple[str, ...]) -> bool:
    """True for the argv launch builds: ``<python> -m tensorboard.main ...``."""
    return len(argv) >= 3 and argv[1:3] == ("-m", "tensorboard.main")


def _shown(argv: tuple[str, ...]) -> str:
    text = shlex.join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


def judge(info: BoardInfo) -> Verdict:
    """Whether ``info.pid`` is provably the board the record describes.

    It is (OURS) only if it runs the recorded TensorBoard argv exactly, started
    at the recorded clock tick of the recorded boot, and runs as this user.
    """
    proc = process(info.pid)
    if proc is None:
        return Verdict(GONE, f"pid {info.pid} is no longer running")
    # A process that is exiting has lost its cmdline before it turns zombie.
    if proc.state in "ZX" or not proc.cmdline:
        return Verdict(GONE, f"pid {info.pid} has exited", proc.state)
    pid, state = info.pid, proc.state
    if not runs_tensorboard(info.cmdline) or proc.cmdline != info.cmdline:
        return Verdict(IMPOSTOR, f"pid {pid} runs `{_shown(proc.cmdline)}`, not the TensorBoard inspector recorded", state)
    if info.proc_start is None:
        why = f"written by an older inspector without the process start time, so pid {pid} is not provably the board it started"
        return Verdict(UNPROVEN, why, state)
    if info.boot_id is not None and boot_id() is not None and info.boot_id != boot_id():
        return Verdict(IMPOSTOR, f"written before this machine last booted, so pid {pid} is another process", state)
    if proc.start_ticks != info.proc_start:
        why = f"pid {pid} started at clock tick {proc.start_ticks}, not {info.proc_start} as recorded, so another process reused the pid"
        return Verdict(IMPOSTOR, why, state)
    if proc.uid != os.getuid():
        return Verdict(OTHER_USER, f"pid {pid} runs as uid {proc.uid}, not as you (uid {os.getuid()})", state)
    return Verdict(OURS, state=state)


@dataclass(frozen=True)
class Scan:
    """The state folder's records, judged: boards that are OURS (by port), records kept with a note, records removed."""

    ours: tuple[tuple[BoardInfo, Verdict], ...]
    kept: tuple[tuple[BoardInfo, Verdict, str], ...]  # UNPROVEN and OTHER_USER, each with its note
    removed: tuple[BoardInfo, ...]  # GONE and IMPOSTOR
    notes: tuple[str, ...]  # on every record that is not OURS, unreadable ones included


def scan(folder: Path) -> Scan:
    """Judge every info file in ``folder``; remove those of exited boards and of pids another process now has."""
    ours: list[tuple[BoardInfo, Verdict]] = []
    kept: list[tuple[BoardInfo, Verdict, str]] = []
    removed: list[BoardInfo] = []
    notes: list[str] = []
    for path in info_files(folder):
        info, problem = read_info(path)
        if info is None:
            # Not a record inspector wrote (or not any more): left for a person to look at.
            notes.append(f"{path}: {problem}; skipped it (remove it if nothing needs it)")
            continue
        reap(info.pid)
        verdict = judge(info)
        if verdict.kind == OURS:
            ours.append((info, verdict))
        elif verdict.kind in (UNPROVEN, OTHER_USER):
            how = "stop it as the user who started it"
            if verdict.kind == UNPROVEN:
                how = f"if it is yours, stop it with `kill {info.pid}`"
            note = f"{path}: {verdict.why}; left it running ({how})"
            kept.append((info, verdict, note))
            notes.append(note)
        else:
            # The log named in a record goes only with a board that exited: a
            # record for a live process that is not the board removes nothing but itself.
            failed = forget(folder, info, with_log=verdict.kind == GONE)
            if failed:
                notes.append(f"{path}: {verdict.why}; could not remove the record ({failed})")
                continue
            removed.append(info)
            done = "removed the stale record" if verdict.kind == GONE else "removed the record and left the process alone"
            notes.append(f"{path}: {verdict.why}; {done}")
    ours.sort(key=lambda pair: (pair[0].port, pair[0].pid))
    return Scan(ours=tuple(ours), kept=tuple(kept), removed=tuple(removed), notes=tuple(notes))


def forget(folder: Path, info: BoardInfo, *, with_log: bool) -> str | None:
    """Remove a board's record (and its log); the reason if the record could not be removed."""
    try:
        remove_record(info_path(folder, info.pid))
    except OSError as exc:
        return exc.strerror or str(exc)
    if with_log:
        try:
            remove_log(folder, info)
        except OSError:
            pass  # a log left behind harms no one; the record is what mattered
    return None


def is_ours(info: BoardInfo) -> bool:
    return judge(info).kind == OURS


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
    """Send ``signum`` only if the pid is still provably the recorded board."""
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


def _exited(info: BoardInfo) -> bool:
    proc = process(info.pid)
    # The start time tells the board's own (dead) pid from a new process that got it. An empty
    # cmdline is no sign of an exit: it reads empty while the dying process is still running.
    return proc is None or proc.state in "ZX" or proc.start_ticks != info.proc_start


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


def not_allowed(info: BoardInfo) -> InspectorError:
    return InspectorError(
        f"TensorBoard pid {info.pid} on port {info.port}: not allowed to signal it; "
        "stop it as the user who started it"
    )


def stop_one(info: BoardInfo, *, timeout: float) -> bool:
    """Stop one board judged OURS; False if it had already exited on its own."""
    if not is_ours(info):
        return False
    try:
        send_signal(info, signal.SIGTERM)
        # A stopped (SIGSTOP) board acts on the SIGTERM only once it runs again.
        send_signal(info, signal.SIGCONT)
        if wait_gone(info, timeout):
            return True
        send_signal(info, getattr(signal, "SIGKILL", signal.SIGTERM))
        if wait_gone(info, KILL_GRACE_SECONDS):
            return True
    except PermissionError:
        raise not_allowed(info) from None
    raise InspectorError(
        f"TensorBoard pid {info.pid} on port {info.port}: still running after SIGKILL; "
        f"check it with `ps -p {info.pid}`"
    )
