"""Do two graphs compute the same thing? Both run on the same inputs; each is first checked against itself."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph
from inspector.graph.signature import signature
from inspector.run.feeds import Feed, InputOption
from inspector.run.images import collect_images
from inspector.run.inputs import image_size_for
from inspector.run.labels import Prediction, load_labels, score_line, top_predictions
from inspector.run.noise import Reference, judge
from inspector.run.runners import GraphRunner, Runner, graph_pair, one_name
from inspector.run.samples import samples

# The codelab compares label_image's scores, printed to 5 decimals.
DEFAULT_DECIMALS = 5
# VerifyReport.rule: what the verdict is judged by.
NOISE = "noise"        # within the float32 rounding a float64 reference measures
DECIMALS = "decimals"  # to --decimals decimal places


@dataclass(frozen=True)
class VerifiedGraph:
    """One side of the comparison: which tensors were fed and read."""

    path: Path
    input_name: str              # the image input (else the first input)
    output_name: str
    declared_size: tuple[int, int] | None  # None: the input has no shape
    classes: int
    random_ops: tuple[str, ...]  # random ops upstream of the output
    input_names: tuple[str, ...] = ()   # every input fed per run
    fixed: tuple[str, ...] = ()         # inputs fed one value on every run (inference values, --feed)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "input_name": self.input_name,
            "input_names": list(self.input_names),
            "fixed": list(self.fixed),
            "output_name": self.output_name,
            "declared_size": list(self.declared_size) if self.declared_size else None,
            "classes": self.classes,
            "random_ops": list(self.random_ops),
        }


@dataclass(frozen=True)
class InputComparison:
    """One input through both graphs: the difference, the rounding noise it is judged against, and the codelab's view."""

    source: str  # the image's path (relative to its --images folder), or "random #N"
    top_a: tuple[Prediction, ...]
    top_b: tuple[Prediction, ...]
    max_abs_diff: float
    agree: bool
    noise_floor: float | None = None  # what float32 rounding can move an output by here (None: no reference)
    noise: float | None = None        # the reference graph's own rounding error on this input
    view_decimals: int = DEFAULT_DECIMALS  # the codelab's view: label_image's scores at this many decimals

    @property
    def same_top1(self) -> bool:
        return bool(self.top_a and self.top_b and self.top_a[0].index == self.top_b[0].index)

    @property
    def same_top_k(self) -> bool:
        """The same classes in the same order, as far as both lists go."""
        return [p.index for p in self.top_a] == [p.index for p in self.top_b]

    @property
    def codelab_equal(self) -> bool:
        """label_image would print the same lines for both: labels in order, scores at ``view_decimals``."""
        return _printed(self.top_a, self.view_decimals) == _printed(self.top_b, self.view_decimals)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "top_a": [p.to_json() for p in self.top_a],
            "top_b": [p.to_json() for p in self.top_b],
            "max_abs_diff": self.max_abs_diff,
            "noise_floor": self.noise_floor,
            "noise": self.noise,
            "agree": self.agree,
            "same_top1": self.same_top1,
            "same_top_k": self.same_top_k,
            "codelab_equal": self.codelab_equal,
        }


def _printed(top: Sequence[Prediction], decimals: int) -> list[str]:
    return [score_line(p, decimals) for p in top]


