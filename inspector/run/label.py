"""Label one image with a frozen graph, as the codelab's label_image does, with what it reads from the graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph, load_graph
from inspector.graph.names import CODELAB_FLAGS
from inspector.run.feeds import Feed, InputOption
from inspector.run.inputs import image_size_for
from inspector.run.labels import Prediction, find_labels, load_labels, top_predictions
from inspector.run.runners import GraphRunner
from inspector.run.samples import samples

# retrain.py's MobileNet models are trained on (x - 127.5) / 127.5; its Inception v3 on
# (x - 128) / 128. The codelab's label_image defaults to 128 for both, which is close
# but not what retrain.py used for MobileNet.
MOBILENET_MEAN = 127.5
MOBILENET_STD = 127.5
INCEPTION_MEAN = 128.0
INCEPTION_STD = 128.0


@dataclass(frozen=True)
class LabelResult:
    """One image through one graph, as the codelab's label_image reports it, plus what was read from the graph."""

    graph: Path | None
    image: Path
    input_name: str
    output_name: str
    input_size: tuple[int, int] | None  # None: the graph takes no image (a .npy fed instead)
    input_mean: float
    input_std: float
    labels: Path | None
    seconds: float
    top: tuple[Prediction, ...]
    # (option, value) pairs for each setting read from the graph rather than given,
    # e.g. ("input_layer", "input"), ("input_height", "128"); the caller words the note.
    detected: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # what was fed automatically (an auxiliary input's inference value, ...)
    input_names: tuple[str, ...] = ()  # every input fed per run (the image input first among them)

    def to_json(self) -> dict:
        return {
            "graph": str(self.graph) if self.graph is not None else None,
            "image": str(self.image),
            "input_name": self.input_name,
            "input_names": list(self.input_names or (self.input_name,)),
            "output_name": self.output_name,
            "output_names": [self.output_name],
            "input_size": list(self.input_size) if self.input_size is not None else None,
            "input_mean": self.input_mean,
            "input_std": self.input_std,
            "labels": str(self.labels) if self.labels is not None else None,
            "seconds": self.seconds,
            "top": [p.to_json() for p in self.top],
            "detected": dict(self.detected),
            "notes": list(self.notes),
        }


def label_image(
    graph: LoadedGraph | Path | str,
    image: Path | str,
    *,
    labels: Path | str | None = None,
    top_k: int = 5,
    input_name: str | None = None,
    output_name: str | None = None,
    inputs: Sequence[InputOption | str] = (),
    feeds: Sequence[Feed | str] = (),
    input_height: int | None = None,
    input_width: int | None = None,
    input_mean: float | None = None,
    input_std: float | None = None,
    find_labels_file: bool = True,
    flags: tuple[str, str] = CODELAB_FLAGS,
    allow_unsafe_ops: bool = False,
) -> LabelResult:
    """Classify one image the way the codelab's ``scripts/label_image.py`` does.

    Options left as None are read from the graph: input and output names, input
    size, and mean/std (127.5 for MobileNet; 128 when the input is the float image
    the graph decodes from JPEG bytes, as retrain.py's Inception v3 graphs do).
    Without ``labels``, a labels file beside the graph is used
    (``find_labels_file``), else class indices stand in for names. The image is
    decoded to the image input's channels (grayscale, RGB, RGBA; a .npy is fed as it
    is); other inputs are fed as run/feeds.py decides (``inputs``, ``feeds``). A graph
    holding an op the op policy refuses (graph/trust.py) is an InspectorError unless
    ``allow_unsafe_ops``.
    """
    loaded = graph if isinstance(graph, LoadedGraph) else load_graph(graph)
    image = Path(image)
    if not image.exists():
        raise InspectorError(f"{image}: no such image; check the path")
    if top_k < 1:
        raise InspectorError(f"top_k must be at least 1, not {top_k}")
    detected: list[tuple[str, str]] = []
    with GraphRunner(
        loaded, input_name=input_name, output_name=output_name, inputs=inputs, feeds=feeds, flags=flags,
        allow_unsafe_ops=allow_unsafe_ops,
    ) as runner:
        if "input" in runner.detected:
            detected.append(("input_layer", runner.input_name))
        if "output" in runner.detected:
            detected.append(("output_layer", runner.output_name))
        size, _ = image_size_for([runner], input_height=input_height, input_width=input_width)
        if input_height is None and size is not None:
            detected += [("input_height", str(size[0])), ("input_width", str(size[1]))]
        inception = runner.input_spec is not None and runner.input_spec.decoded_from is not None
        mean = input_mean if input_mean is not None else (INCEPTION_MEAN if inception else MOBILENET_MEAN)
        std = input_std if input_std is not None else (INCEPTION_STD if inception else MOBILENET_STD)
        if input_mean is None:
            detected.append(("input_mean", f"{mean:g}"))
        if input_std is None:
            detected.append(("input_std", f"{std:g}"))
        labels_path = Path(labels) if labels is not None else None
        if labels_path is None and find_labels_file:
            labels_path = find_labels(loaded.path)
            if labels_path is not None:
                detected.append(("labels", str(labels_path)))
        label_list: tuple[str, ...] = ()
        if labels_path is not None:
            # Checked before running so a wrong labels file fails fast, when the
            # graph declares its class count.
            label_list = load_labels(labels_path, classes=runner.classes, output=f"{runner.what}'s output {runner.output_name!r}")
        (sample,) = samples(runner.plan, files=[image], size=size, mean=mean, std=std, what=runner.what)
        scores, seconds = runner.timed_run(sample.feeds)
    if labels_path is not None and len(label_list) < scores.size:
        load_labels(labels_path, classes=scores.size, output=f"{loaded.path}'s output {runner.output_name!r}")
    return LabelResult(
        graph=loaded.path,
        image=image,
        input_name=runner.input_name,
        input_names=tuple(item.name for item in runner.plan.inputs),
        output_name=runner.output_name,
        input_size=size,
        input_mean=mean,
        input_std=std,
        labels=labels_path,
        seconds=seconds,
        top=top_predictions(scores, label_list, k=top_k),
        detected=tuple(detected),
        notes=runner.plan.notes,
    )


__all__ = ["label_image", "LabelResult", "MOBILENET_MEAN", "MOBILENET_STD", "INCEPTION_MEAN", "INCEPTION_STD"]
