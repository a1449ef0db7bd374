"""Benchmark: how inspector's commands grow with the graph, 10k to 1M nodes, against the parse floor and TensorFlow's optimizer.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_scale.py                        # 10k, 100k, 1M nodes
    .venv/bin/python bench/bench_scale.py --sizes 10000,100000 --json

The graphs: bench_diff.synthetic_pair(blocks), conv + decomposed batch-norm
blocks of 20 nodes (A) and the same folded into 5 (B), for N/20 blocks, given
the dtypes, conv attributes and input shape TensorFlow needs to import them;
they are written once per size into a temporary folder. Each step runs in a fresh
child process (``python -c`` or the ``inspector`` CLI), timed as wall time with
its peak resident memory (``ru_maxrss`` from ``os.wait4``):

* parse: ``GraphDef.ParseFromString`` of A and B, the physical floor every
  other step starts with (protobuf's upb parser);
* walk: the parse, then one Python pass reading each node's name, op and
  inputs: the least any Python reader of a graph's structure does, so the
  floor for code that is not native (each step's time is also printed as a
  multiple of it);
* diff: ``inspector diff A B --json`` (output to /dev/null);
* summarize: ``inspector summarize A --json``;
* tb: ``inspector tb A --logdir L`` (weights left out, as by default);
* tab /diff: the Graph diff tab's first ``/diff`` (``diff_json_bytes``: the
  summary, stories and tables the tab shows first), on a logdir holding both
  runs as ``tb`` writes them (written before the child starts), diffed in the
  request;
* tab +draw: that ``/diff``, then the drawing its first ``/level`` asks for
  (``GraphDiffPlugin.drawing``);
* compare: ``inspector compare A B --logdir L --no-board --no-check``, which
  writes both runs and the diff the tab shows;
* tab stored: the tab's first ``/diff`` on compare's logdir, which serves the
  diff compare stored;
* tb on weights: ``inspector tb`` on a graph that is almost all weights
  (``--weights-gib``, 1.6 by default: 4 MiB Consts, each read by an Identity),
  against parsing it; memory also as a multiple of the file's size;
* optimize (100k only): ``inspector optimize A`` against TensorFlow's
  ``optimize_for_inference`` (``inspector.optimizer.baselines.tensorflow_optimize``)
  on the same graph, each in its own child, after a child that imports
  TensorFlow (so that neither reads its files from disk where the other finds
  them cached), interleaved ``--optimize-rounds`` times (3); the median is shown.
  ``--previous REV`` adds the same command from REV's source tree (a temporary
  git worktree) to each round. Peak memory is the largest one process held:
  optimize's TensorFlow helper process counts, the sum of the two does not.

Printed per step and size: seconds, peak MiB, the ratio to the parse floor of
the same size (time and memory), and the slope: how many times longer the step
takes for ten times the nodes (10 is linear).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
INSPECTOR = [sys.executable, "-m", "inspector"]
# As the program (main() reads sys.argv), as `python -m inspector` runs it: that is when optimize starts its helper process.
RUN_PREVIOUS = "import sys; sys.path.insert(0, '.'); from inspector.cli import main; sys.argv[0] = 'inspector'; sys.exit(main())"
STEPS = ("parse", "walk", "diff", "summarize", "tb", "tab /diff", "tab +draw", "compare", "tab stored")

PARSE = """
import sys
from tensorboard.compat.proto.graph_pb2 import GraphDef
for path in sys.argv[1:]:
    GraphDef().ParseFromString(open(path, "rb").read())
"""
WALK = """
import sys
from tensorboard.compat.proto.graph_pb2 import GraphDef
for path in sys.argv[1:]:
    graph = GraphDef()
    graph.ParseFromString(open(path, "rb").read())
    rows = [(node.name, node.op, list(node.input)) for node in graph.node]
"""
PLUGIN = """
import sys
from tensorboard.plugins import base_plugin
from inspector.tb.plugin.backend import GraphDiffPlugin
plugin = GraphDiffPlugin(base_plugin.TBContext(logdir=sys.argv[1]))
plugin.diff_json_bytes("a", "b")
if sys.argv[2] == "draw":
    plugin.drawing("a", "b")