@dataclass(frozen=True)
class VerifyReport:
    """The answer to "does b compute what a computes", with the evidence.

    By default (``rule`` NOISE) two outputs agree when they differ by no more
    than float32 rounding can explain: a's graph is also run in float64 (its
    twin, run/noise.py), whose distance from a is the rounding error a carries on
    that input; the noise floor is a multiple of it, and a real change (a weight
    scaled by 1.001) lands far above. With ``rule`` DECIMALS (``--decimals``
    given) they agree to d decimals when every probability differs by less than
    half a unit in the d-th decimal place (``|a - b| < 0.5 * 10**-d``); the bound
    never flips on a rounding boundary as rounding both and comparing would.
    Either way, each input also says whether label_image would print the same
    scores at ``decimals`` (the codelab's own check) and the same top classes.
    """

    a: VerifiedGraph
    b: VerifiedGraph
    inputs: tuple[InputComparison, ...]
    random_inputs: bool  # True: seeded random "photos", no image was given
    seed: int
    input_size: tuple[int, int] | None  # the image input's; None when the graphs take no image
    input_mean: float
    input_std: float
    decimals: int
    labels: Path | None
    # Each graph run twice on the first input: did it give the same output both times?
    self_consistent_a: bool
    self_consistent_b: bool
    self_diff_a: float
    self_diff_b: float
    notes: tuple[str, ...] = ()
    rule: str = NOISE             # NOISE or DECIMALS: what the verdict is judged by
    reference: str | None = None  # "a" or "b": the graph whose float64 twin measured the noise

    @property
    def tolerance(self) -> float:
        """The decimals rule's bound (also what the codelab's view rounds at)."""
        return 0.5 * 10.0 ** -self.decimals

    @property
    def noise_floor(self) -> float | None:
        floors = [c.noise_floor for c in self.inputs if c.noise_floor is not None]
        return max(floors) if floors else None

    @property
    def codelab_equal(self) -> int:
        """Inputs on which label_image would print the same lines for both graphs."""
        return sum(1 for c in self.inputs if c.codelab_equal)

    @property
    def same_top_k(self) -> int:
        return sum(1 for c in self.inputs if c.same_top_k)

    @property
    def bound(self) -> str:
        """What a difference must stay within, in words: "float32 rounding" or "5 decimals"."""
        return "float32 rounding" if self.rule == NOISE else f"{self.decimals} decimals"

    @property
    def judged(self) -> str:
        """The rule in words, for messages: "within float32 rounding" or "to 5 decimals"."""
        return f"within {self.bound}" if self.rule == NOISE else f"to {self.bound}"

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.inputs), default=0.0)

    @property
    def disagreeing(self) -> tuple[InputComparison, ...]:
        return tuple(c for c in self.inputs if not c.agree)

    @property
    def ok(self) -> bool:
        return self.self_consistent_a and self.self_consistent_b and not self.disagreeing

    @property
    def message(self) -> str:
        """One sentence for a person: the verdict, and whom to blame when it is "no"."""
        unstable = [
            (side, name, diff)
            for side, name, diff, steady in (
                (self.a, "a", self.self_diff_a, self.self_consistent_a),
                (self.b, "b", self.self_diff_b, self.self_consistent_b),
            )
            if not steady
        ]
        if unstable:
            parts = []
            for side, name, diff in unstable:
                cause = (
                    f"random ops still active ({', '.join(side.random_ops[:3])}): training dropout left in the graph"
                    if side.random_ops
                    else "something in it is not deterministic"
                )
                parts.append(
                    f"{name} ({side.path}) disagrees with itself: two runs on the same input differ by up to "
                    f"{diff:.3g}; {cause}"
                )
            fix = ("pass --strip-dropout to run both as at inference (the dropout cut out, as optimize --strip-dropout "
                   "does), or export the graph for inference and verify again"
                   if any(side.random_ops for side, _, _ in unstable) else "find what varies and verify again")
            return "; ".join(parts) + f". Differences between the graphs say nothing about the optimizer; {fix}"
        count = len(self.inputs)
        what = f"{count} random input{'s' if count != 1 else ''} (seed {self.seed})" if self.random_inputs else (
            f"{count} image{'s' if count != 1 else ''}"
        )
        floor = f", noise floor {self.noise_floor:.2g}" if self.noise_floor is not None else ""
        view = (f"label_image's {self.decimals}-decimal scores are the same on {self.codelab_equal} of {count}, "
                f"the top {len(self.inputs[0].top_a) if self.inputs else 0} classes on {self.same_top_k}")
        if not self.disagreeing:
            return f"a and b agree {self.judged} on {what} (largest difference {self.max_abs_diff:.2g}{floor}); {view}"
        worst = max(self.inputs, key=lambda c: c.max_abs_diff)
        flips = sum(1 for c in self.inputs if not c.same_top1)
        flipped = f"; the top class changes on {flips}" if flips else ""
        against = f" against a noise floor of {worst.noise_floor:.2g}" if worst.noise_floor is not None else ""
        return (
            f"a and b differ beyond {self.bound} on {len(self.disagreeing)} of {what} "
            f"(largest difference {worst.max_abs_diff:.3g}{against}, on {worst.source}){flipped}; {view}"
        )

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "message": self.message,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "rule": self.rule,
            "reference": self.reference,
            "decimals": self.decimals,
            "tolerance": self.tolerance,
            "max_abs_diff": self.max_abs_diff,
            "noise_floor": self.noise_floor,
            "codelab_equal": self.codelab_equal,
            "same_top_k": self.same_top_k,
            "self_consistent_a": self.self_consistent_a,
            "self_consistent_b": self.self_consistent_b,
            "self_diff_a": self.self_diff_a,
            "self_diff_b": self.self_diff_b,
            "random_inputs": self.random_inputs,
            "seed": self.seed,
            "input_size": list(self.input_size) if self.input_size is not None else None,
            "input_mean": self.input_mean,
            "input_std": self.input_std,
            "labels": str(self.labels) if self.labels is not None else None,
            "inputs": [c.to_json() for c in self.inputs],
            "notes": list(self.notes),
        }


