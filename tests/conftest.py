"""Shared test fixtures: the real graphs in ../shared/fixtures, small generated graphs, a TensorFlow-free env, stand-in boards."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
GRAPHS = FIXTURES / "graphs"
DAISY = FIXTURES / "flower_photos" / "daisy" / "3475870145_685a19116d.jpg"

sys.path.insert(0, str(Path(__file__).resolve().parent))
# What inspector's tfcompat.tf() sets before it imports TensorFlow, set for the whole test process: a test
# that imports TensorFlow itself first would otherwise leave its C++ warnings on (oneDNN's "Not handling type
# DT_DOUBLE" for a float64 reference run), and a later test of inspector's quiet stderr would see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from builders import retrained_like, without_identities  # noqa: E402
from helpers import FAKE_SERVER, use_tensorboard_stand_in, world_folder  # noqa: E402

# The MANIFEST's facts for each real graph: (path, input, output, nodes).
REAL_GRAPHS = [
    ("poets_pair/retrained_graph.pb", "input", "final_result", 560),
    ("poets_pair/optimized_graph.pb", "input", "final_result", 420),
    ("poets_224/retrained_graph.pb", "input", "final_result", 560),
    ("poets_tf2/retrained_graph.pb", "input", "final_result", 560),
    ("dropout_active/retrained_graph.pb", "input", "final_result", 572),
    ("mobilenet_v1_0.25_128/frozen_graph.pb", "input", "MobilenetV1/Predictions/Reshape_1", 555),
    ("mobilenet_v1_0.25_128/quantized_graph.pb", "input", "MobilenetV1/Predictions/Reshape_1", 180),
    ("codelab_android/mobilenet_v3.pb", "input_image", "MobilenetV1/Predictions/Softmax", 237),
]


def fixture_path(relative: str) -> Path:
    """A file under ../shared/fixtures, or skip: the suite must also pass without them."""
    path = GRAPHS / relative if (GRAPHS / relative).exists() else FIXTURES / relative
    if not path.exists():
        pytest.skip(f"real fixture {relative} not present (../shared/fixtures missing)")
    return path


@pytest.fixture
def small_graph_file(tmp_path: Path) -> Path:
    """A retrained-like graph (16x16 input, 3 classes) as tmp_path/retrained_graph.pb."""
    path = tmp_path / "retrained_graph.pb"
    path.write_bytes(retrained_like().SerializeToString())
    return path


@pytest.fixture
def small_pair(small_graph_file: Path) -> tuple[Path, Path]:
    """A retrained-like graph and the same graph with its Identities stripped, as files."""
    b = small_graph_file.parent / "optimized_graph.pb"
    b.write_bytes(without_identities(retrained_like()).SerializeToString())
    return small_graph_file, b


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An isolated board state folder (also for the CLI, via the env); boards left are stopped by pid."""
    from inspector.tb import board

    folder = tmp_path / "state"
    monkeypatch.setenv("INSPECTOR_STATE_DIR", str(folder))
    try:
        yield folder
    finally:
        board.stop(all=True, state=folder, timeout=5)


@pytest.fixture
def tensorboard_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``use(code)``: boards this test starts run ``code`` in place of TensorBoard (helpers.use_tensorboard_stand_in)."""
    return lambda code: use_tensorboard_stand_in(code, tmp_path, monkeypatch)


@pytest.fixture
def fake_tensorboard(tensorboard_stand_in) -> None:
    """Boards this test starts are helpers.FAKE_SERVER: it answers like TensorBoard, in milliseconds."""
    tensorboard_stand_in(FAKE_SERVER)


@pytest.fixture
def world_tmp():
    """A temp folder every user may enter and write (pytest's tmp_path is root's alone), removed afterwards."""
    with world_folder() as folder:
        yield folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def no_tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess in which `import tensorflow` fails."""
    stub = tmp_path_factory.mktemp("no_tf")
    (stub / "tensorflow").mkdir()
    (stub / "tensorflow" / "__init__.py").write_text("raise ImportError('tensorflow is shadowed for this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(stub), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


# --- no process left behind -------------------------------------------------
# Every process the suite starts inherits this marker, even after its parent
# exits and it is re-parented to init, so the check below finds exactly the
# processes this run started and no one else's.
SESSION_MARKER = f"INSPECTOR_TEST_SESSION={os.getpid()}-{os.urandom(4).hex()}"
os.environ["INSPECTOR_TEST_SESSION"] = SESSION_MARKER.split("=", 1)[1]


def leftover_processes() -> list[tuple[int, str]]:
    """(pid, command line) of live processes carrying this session's marker, except pytest itself."""
    found = []
    marker = SESSION_MARKER.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, waiting to be reaped: not running
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append((int(entry.name), cmdline))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import signal
    import time

    if not Path("/proc/self/environ").exists():
        return
    deadline = time.monotonic() + 5
    left = leftover_processes()
    while left and time.monotonic() < deadline:  # give just-stopped processes a moment
        time.sleep(0.2)
        left = leftover_processes()
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for pid, cmdline in left:
        if reporter:
            reporter.write_line(f"LEFT RUNNING by the test suite: pid {pid}: {cmdline[:200]}", red=True)
        try:
            os.kill(pid, signal.SIGKILL)  # ours by the marker: safe to stop by pid
        except OSError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