"""
TF_OPTIMIZE = """
import sys
from pathlib import Path
from tensorboard.compat.proto.graph_pb2 import GraphDef
from inspector.optimizer.baselines import tensorflow_optimize
graph = GraphDef.FromString(Path(sys.argv[1]).read_bytes())
Path(sys.argv[2]).write_bytes(tensorflow_optimize(graph, input_names=["input"], output_names=[sys.argv[3]]).SerializeToString())
"""


def child(argv: list[str], *, cwd: Path = ROOT) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": round(time.perf_counter() - start, 3), "peak_mib": round(usage.ru_maxrss / 1024, 1), "exit": code,
            **({"error": err.strip().splitlines()[-1][:300]} if code not in (0, 1) and err.strip() else {})}


def importable(graph) -> None:
    """Give the synthetic graph what TensorFlow needs to import it (dtypes, conv strides and padding, an input shape)."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DataType

    for node in graph.node:
        if node.op == "Placeholder":
            node.attr["shape"].CopyFrom(AttrValue(shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=s) for s in (1, 4, 4, 4)])))
            continue
        if node.op == "Const":
            continue
        node.attr["T"].CopyFrom(AttrValue(type=DataType.DT_FLOAT))
        if node.op == "Conv2D":
            node.attr["strides"].CopyFrom(AttrValue(list=AttrValue.ListValue(i=[1, 1, 1, 1])))
            node.attr["padding"].CopyFrom(AttrValue(s=b"SAME"))


MAKE_PAIR = """
import sys
from pathlib import Path
sys.path.insert(0, "bench")
from bench_diff import synthetic_pair
from bench_scale import importable
from inspector.tb.events import write_run
blocks, folder = int(sys.argv[1]), Path(sys.argv[2])
a, b = synthetic_pair(blocks)
for graph, name in ((a, "a"), (b, "b")):
    importable(graph)
    (folder / f"{name}_{sys.argv[3]}.pb").write_bytes(graph.SerializeToString())
    write_run(graph, folder / f"logs_{sys.argv[3]}", name)
"""