def verify(
    a: LoadedGraph,
    b: LoadedGraph,
    *,
    images: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    decimals: int | None = None,
    labels: Path | None = None,
    top_k: int = 3,
    random_inputs: int = 3,
    seed: int = 0,
    input_names: Sequence[str] | str | None = None,
    output_names: Sequence[str] | str | None = None,
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float = 127.5,
    input_std: float = 127.5,
    progress: Callable[[int, int], None] | None = None,
    allow_unsafe_ops: bool = False,
    strip_dropout: bool = False,
) -> VerifyReport:
    """Run ``a`` and ``b`` on the same inputs and compare every output probability.

    Inputs are the ``images`` plus every image under ``image_dirs`` (searched
    recursively); without any, ``random_inputs`` seeded random "photos". Each
    image is read and preprocessed once and the same tensor fed to both graphs.
    Before comparing, each graph runs twice on the first input, so a graph that
    disagrees with itself (training dropout still active) is named as the cause
    rather than the optimizer. ``progress(done, total)`` is called after each
    input. ``decimals`` None (the default) judges the difference against float32
    rounding noise (see VerifyReport); a number judges it to that many decimals.
    Both graphs are fed alike (run/feeds.py): images go to the image input,
    seeded random data to other inputs, auxiliary inputs their inference value,
    ``feeds`` (``NAME=VALUE`` or ``NAME=FILE.npy``) where given; ``inputs``
    (``NAME[:SHAPE[:DTYPE]]``) names inputs and their shapes. One output name
    applies to both graphs. A graph holding an op the op policy refuses
    (graph/trust.py) is an InspectorError unless ``allow_unsafe_ops``.
    ``strip_dropout`` runs each graph with its dropout cut out, as it computes
    at inference (what ``optimize --strip-dropout`` writes), said in a note.
    """
    files = check_options(
        images=images, image_dirs=image_dirs, decimals=decimals, top_k=top_k, random_inputs=random_inputs, input_std=input_std
    )
    stripped: tuple[str, ...] = ()
    if strip_dropout:
        output = one_name(output_names, "--output_names")
        before = (a, b)
        (a, notes_a), (b, notes_b) = (_without_dropout(g, side, output) for g, side in ((a, "a"), (b, "b")))
        feeds, notes_feeds = _feeds_left(feeds, before=before, after=(a, b))
        stripped = (*notes_a, *notes_b, *notes_feeds) or ("--strip-dropout: neither graph has a dropout to cut out",)
    with graph_pair(a, b, input_names=input_names, output_names=output_names, inputs=inputs, feeds=feeds,
                    allow_unsafe_ops=allow_unsafe_ops) as (runner_a, runner_b):
        report = _compare(
            runner_a, runner_b, files, image_dirs=image_dirs, decimals=decimals, labels=labels, top_k=top_k, random_inputs=random_inputs,
            seed=seed, input_height=input_height, input_width=input_width, input_mean=input_mean,
            input_std=input_std, progress=progress,
        )
    return replace(report, notes=(*stripped, *report.notes)) if stripped else report


def _without_dropout(graph: LoadedGraph, side: str, output: str | None) -> tuple[LoadedGraph, tuple[str, ...]]:
    """The graph with its dropout cut out, and a note on each one cut."""
    from inspector.optimizer.passes.dropout import FED, OFF, ON, without_dropout

    found = signature(graph.graph)
    keep = [output.removesuffix(":0")] if output is not None else list(found.output_names)
    changed, cut = without_dropout(graph.graph, inputs=found.input_names, values=found.inference_values, keep=keep)
    kind = {ON: "training-mode dropout at {}", FED: "dropout at {} (set by {})", OFF: "dropout at {} (it keeps every value)"}
    notes = tuple(
        f"{side}: {kind[d.state].format(d.output, ', '.join(d.settings))} cut out (--strip-dropout): "
        f"run as at inference, reading {d.source}"
        for d in cut
    )
    return (replace(graph, graph=changed) if cut else graph), notes


def _feeds_left(
    feeds: Sequence[Feed | str], *, before: Sequence[LoadedGraph], after: Sequence[LoadedGraph]
) -> tuple[list[Feed], tuple[str, ...]]:
    """The --feed values but those whose placeholder went with the dropout cut out, and a note on each dropped."""
    def names(graphs: Sequence[LoadedGraph]) -> set[str]:
        return {node.name for graph in graphs for node in graph.graph.node}

    had, has = names(before), names(after)
    kept, notes = [], []
    for feed in (Feed.parse(f) for f in feeds):
        name = feed.name.removesuffix(":0")
        if name in has or name not in had:
            kept.append(feed)
        else:
            notes.append(f"--feed {feed.name}: not fed, the dropout it set was cut out (--strip-dropout)")
    return kept, tuple(notes)


