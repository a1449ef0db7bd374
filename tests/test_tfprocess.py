"""TensorFlow in a helper process: the optimize command's own process never imports it, and nothing changes for that."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef

from builders import op, retrained_like
from conftest import ROOT
from inspector.errors import InspectorError
from inspector.optimizer import pipeline
from inspector.optimizer.passes import tfprocess, tfrun
from test_policy import SECRET, read_file_graph

# Runs `inspector optimize` as the program (main() with no argv), in a fresh interpreter, and says what it imported.
OPTIMIZE = """
import json, os, sys
from inspector.cli import main
from inspector.optimizer.passes import tfprocess
started = []
real = tfprocess.Helper.__init__
def recording(self, serve):
    real(self, serve)
    started.append(self.pid)
tfprocess.Helper.__init__ = recording
sys.argv = ["inspector", "optimize", sys.argv[1], "--output", sys.argv[2], "--input_names", sys.argv[3],
            "--output_names", sys.argv[4]]
code = main()
alive = []
for pid in started:
    try:
        os.kill(pid, 0)
        alive.append(pid)
    except ProcessLookupError:
        pass
print(json.dumps({"exit": code, "tensorflow": "tensorflow" in sys.modules, "helpers": len(started), "alive": alive}))
"""


def _optimize_in_child(source: Path, target: Path, inputs: str, outputs: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", OPTIMIZE, str(source), str(target), inputs, outputs],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_command_asks_a_helper_and_writes_the_same_graph(tmp_path: Path) -> None:
    graph = retrained_like()
    source = tmp_path / "retrained_graph.pb"
    source.write_bytes(graph.SerializeToString())
    seen = _optimize_in_child(source, tmp_path / "optimized.pb", "input", "final_result")
    # The command's process read, folded and checked the graph without importing TensorFlow; its helper is gone.
    assert seen["tensorflow"] is False
    assert seen["exit"] == 0 and seen["helpers"] == 1 and seen["alive"] == []
    # Byte for byte what the optimizer writes when it asks TensorFlow in its own process.
    here = pipeline.optimize(graph, input_names=["input"], output_names=["final_result"]).graph
    assert (tmp_path / "optimized.pb").read_bytes() == here.SerializeToString(deterministic=True)


def test_called_in_process_the_command_starts_no_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """main([...]) runs in a process that goes on (a test, a notebook): it keeps TensorFlow, imported once, to itself."""
    from inspector.cli import main

    source = tmp_path / "retrained_graph.pb"
    source.write_bytes(retrained_like().SerializeToString())
    started: list = []
    monkeypatch.setattr(tfprocess, "Helper", lambda serve: started.append(serve))
    assert main(["optimize", str(source), "--output", str(tmp_path / "out.pb")]) == 0
    assert started == []


def test_the_helper_keeps_the_policy_on_files(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_bytes(SECRET)
    source = tmp_path / "hostile.pb"
    source.write_bytes(read_file_graph(secret).SerializeToString())
    seen = _optimize_in_child(source, tmp_path / "out.pb", "input", "probs")
    assert seen["exit"] == 0 and seen["tensorflow"] is False
    # The ReadFile was never run, in the helper either: its bytes are nowhere in the result.
    written = (tmp_path / "out.pb").read_bytes()
    assert SECRET not in written
    assert any(node.op == "ReadFile" for node in GraphDef.FromString(written).node)


@pytest.fixture
def helper():
    started = tfprocess.Helper(f"{tfrun.__name__}:serve")
    yield started
    started.close()


def test_what_tensorflow_refuses_comes_back_as_tfrun_raises_it(helper: tfprocess.Helper) -> None:
    token = tfprocess._ACTIVE.set(helper)  # what tfrun.helping() does, with the helper this test started
    try:
        assert tfrun.op_info("Conv2D") == (True, True)
        assert tfrun.op_info("NoSuchOpAnywhere") == (False, False)
        bad = GraphDef()
        bad.node.append(op("x", "NoSuchOpAnywhere"))
        with pytest.raises(tfrun.ImportFailed, match="NoSuchOpAnywhere"):
            tfrun.check_import(bad)
        # Still answering after a refusal.
        assert tfrun.op_info("Relu") == (True, True)
    finally:
        tfprocess._ACTIVE.reset(token)


def test_a_helper_that_dies_is_an_error_that_says_so(helper: tfprocess.Helper) -> None:
    assert helper.call("op_info", "Add") == (True, True)
    os.kill(helper.pid, signal.SIGKILL)  # the helper this test started
    with pytest.raises(InspectorError, match=rf"helper process \(pid {helper.pid}\) was killed by signal 9 while asked to op info"):
        helper.call("op_info", "Add")


def test_no_helper_where_tensorflow_is_imported_already() -> None:
    from inspector.graph import tfcompat

    tfcompat.tf()
    with tfrun.helping() as started:
        assert started is None and tfprocess.active() is None


def test_answers_asked_ahead_come_to_their_askers(helper: tfprocess.Helper) -> None:
    bad = GraphDef()
    bad.node.append(op("x", "NoSuchOpAnywhere"))
    token = tfprocess._ACTIVE.set(helper)
    try:
        check = tfrun.check_import_later(bad)  # asked, not yet answered
        assert tfrun.op_info("Relu") == (True, True)  # a later question gets its own answer first
        with pytest.raises(tfrun.ImportFailed, match="NoSuchOpAnywhere"):
            check()
    finally:
        tfprocess._ACTIVE.reset(token)


def test_an_import_the_parent_dropped_is_dropped_in_the_helper(helper: tfprocess.Helper, monkeypatch: pytest.MonkeyPatch) -> None:
    unraised: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraised.append)
    token = tfprocess._ACTIVE.set(helper)
    try:
        bad = GraphDef()
        bad.node.append(op("x", "NoSuchOpAnywhere"))
        with pytest.raises(tfrun.ImportFailed):
            tfrun.static_outputs(bad)  # an import that failed leaves nothing to forget, and says nothing as it goes
        outputs = tfrun.static_outputs(retrained_like())
        assert outputs["final_result"][0][0] == 1  # DT_FLOAT, asked of the helper
        del outputs  # tells the helper to forget its tf.Graph; that answer is never waited for ...
        again = tfrun.static_outputs(retrained_like())
        # ... and does not stand in for the next one's.
        assert again.dtypes("final_result") == [1] and tfrun.op_info("Relu") == (True, True)
        assert unraised == []
    finally:
        tfprocess._ACTIVE.reset(token)


def test_static_outputs_asked_ahead_answer_once_and_after_other_questions(helper: tfprocess.Helper) -> None:
    bad = GraphDef()
    bad.node.append(op("x", "NoSuchOpAnywhere"))
    token = tfprocess._ACTIVE.set(helper)
    try:
        later = tfrun.static_outputs_later(retrained_like())  # asked; the helper imports while this goes on
        failing = tfrun.static_outputs_later(bad)
        assert tfrun.op_info("Relu") == (True, True)  # asked after, answered first
        outputs = later()
        assert later() is outputs and outputs.dtypes("final_result") == [1]
        for _ in range(2):  # the refusal, read once, is given again: the second call does not wait for an answer
            with pytest.raises(tfrun.ImportFailed, match="NoSuchOpAnywhere"):
                failing()
        assert tfrun.op_info("Add") == (True, True)
    finally:
        tfprocess._ACTIVE.reset(token)


def test_without_a_helper_static_outputs_asked_ahead_import_when_first_called(monkeypatch: pytest.MonkeyPatch) -> None:
    imports: list[GraphDef] = []
    real = tfrun.import_graph
    monkeypatch.setattr(tfrun, "import_graph", lambda graph: imports.append(graph) or real(graph))
    later = tfrun.static_outputs_later(retrained_like())
    assert imports == []
    assert later().dtypes("final_result") == [1] and later() is later()
    assert len(imports) == 1


def test_light_copies_only_a_graph_it_changes() -> None:
    graph = retrained_like()
    assert tfrun.light(graph, limit=10**9) is graph  # no constant to drop: the graph itself, not a copy of every node
    before = graph.SerializeToString()
    lightened = tfrun.light(graph, limit=0)
    assert lightened is not graph and graph.SerializeToString() == before  # the input untouched
    shapes = {n.name: n.attr["value"].tensor.tensor_shape for n in graph.node if n.op == "Const"}
    dropped = [n for n in lightened.node if n.op == "Const" and not n.attr["value"].tensor.tensor_content]
    assert len(dropped) == len(shapes) and all(n.attr["value"].tensor.tensor_shape == shapes[n.name] for n in dropped)
