"""--allow-unsafe-ops reaches the library from every command that runs a graph (the policy itself: test_policy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.types_pb2 import DataType

from builders import retrained_like
from inspector.cli import main

pytestmark = pytest.mark.slow

FIX = "inspector runs no such op unless you trust the graph: pass --allow-unsafe-ops"


def _reads_a_file(secret: Path) -> GraphDef:
    """A graph the CLI can run, plus a ReadFile of ``secret`` that no output needs: the policy refuses the whole graph."""
    graph = retrained_like()
    path = NodeDef(name="loader/path", op="Const")
    path.attr["dtype"].type = DataType.DT_STRING
    path.attr["value"].tensor.dtype = DataType.DT_STRING
    path.attr["value"].tensor.string_val.append(str(secret).encode())
    read = NodeDef(name="loader/ReadFile", op="ReadFile", input=["loader/path"])
    graph.node.extend([path, read])
    return graph


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the graph with a ReadFile, a clean graph, a small image)."""
    from PIL import Image

    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"PRIVATE-KEY")
    graph = tmp_path / "hostile_graph.pb"
    graph.write_bytes(_reads_a_file(secret).SerializeToString())
    clean = tmp_path / "clean_graph.pb"
    clean.write_bytes(retrained_like().SerializeToString())
    image = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (120, 30, 200)).save(image)
    return graph, clean, image


def _commands(graph: Path, clean: Path, image: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "verify": ["verify", str(graph), str(clean), "--random", "1"],
        "label": ["label", "--graph", str(graph), "--image", str(image)],
        "bench": ["bench", str(graph), str(clean), "--runs", "1", "--warmup", "0"],
        "check": ["check", str(graph)],
        "export": ["export", str(graph), "--tflite", str(tmp_path / "out.tflite"), "--runs", "0", "--random", "1"],
        "compare": ["compare", str(graph), "--output", str(tmp_path / "opt.pb"), "--logdir", str(tmp_path / "logs"),
                    "--no-board", "--no-check"],
    }


def test_each_command_refuses_the_graph_without_the_flag_and_runs_it_with(hostile, tmp_path: Path, capsys):
    graph, clean, image = hostile
    for name, argv in _commands(graph, clean, image, tmp_path).items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "'loader/ReadFile'" in err and err.endswith(FIX), (name, err)
        code = main([*argv, "--allow-unsafe-ops"])
        err = capsys.readouterr().err
        assert FIX not in err, (name, err)
        # check says "no" by its own exit (1) for reasons of its own; everything else runs through.
        assert code in ((0, 1) if name == "check" else (0,)), (name, code, err)


def test_compare_of_two_graphs_skips_the_check_of_an_unsafe_one_and_says_why(hostile, tmp_path: Path, capsys):
    graph, clean, _ = hostile
    argv = ["compare", str(graph), str(clean), "--logdir", str(tmp_path / "logs"), "--no-board"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "TensorFlow Lite check skipped: " in err and FIX in err
    assert main([*argv, "--allow-unsafe-ops"]) == 0
    assert FIX not in capsys.readouterr().err


def test_the_codelab_label_image_takes_the_flag(hostile, capsys):
    from inspector.codelab import label_image

    graph, _, image = hostile
    assert label_image.main(["--graph", str(graph), "--image", str(image)]) == 2
    assert capsys.readouterr().err.strip().endswith(FIX)
    assert label_image.main(["--graph", str(graph), "--image", str(image), "--allow-unsafe-ops"]) == 0
    assert FIX not in capsys.readouterr().err
