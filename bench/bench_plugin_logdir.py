"""Benchmark: the Graph diff tab on the codelab's logdir with a big training log, this implementation against the one at 180307c.

Run from the project root with the project's Python (it is a script, not a module):

    .venv/bin/python bench/bench_plugin_logdir.py                   # 200 MB of scalar summaries
    .venv/bin/python bench/bench_plugin_logdir.py --kind retrain    # retrain.py's summaries (scalars + histograms)
    .venv/bin/python bench/bench_plugin_logdir.py --size-mb 20 --json

The logdir: the codelab pair (``../shared/fixtures/graphs/poets_pair``) written
by ``inspector.tb.events.write_run`` as runs ``retrained`` and ``optimized``,
plus ``training_summaries/train``: one event file as retrain.py's FileWriter
leaves it, the retrained graph first and then one summary per training step,
``--size-mb`` in all. ``--kind scalars`` logs two scalars a step (~60-byte
records, the most records per megabyte); ``--kind retrain`` logs what
retrain.py's merged summary holds (ten scalars and four histograms, ~1.5 KB).
The log is generated with ``inspector.tb.events.record`` and cached under
``bench/.cache/``.

Each implementation runs in its own child process on the same logdir: the
current one from this checkout, the previous one from ``git archive 180307c
inspector`` unpacked in a temporary folder (never kept, never committed). The
child builds ``GraphDiffPlugin`` on the logdir and calls its WSGI routes:

* first ``/runs`` (every event file read),
* first ``/diff?a=retrained&b=optimized``,
* warm ``/runs`` (nothing changed),
* ``/runs`` after 1 MB of summaries is appended to the training log (as while
  retrain.py trains).

For each it reports wall time and peak memory (the most the process's
resident set grew over its size before the step, sampled every 2 ms), then
the ratios previous / current. The file is read once before both children so
both find it in the page cache. Exit code 0, or 2 if a child fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a file, so the project root is not on sys.path by itself.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from tensorboard.compat.proto.graph_pb2 import GraphDef  # noqa: E402
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary  # noqa: E402

from inspector.tb.events import FILE_VERSION, record, write_run  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "graphs" / "poets_pair"
PREVIOUS = "180307c"
APPEND_BYTES = 1 << 20
TRAIN_RUN = "training_summaries/train"
# Steps generated distinct, then repeated with new step numbers' bytes
# left as they are: the reader's cost depends on record sizes, not values.
_BLOCK_STEPS = 1_000

_CHILD = r"""
import json, os, sys, threading, time
sys.path.insert(0, sys.argv[1])
logdir, train, append = sys.argv[2], sys.argv[3], sys.argv[4]
from tensorboard.plugins import base_plugin
from werkzeug.test import Client
import inspector.tb.plugin.backend as backend
assert backend.__file__.startswith(sys.argv[1]), backend.__file__

PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

class Peak:
    def __enter__(self):
        self.base = self.peak = rss()
        self.done = threading.Event()
        def sample():
            while not self.done.wait(0.002):
                self.peak = max(self.peak, rss())
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        self.start = time.perf_counter()
        return self
    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, rss())

plugin = backend.GraphDiffPlugin(base_plugin.TBContext(logdir=logdir))
apps = plugin.get_plugin_apps()
client = Client(lambda environ, start: apps[environ["PATH_INFO"]](environ, start))
out = {}
def step(name, url, check):
    with Peak() as p:
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        body = response.get_data()
    assert response.status_code == 200, (url, response.status_code, body[:300])
    check(body)
    out[name] = {"seconds": p.seconds, "peak_growth_bytes": p.peak - p.base, "rss_bytes": p.peak}

def unzip(body):
    import gzip
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body

def runs_ok(body):
    listing = json.loads(unzip(body))
    names = [r["run"] for r in listing["runs"]]
    assert {"retrained", "optimized", "training_summaries/train"} <= set(names), names
    assert not listing["problems"], listing["problems"]

