"""Benchmark: the diff's structural matching and stories against the name-only diff it replaced, time and memory.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_diff.py              # the table (and the README's markdown)
    .venv/bin/python bench/bench_diff.py --repeats 1  # quicker

Pairs:

* ``inception``: Keras InceptionV3 frozen (2,217 nodes, ``keras_frozen``) and
  ``inspector optimize`` of it (~470 nodes), cached under ``bench/.cache/``;
* ``synthetic-100k``: 5,000 conv + decomposed batch norm blocks (100,000 nodes)
  and the same with every batch norm folded (25,000 nodes), built from protos here;
* ``renamed-100k``: that 100,000-node graph against itself with every node renamed
  (the name-only diff sees 100,000 removed and 100,000 added).

Each implementation runs in its own child process per pair and repeat,
interleaved: the current one from this checkout, the previous one (name-only
matching, scope summaries) from ``git archive 9891f62 inspector`` unpacked in a
temporary folder. A child reads both graphs, then times ``diff_graphs(a, b)``
and reports its wall time and the process's peak RSS (``ru_maxrss``), and the
growth of that peak during the diff.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tensorboard.compat.proto.attr_value_pb2 import AttrValue  # noqa: E402
from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402
from tensorboard.compat.proto.node_def_pb2 import NodeDef  # noqa: E402
from tensorboard.compat.proto.tensor_pb2 import TensorProto  # noqa: E402
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto  # noqa: E402
from tensorboard.compat.proto.types_pb2 import DataType  # noqa: E402

from inspector.graph.samples import renamed  # noqa: E402

PREVIOUS = "9891f62"
CACHE = ROOT / "bench" / ".cache"
BLOCKS = 5000

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from inspector.graph.io import load_graph
from inspector.analysis.diff import diff_graphs
a, b = load_graph(Path(sys.argv[2])).graph, load_graph(Path(sys.argv[3])).graph
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
diff = diff_graphs(a, b)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "growth_kib": peak - before, "removed": len(diff.only_a),
                  "added": len(diff.only_b), "stories": len(getattr(diff, "stories", ()))}))
"""


def _tensor(values: np.ndarray) -> AttrValue:
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in values.shape])
    return AttrValue(tensor=TensorProto(dtype=DataType.DT_FLOAT, tensor_shape=shape, tensor_content=values.tobytes()))


def _const(name: str, values: np.ndarray) -> NodeDef:
    return NodeDef(name=name, op="Const", attr={"dtype": AttrValue(type=DataType.DT_FLOAT), "value": _tensor(values)})


def _op(name: str, op: str, *inputs: str) -> NodeDef:
    return NodeDef(name=name, op=op, input=list(inputs), attr={"T": AttrValue(type=DataType.DT_FLOAT)})


def synthetic_pair(blocks: int = BLOCKS) -> tuple[GraphDef, GraphDef]:
    """``blocks`` conv + decomposed batch norm blocks (20 nodes each), and the same folded (5 nodes each)."""
    rng = np.random.default_rng(0)
    a, b = GraphDef(), GraphDef()
    for g in (a, b):
        g.node.append(NodeDef(name="input", op="Placeholder", attr={"dtype": AttrValue(type=DataType.DT_FLOAT)}))
    prev = "input"
    for i in range(blocks):
        s = f"net/block_{i}"
        w = rng.normal(size=(1, 1, 4, 4)).astype(np.float32)
        gamma, beta, mean, var = (rng.normal(size=4).astype(np.float32) for _ in range(4))
        var = np.abs(var) + 1
        a.node.extend([
            _const(f"{s}/weights", w), _op(f"{s}/weights/read", "Identity", f"{s}/weights"),
            _op(f"{s}/conv", "Conv2D", prev, f"{s}/weights/read"),
            *(_const(f"{s}/bn/{k}", v) for k, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))),
            *(_op(f"{s}/bn/{k}/read", "Identity", f"{s}/bn/{k}") for k in ("gamma", "beta", "mean", "var")),
            _const(f"{s}/bn/eps", np.array(1e-3, np.float32)), _op(f"{s}/bn/add", "Add", f"{s}/bn/var/read", f"{s}/bn/eps"),
            _op(f"{s}/bn/Rsqrt", "Rsqrt", f"{s}/bn/add"), _op(f"{s}/bn/mul", "Mul", f"{s}/bn/Rsqrt", f"{s}/bn/gamma/read"),
            _op(f"{s}/bn/mul_1", "Mul", f"{s}/conv", f"{s}/bn/mul"), _op(f"{s}/bn/mul_2", "Mul", f"{s}/bn/mean/read", f"{s}/bn/mul"),
            _op(f"{s}/bn/sub", "Sub", f"{s}/bn/beta/read", f"{s}/bn/mul_2"), _op(f"{s}/bn/add_1", "Add", f"{s}/bn/mul_1", f"{s}/bn/sub"),
            _op(f"{s}/Relu", "Relu", f"{s}/bn/add_1"),
        ])
        scale = gamma / np.sqrt(var + 1e-3)
        b.node.extend([
            _const(f"{s}/weights", (w * scale).astype(np.float32)), _op(f"{s}/conv", "Conv2D", prev, f"{s}/weights"),
            _const(f"{s}/bn/add_1/bias", (beta - mean * scale).astype(np.float32)),
            _op(f"{s}/bn/add_1", "BiasAdd", f"{s}/conv", f"{s}/bn/add_1/bias"), _op(f"{s}/Relu", "Relu", f"{s}/bn/add_1"),
        ])
        prev = f"{s}/Relu"
    return a, b


