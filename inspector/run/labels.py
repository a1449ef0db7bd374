"""A classifier's labels: the file retrain.py writes beside a graph, and the top-k classes of one output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.files import read_limited, size_text

# Where retrain.py (and the model zoo) leave the labels next to a graph.
LABEL_FILE_NAMES = ("retrained_labels.txt", "output_labels.txt", "labels.txt")
# ImageNet's 21,841 class names take about 400 KB; a labels file far bigger than that is something else.
MAX_LABELS_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Prediction:
    """One class of a classifier's output: its index, its label (the index as text without labels) and score."""

    index: int
    label: str
    score: float

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "score": self.score}


def load_labels(path: Path, *, classes: int | None = None, output: str = "the output") -> tuple[str, ...]:
    """One label per line, as retrain.py writes them; fewer labels than classes is an error."""
    path = Path(path)
    text = read_limited(
        path, limit=MAX_LABELS_BYTES, itself="pass the labels file itself",
        too_big=lambda size: f"{size_text(size)} is over the {size_text(MAX_LABELS_BYTES)} limit for a labels file; "
        "pass the labels retrain.py wrote (one label per line)",
        missing="no such labels file; pass the labels retrain.py wrote (tf_files/retrained_labels.txt)",
        folder="is a folder, not a labels file; pass a text file with one label per line",
    ).decode("utf-8", errors="replace")
    # Lines end at \n (and \r\n) only, as retrain.py writes them: str.splitlines would also split at
    # \x0b, \x1c, \x85, U+2028 ... inside a label, shifting every later class onto the wrong name.
    labels = [line.rstrip("\r").rstrip() for line in text.split("\n")]
    while labels and not labels[-1]:
        labels.pop()
    if classes is not None and len(labels) < classes:
        raise InspectorError(
            f"{path}: {len(labels)} labels but {output} has {classes} classes; "
            "pass the labels file written with this graph (retrain.py --output_labels)"
        )
    return tuple(labels)


def find_labels(graph_path: Path | None) -> Path | None:
    """The labels file retrain.py (or the model zoo) left next to a graph, if any."""
    if graph_path is None:
        return None
    folder = graph_path if graph_path.is_dir() else graph_path.parent
    for name in LABEL_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def score_line(prediction: Prediction, decimals: int = 5) -> str:
    """One class as the codelab's label_image prints it: ``daisy (score=0.99120)``."""
    return f"{prediction.label} (score={prediction.score:0.{decimals}f})"


def top_predictions(scores: np.ndarray, labels: Sequence[str] = (), *, k: int) -> tuple[Prediction, ...]:
    """The k best classes, best first (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")[: max(k, 0)]
    return tuple(
        Prediction(index=int(i), label=labels[i] if i < len(labels) else str(int(i)), score=float(scores[i]))
        for i in order
    )


__all__ = ["Prediction", "load_labels", "find_labels", "score_line", "top_predictions", "LABEL_FILE_NAMES"]