def diff_ok(body):
    assert json.loads(unzip(body))["diff"]["totals"] == {"a": 560, "b": 420, "delta": -140}

step("first /runs", "/runs", runs_ok)
step("first /diff", "/diff?a=retrained&b=optimized", diff_ok)
step("warm /runs", "/runs", runs_ok)
with open(train, "ab") as handle, open(append, "rb") as more:
    handle.write(more.read())
step("/runs after +1 MB", "/runs", runs_ok)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Step:
    seconds: float
    peak_growth_bytes: int
    rss_bytes: int


@dataclass(frozen=True)
class Report:
    kind: str
    train_log_bytes: int
    train_log_records: int
    appended_bytes: int
    previous: dict[str, Step]  # the code at 180307c
    current: dict[str, Step]

    def to_json(self) -> dict:
        return asdict(self) | {"ratios": self.ratios()}

    def ratios(self) -> dict[str, dict[str, float | None]]:
        out = {}
        for name, now in self.current.items():
            before = self.previous[name]
            out[name] = {
                "time": before.seconds / now.seconds if now.seconds else None,
                # Growth under a MiB is sampling noise: no ratio.
                "memory": before.peak_growth_bytes / now.peak_growth_bytes if now.peak_growth_bytes >= 1 << 20 else None,
            }
        return out