def verify_runners(
    runner_a: Runner,
    runner_b: Runner,
    *,
    images: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    decimals: int | None = None,
    labels: Path | None = None,
    top_k: int = 3,
    random_inputs: int = 3,
    seed: int = 0,
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float = 127.5,
    input_std: float = 127.5,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """:func:`verify` for two models already open: any two runners (a GraphRunner, a TFLiteRunner).

    The caller owns the runners (and closes them); their input and output names
    were chosen when they were made.
    """
    files = check_options(
        images=images, image_dirs=image_dirs, decimals=decimals, top_k=top_k, random_inputs=random_inputs, input_std=input_std
    )
    return _compare(
        runner_a, runner_b, files, image_dirs=image_dirs, decimals=decimals, labels=labels, top_k=top_k, random_inputs=random_inputs,
        seed=seed, input_height=input_height, input_width=input_width, input_mean=input_mean,
        input_std=input_std, progress=progress,
    )


def check_options(
    *, images: Sequence[Path], image_dirs: Sequence[Path], decimals: int | None, top_k: int, random_inputs: int, input_std: float
) -> tuple[Path, ...]:
    """Refuse bad options before any model is loaded; the image files to run."""
    if decimals is not None and decimals < 0:
        raise InspectorError(f"decimals must be 0 or more, not {decimals}")
    if top_k < 1:
        raise InspectorError(f"top_k must be at least 1, not {top_k}")
    if input_std == 0:
        raise InspectorError("the input std is 0; pass a non-zero --input_std (127.5 for retrain.py's MobileNet)")
    files = collect_images(images, image_dirs)
    if not files and random_inputs < 1:
        raise InspectorError("nothing to compare: no image given and random inputs set to 0; pass --image or --random N")
    return files


def _compare(
    runner_a: Runner,
    runner_b: Runner,
    files: tuple[Path, ...],
    *,
    image_dirs: Sequence[Path],
    decimals: int | None,
    labels: Path | None,
    top_k: int,
    random_inputs: int,
    seed: int,
    input_height: int | None,
    input_width: int | None,
    input_mean: float,
    input_std: float,
    progress: Callable[[int, int], None] | None,
) -> VerifyReport:
    view = DEFAULT_DECIMALS if decimals is None else decimals
    tolerance = 0.5 * 10.0 ** -view
    size, size_notes = image_size_for([runner_a, runner_b], input_height=input_height, input_width=input_width)
    _check_classes(runner_a, runner_b)
    label_list: tuple[str, ...] = ()
    if labels is not None:
        classes = runner_a.classes or runner_b.classes
        label_list = load_labels(labels, classes=classes, output=f"{runner_a.what}'s output {runner_a.output_name!r}")

    runs = samples(runner_a.plan, files=files, image_dirs=image_dirs, random_inputs=random_inputs, seed=seed, size=size,
                   mean=input_mean, std=input_std, what=runner_a.what)
    total = len(files) if files else random_inputs
    comparisons: list[InputComparison] = []
    self_diff_a = self_diff_b = 0.0
    first_floor = tolerance
    classes = 0
    with contextlib.ExitStack() as stack:
        reference, side, notes = _reference(runner_a, runner_b) if decimals is None else (None, None, ())
        if reference is not None:
            stack.enter_context(reference)
        rule = NOISE if reference is not None else DECIMALS
        for done, sample in enumerate(runs, start=1):
            out_a, out_b = runner_a.run(sample.feeds), runner_b.run(sample.feeds)
            if done == 1:
                # The self-check: a second run on the very same tensors.
                self_diff_a = _max_diff(out_a, runner_a.run(sample.feeds))
                self_diff_b = _max_diff(out_b, runner_b.run(sample.feeds))
                classes = out_a.size
                if out_a.shape != out_b.shape:
                    raise InspectorError(
                        f"{runner_b.what}: mismatched outputs: {out_b.size} classes where {runner_a.what} gives "
                        f"{out_a.size}; compare two versions of the same model (e.g. retrained and optimized)"
                    )
                if labels is not None and len(label_list) < out_a.size:
                    load_labels(labels, classes=out_a.size, output=f"{runner_a.what}'s output {runner_a.output_name!r}")
            diff = _max_diff(out_a, out_b)
            floor = noise = None
            agree = diff < tolerance
            if reference is not None and side is not None:
                ref = reference.outputs(side.values(sample.feeds), side.output_name)
                judgement = judge(out_a, out_b, ref) if side is runner_a else judge(out_b, out_a, ref)
                floor, noise, agree = judgement.floor, judgement.noise, judgement.within
                if done == 1:
                    first_floor = judgement.floor
            comparisons.append(
                InputComparison(
                    source=sample.source,
                    top_a=top_predictions(out_a, label_list, k=top_k),
                    top_b=top_predictions(out_b, label_list, k=top_k),
                    max_abs_diff=diff,
                    agree=agree,
                    noise_floor=floor,
                    noise=noise,
                    view_decimals=view,
                )
            )
            if progress is not None:
                progress(done, total)

    # A steady graph gives the same output twice, to within the rounding it carries anyway; not more
    # than the decimals allow either, since a random graph's float64 twin draws its own noise and
    # measures nothing.
    steady = min(first_floor, tolerance) if rule == NOISE else tolerance
    return VerifyReport(
        a=_side(runner_a, classes),
        b=_side(runner_b, classes),
        inputs=tuple(comparisons),
        random_inputs=not files,
        seed=seed,
        input_size=size,
        input_mean=input_mean,
        input_std=input_std,
        decimals=view,
        labels=labels,
        self_consistent_a=self_diff_a <= steady if rule == NOISE else self_diff_a < steady,
        self_consistent_b=self_diff_b <= steady if rule == NOISE else self_diff_b < steady,
        self_diff_a=self_diff_a,
        self_diff_b=self_diff_b,
        notes=tuple(dict.fromkeys((*runner_a.plan.notes, *runner_b.plan.notes, *size_notes, *notes))),
        rule=rule,
        reference=None if side is None else ("a" if side is runner_a else "b"),
    )


def _reference(a: Runner, b: Runner) -> tuple[Reference | None, Runner | None, tuple[str, ...]]:
    """The float64 twin of a (else of b: a .tflite, random ops), and the runner it stands for; none, with a note, if it cannot be made."""
    graphs = [r for r in (a, b) if isinstance(r, GraphRunner)]
    if not graphs:
        return None, None, (f"no frozen graph to measure float32 rounding with; judged to {DEFAULT_DECIMALS} decimals",)
    # A graph that draws random values has a twin that draws its own: its spread would be the randomness.
    side = next((r for r in graphs if not r.random_ops), None)
    if side is None:
        return None, None, (f"{graphs[0].what} draws random values ({graphs[0].random_ops[0]}), so its rounding "
                            f"cannot be measured apart from them; judged to {DEFAULT_DECIMALS} decimals",)
    try:
        return Reference(side.graph_def, what=side.what, allow_unsafe_ops=side.allow_unsafe_ops), side, ()
    except InspectorError as exc:
        return None, None, (f"{exc.message}; judged to {DEFAULT_DECIMALS} decimals instead",)


def check_inputs(
    runner: Runner, files: Sequence[Path], *, labels: Path | None, size: tuple[int, int] | None, mean: float, std: float
) -> None:
    """Read the labels and decode every image once, so a command that writes a file finds a bad one first."""
    if labels is not None:
        load_labels(labels, classes=runner.classes, output=f"{runner.what}'s output {runner.output_name!r}")
    for sample in samples(runner.plan, files=files, size=size, mean=mean, std=std, what=runner.what):
        del sample


def _check_classes(a: Runner, b: Runner) -> None:
    if a.classes is not None and b.classes is not None and a.classes != b.classes:
        raise InspectorError(
            f"{b.what}: mismatched outputs: output {b.output_name!r} has {b.classes} classes where "
            f"{a.what}'s {a.output_name!r} has {a.classes}; compare two versions of the same model "
            "(e.g. retrained and optimized)"
        )


def _max_diff(x: np.ndarray, y: np.ndarray) -> float:
    if x.shape != y.shape:
        return float("inf")
    return float(np.max(np.abs(x - y))) if x.size else 0.0


def _side(runner: Runner, classes: int) -> VerifiedGraph:
    return VerifiedGraph(
        path=runner.path if runner.path is not None else Path(runner.what),
        input_name=runner.input_name,
        output_name=runner.output_name,
        declared_size=runner.input_size,
        classes=classes,
        random_ops=runner.random_ops,
        input_names=tuple(i.name for i in runner.plan.inputs),
        fixed=tuple(runner.plan.fixed),
    )


__all__ = ["verify", "verify_runners", "check_inputs", "VerifyReport", "VerifiedGraph", "InputComparison"]