def _inception(folder: Path) -> tuple[Path, Path]:
    a, b = CACHE / "inception_v3_keras.pb", CACHE / "inception_v3_keras_optimized.pb"
    if not a.exists() or not b.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print("generating the InceptionV3 pair (keras_frozen + inspector optimize) ...", file=sys.stderr)
        code = ("import sys; from pathlib import Path; import inspector; from inspector.graph.samples import keras_frozen, write_graph; "
                "g = keras_frozen('InceptionV3'); write_graph(g, Path(sys.argv[1])); write_graph(inspector.optimize(g).graph, Path(sys.argv[2]))")
        subprocess.run([sys.executable, "-c", code, str(a), str(b)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return a, b


def _pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    big, folded = synthetic_pair()
    paths = {name: folder / f"{name}.pb" for name in ("big", "folded", "renamed")}
    paths["big"].write_bytes(big.SerializeToString())
    paths["folded"].write_bytes(folded.SerializeToString())
    paths["renamed"].write_bytes(renamed(big, "v2/").SerializeToString())
    return {
        "inception": _inception(folder),
        "synthetic-100k": (paths["big"], paths["folded"]),
        "renamed-100k": (paths["big"], paths["renamed"]),
    }


def _previous(target: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS, "inspector"], check=True, capture_output=True).stdout
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


def _run(root: Path, a: Path, b: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(a), str(b)], capture_output=True, text=True,
                          env=env, cwd=str(root))
    if done.returncode != 0:
        raise SystemExit(f"child failed for {root}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        previous = folder / "previous"
        _previous(previous)
        pairs = _pairs(folder)
        rows = []
        for name, (a, b) in pairs.items():
            samples: dict[str, list[dict]] = {"previous": [], "current": []}
            for _ in range(args.repeats):
                samples["previous"].append(_run(previous, a, b))
                samples["current"].append(_run(ROOT, a, b))
            med = {k: {f: statistics.median(s[f] for s in v) for f in ("seconds", "peak_kib", "growth_kib")} | v[0]
                   for k, v in samples.items()}
            rows.append((name, med))
    print("| pair | implementation | removed / added | stories | diff time (median) | peak RSS | growth in the diff |")
    print("|---|---|---|--:|--:|--:|--:|")
    for name, med in rows:
        for impl in ("previous", "current"):
            m = med[impl]
            print(f"| {name} | {impl} | {m['removed']:,} / {m['added']:,} | {m['stories']} | {m['seconds']:.3f} s | "
                  f"{m['peak_kib'] / 1024:.0f} MiB | {m['growth_kib'] / 1024:.0f} MiB |")
        p, c = med["previous"], med["current"]
        print(f"| {name} | ratio current / previous | | | {c['seconds'] / p['seconds']:.2f}x | "
              f"{c['peak_kib'] / p['peak_kib']:.2f}x | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