class ChildFailed(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the training log (default 200)")
    parser.add_argument("--kind", choices=("scalars", "retrain"), default="scalars", help="what each step logs (default scalars)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if not FIXTURES.is_dir():
        sys.stderr.write(f"error: {FIXTURES}: the codelab pair is missing; the benchmark needs ../shared/fixtures\n")
        return 2
    try:
        report = run(size_bytes=args.size_mb << 20, kind=args.kind)
    except ChildFailed as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 0


def run(*, size_bytes: int, kind: str) -> Report:
    retrained = GraphDef.FromString((FIXTURES / "retrained_graph.pb").read_bytes())
    optimized = GraphDef.FromString((FIXTURES / "optimized_graph.pb").read_bytes())
    log, records = _training_log(size_bytes, kind, retrained)
    with tempfile.TemporaryDirectory(prefix="bench-plugin-logdir-") as tmp:
        logdir = Path(tmp) / "logs"
        write_run(retrained, logdir, "retrained")
        write_run(optimized, logdir, "optimized")
        train = logdir.joinpath(*TRAIN_RUN.split("/")) / "events.out.tfevents.1700000000.codelab"
        train.parent.mkdir(parents=True)
        _copy(log, train)
        append = Path(tmp) / "append.bin"
        appended = _summaries(kind, first_step=10**7, until_bytes=APPEND_BYTES)[0]
        append.write_bytes(appended)
        previous_root = Path(tmp) / "previous"
        _unpack_previous(previous_root)
        _read_through(train)  # both children find it in the page cache
        results = {}
        for name, root in (("previous", previous_root), ("current", ROOT)):
            results[name] = _child(root, logdir, train, append)
            os.truncate(train, log.stat().st_size)  # as it was, for the other child
    return Report(
        kind=kind,
        train_log_bytes=log.stat().st_size,
        train_log_records=records,
        appended_bytes=len(appended),
        previous=results["previous"],
        current=results["current"],
    )


def format_report(report: Report) -> str:
    lines = [
        f"training log: {report.train_log_bytes / 2**20:.0f} MiB, {report.train_log_records:,} records ({report.kind}); "
        f"appended: {report.appended_bytes / 2**20:.0f} MiB",
        f"previous = {PREVIOUS}, current = this checkout; memory = peak resident-set growth during the step",
        "",
        f"{'step':<20} {'previous':>12} {'current':>12} {'ratio':>8}   {'previous':>10} {'current':>10} {'ratio':>8}",
        f"{'':<20} {'seconds':>12} {'seconds':>12} {'':>8}   {'MiB':>10} {'MiB':>10} {'':>8}",
    ]
    ratios = report.ratios()
    for name, now in report.current.items():
        before = report.previous[name]
        t, m = ratios[name]["time"], ratios[name]["memory"]
        lines.append(
            f"{name:<20} {before.seconds:>12.3f} {now.seconds:>12.3f} {_ratio(t):>8}   "
            f"{before.peak_growth_bytes / 2**20:>10.1f} {now.peak_growth_bytes / 2**20:>10.1f} {_ratio(m):>8}"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _training_log(size_bytes: int, kind: str, graph: GraphDef) -> tuple[Path, int]:
    # What retrain.py's train FileWriter writes: the version, the graph, then a summary per step.
    path = CACHE / f"train_{kind}_{size_bytes >> 20}MB.tfevents"
    count = path.with_suffix(".records")
    if path.exists() and count.exists():
        return path, int(count.read_text())
    CACHE.mkdir(parents=True, exist_ok=True)
    head = record(Event(wall_time=1.7e9, file_version=FILE_VERSION).SerializeToString())
    head += record(Event(wall_time=1.7e9, graph_def=graph.SerializeToString()).SerializeToString())
    block, steps = _summaries(kind, first_step=0, until_bytes=None)
    records = 2
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        handle.write(head)
        written = len(head)
        while written + len(block) <= size_bytes:
            handle.write(block)
            written += len(block)
            records += steps
    partial.replace(path)
    count.write_text(f"{records}\n")
    return path, records


def _summaries(kind: str, *, first_step: int, until_bytes: int | None) -> tuple[bytes, int]:
    out = io.BytesIO()
    step = first_step
    while (until_bytes is None and step - first_step < _BLOCK_STEPS) or (until_bytes is not None and out.tell() < until_bytes):
        values = [
            Summary.Value(tag="cross_entropy", simple_value=1.0 / (step + 1)),
            Summary.Value(tag="accuracy", simple_value=min(1.0, step / 4000)),
        ]
        if kind == "retrain":
            for var in ("weights", "biases"):
                scope = f"final_training_ops/{var}/summaries"
                values += [Summary.Value(tag=f"{scope}/{k}", simple_value=0.01 * (step % 97)) for k in ("mean", "stddev", "max", "min")]
                values.append(Summary.Value(tag=f"{scope}/histogram", histo=_histogram(step)))
            values += [Summary.Value(tag=t, histo=_histogram(step + 1)) for t in ("final_training_ops/Wx_plus_b/pre_activations", "final_result/activations")]
        out.write(record(Event(wall_time=1.7e9 + step, step=step, summary=Summary(value=values)).SerializeToString()))
        step += 1
    return out.getvalue(), step - first_step


def _histogram(step: int) -> HistogramProto:
    # TensorFlow's histograms keep only non-empty buckets: about thirty for a layer's weights.
    limits = [-1.0 + i / 15 for i in range(30)]
    return HistogramProto(min=-1.0, max=1.0, num=1001.0, sum=0.1 * step, sum_squares=3.0, bucket_limit=limits, bucket=[float((i * step) % 50) for i in range(30)])


def _copy(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(16 << 20):
            dst.write(chunk)


def _read_through(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(16 << 20):
            pass


def _unpack_previous(target: Path) -> None:
    # The previous implementation, whole (its plugin with its own diff and payload), outside this checkout.
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS, "inspector"], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        raise ChildFailed(f"git archive {PREVIOUS} failed: {exc.stderr.decode(errors='replace').strip()}") from None
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


def _child(root: Path, logdir: Path, train: Path, append: Path) -> dict[str, Step]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), str(logdir), str(train), str(append)],
        capture_output=True, text=True, env=env, cwd=str(root),
    )
    if proc.returncode != 0:
        raise ChildFailed(f"the {root} child failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: Step(**values) for name, values in raw.items()}


if __name__ == "__main__":
    sys.exit(main())