def run_size(nodes: int, folder: Path, *, optimize: bool, say, optimize_rounds: int = 3, previous: Path | None = None) -> dict:
    blocks = max(1, nodes // 20)
    # Made in a child: a parent grown by the graphs would lend each forked child its size as peak memory.
    made = child([sys.executable, "-c", MAKE_PAIR, str(blocks), str(folder), str(nodes)])
    if made["exit"] != 0:
        raise SystemExit(f"could not write the {nodes:,}-node pair: {made.get('error', '')}")
    pa, pb = folder / f"a_{nodes}.pb", folder / f"b_{nodes}.pb"
    logdir = folder / f"logs_{nodes}"
    last = f"net/block_{blocks - 1}/Relu"
    out: dict = {"nodes": nodes, "nodes_a": blocks * 20 + 1, "file_bytes": pa.stat().st_size}
    commands = {
        "parse": [sys.executable, "-c", PARSE, str(pa), str(pb)],
        "walk": [sys.executable, "-c", WALK, str(pa), str(pb)],
        "diff": [*INSPECTOR, "diff", str(pa), str(pb), "--json"],
        "summarize": [*INSPECTOR, "summarize", str(pa), "--json"],
        "tb": [*INSPECTOR, "tb", str(pa), "--logdir", str(folder / f"tb_{nodes}")],
        "tab /diff": [sys.executable, "-c", PLUGIN, str(logdir), "diff"],
        "tab +draw": [sys.executable, "-c", PLUGIN, str(logdir), "draw"],
        "compare": [*INSPECTOR, "compare", str(pa), str(pb), "--logdir", str(folder / f"compare_{nodes}"), "--names", "a", "b",
                    "--no-board", "--no-check"],
        "tab stored": [sys.executable, "-c", PLUGIN, str(folder / f"compare_{nodes}"), "diff"],
    }
    for step, argv in commands.items():
        out[step] = child(argv)
        said(say, nodes, step, out[step])
    if optimize:
        rivals = {
            "optimize": [*INSPECTOR, "optimize", str(pa), "--output", str(folder / f"opt_{nodes}.pb"), "--force",
                         "--input_names", "input", "--output_names", last],
            "tf_optimize": [sys.executable, "-c", TF_OPTIMIZE, str(pa), str(folder / f"tfopt_{nodes}.pb"), last],
        }
        places = {step: ROOT for step in rivals}
        if previous is not None:  # the same command from an earlier commit's source tree
            rivals["optimize_previous"] = [sys.executable, "-c", RUN_PREVIOUS, "optimize", str(pa), "--output",
                                           str(folder / f"prev_{nodes}.pb"), "--force", "--input_names", "input",
                                           "--output_names", last]
            places["optimize_previous"] = previous
        # TensorFlow's files into the page cache first: whichever imported it first would pay for reading them.
        child([sys.executable, "-c", "import tensorflow"])
        runs: dict[str, list[dict]] = {step: [] for step in rivals}
        for _ in range(optimize_rounds):  # interleaved, so a slow spell of the machine falls on both
            for step, argv in rivals.items():
                runs[step].append(child(argv, cwd=places[step]))
                said(say, nodes, step, runs[step][-1])
        for step, results in runs.items():
            out[step] = {**sorted(results, key=lambda r: r["seconds"])[len(results) // 2],
                         "rounds": [r["seconds"] for r in results]}
        commands.update(rivals)
    for step in commands:
        if step != "parse":
            out[step]["x_parse_time"] = round(out[step]["seconds"] / out["parse"]["seconds"], 2)
            out[step]["x_parse_memory"] = round(out[step]["peak_mib"] / out["parse"]["peak_mib"], 2)
            out[step]["x_walk_time"] = round(out[step]["seconds"] / out["walk"]["seconds"], 2)
    return out


def said(say, nodes: int, step: str, result: dict) -> None:
    say(f"{nodes:>9,} nodes  {step:<12} {result['seconds']:8.2f} s {result['peak_mib']:8.0f} MiB"
        f"  exit {result['exit']}{'  ' + result.get('error', '') if 'error' in result else ''}")


def weights_graph(total_bytes: int, *, tensor_bytes: int = 4 * 2**20):
    """A graph that is mostly weights: Consts of ``tensor_bytes`` each, every one read by an Identity, ``total_bytes`` in all."""
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    graph = GraphDef()
    count = max(1, total_bytes // tensor_bytes)
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=tensor_bytes // 4)])
    for i in range(count):
        content = (i.to_bytes(4, "little") * (tensor_bytes // 4))
        graph.node.add(name=f"layer_{i}/weights", op="Const", attr={
            "dtype": AttrValue(type=1), "value": AttrValue(tensor=TensorProto(dtype=1, tensor_shape=shape, tensor_content=content))})
        graph.node.add(name=f"layer_{i}/read", op="Identity", input=[f"layer_{i}/weights"], attr={"T": AttrValue(type=1)})
    return graph


def run_weights(total_bytes: int, folder: Path, *, say) -> dict:
    """``inspector tb`` on a graph of ``total_bytes`` of weights, against parsing it."""
    path = folder / "weights.pb"
    # Made in a child: a parent grown by 3 GB would lend a forked child its size as peak memory.
    made = child([sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); from pathlib import Path; import bench_scale; "
                  "Path(sys.argv[1]).write_bytes(bench_scale.weights_graph(int(sys.argv[2])).SerializeToString())",
                  str(path), str(total_bytes)])
    if made["exit"] != 0:
        raise SystemExit(f"could not write the weights graph: {made.get('error', '')}")
    out: dict = {"file_bytes": path.stat().st_size}
    for step, argv in {"parse": [sys.executable, "-c", PARSE, str(path)],
                       "tb": [*INSPECTOR, "tb", str(path), "--logdir", str(folder / "tb_weights")]}.items():
        out[step] = child(argv)
        say(f"{out['file_bytes'] / 2**30:.2f} GiB of weights  {step:<6} {out[step]['seconds']:8.2f} s {out[step]['peak_mib']:8.0f} MiB")
    out["tb"]["x_parse_time"] = round(out["tb"]["seconds"] / out["parse"]["seconds"], 2)
    out["tb"]["x_file_memory"] = round(out["tb"]["peak_mib"] * 2**20 / out["file_bytes"], 2)
    path.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="node counts of graph A, comma-separated")
    parser.add_argument("--optimize-at", type=int, default=100000, help="the size at which optimize is timed against TensorFlow's tool (0: never)")
    parser.add_argument("--optimize-rounds", type=int, default=3, help="interleaved runs of optimize and TensorFlow's tool (the median is shown)")
    parser.add_argument("--weights-gib", type=float, default=1.6, help="size of the weights-only graph tb is timed on (0: none)")
    parser.add_argument("--previous", default="", help="also time optimize from this git revision, in the same rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        previous = Path(tmp) / "previous" if args.previous else None
        if previous is not None:
            subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(previous), args.previous], cwd=ROOT, check=True)
        try:
            results = [run_size(n, Path(tmp), optimize=n == args.optimize_at, say=say, optimize_rounds=args.optimize_rounds,
                                previous=previous) for n in sizes]
        finally:
            if previous is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(previous)], cwd=ROOT, check=False)
        weights = run_weights(int(args.weights_gib * 2**30), Path(tmp), say=say) if args.weights_gib > 0 else None
    for prev, cur in zip(results, results[1:]):
        factor = cur["nodes"] / prev["nodes"]
        for step in STEPS:
            if step in prev and step in cur and prev[step]["seconds"] > 0:
                # Per tenfold: 10 means linear in the nodes.
                cur[step]["slope_per_10x"] = round((cur[step]["seconds"] / prev[step]["seconds"]) ** (1 / math.log10(factor)), 2)
    if args.json:
        print(json.dumps({"schema": 1, "sizes": results, "weights": weights}, indent=2))
        return 0
    print(f"{'nodes':>9} {'step':<12} {'seconds':>9} {'peak MiB':>9} {'x parse (time, mem)':>20} {'x walk':>7} {'slope / 10x':>12}")
    for r in results:
        for step in ("parse", *STEPS[1:], "optimize", "tf_optimize", "optimize_previous"):
            if step not in r:
                continue
            m = r[step]
            ratio = f"{m['x_parse_time']:.1f}x, {m['x_parse_memory']:.1f}x" if "x_parse_time" in m else ""
            slope = f"{m['slope_per_10x']:.1f}" if "slope_per_10x" in m else ""
            walk = f"{m['x_walk_time']:.1f}x" if "x_walk_time" in m and step != "walk" else ""
            failed = f"  FAILED (exit {m['exit']}): {m.get('error', '')}" if m["exit"] not in (0, 1) else ""
            print(f"{r['nodes']:>9,} {step:<12} {m['seconds']:>9.2f} {m['peak_mib']:>9.0f} {ratio:>20} {walk:>7} {slope:>12}{failed}")
        if "optimize" in r and r["optimize"]["exit"] == 0 and r["tf_optimize"]["exit"] == 0:
            print(f"{'':>9} optimize / TensorFlow's tool: {r['optimize']['seconds'] / r['tf_optimize']['seconds']:.2f}x time, "
                  f"{r['optimize']['peak_mib'] / r['tf_optimize']['peak_mib']:.2f}x memory")
        if "optimize_previous" in r and r["optimize_previous"]["exit"] == 0 and r["optimize"]["exit"] == 0:
            print(f"{'':>9} optimize / {args.previous}'s: {r['optimize']['seconds'] / r['optimize_previous']['seconds']:.2f}x time; "
                  f"{args.previous}'s / TensorFlow's tool: "
                  f"{r['optimize_previous']['seconds'] / r['tf_optimize']['seconds']:.2f}x")
    print("slope: how many times longer for ten times the nodes (10 = linear)")
    if weights is not None:
        w, gib = weights, weights["file_bytes"] / 2**30
        print(f"tb on a {gib:.2f} GiB graph of weights: {w['tb']['seconds']:.2f} s, {w['tb']['peak_mib']:.0f} MiB "
              f"({w['tb']['x_parse_time']:.1f}x the parse's {w['parse']['seconds']:.2f} s; {w['tb']['x_file_memory']:.2f}x the file's size "
              f"in memory, the parse {w['parse']['peak_mib'] * 2**20 / w['file_bytes']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
