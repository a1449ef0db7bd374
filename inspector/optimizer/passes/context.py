"""What a pass runs on: the working graph, the names it must keep, the options, state passes hand on, and its reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tensorboard.compat.proto.types_pb2 import DataType

from inspector.graph.signature import Signature
from inspector.graph.workgraph import WorkGraph

# A pass says why it touched nodes: because(names, why). Passes take one as a keyword
# and default to ignoring it, so they stay callable on a bare WorkGraph.
Because = Callable[[str | Iterable[str], str], None]


def no_reasons(names: str | Iterable[str], why: str) -> None:
    """The ``because`` of a pass run outside the pipeline: reasons are not kept."""


@dataclass(frozen=True)
class Options:
    """The optimize() options the passes read."""

    placeholder_type_enum: int = DataType.DT_FLOAT
    toco_compatible: bool = False
    frozen: bool = True
    strip_dropout: bool = False


@dataclass
class PassContext:
    """Shared by the passes of one optimize() run; the pipeline resets ``reasons`` before each pass."""

    graph: WorkGraph
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    options: Options
    signature: Signature | None = None  # the input graph's (inputs, auxiliary inputs with their inference values)
    # State one pass leaves for a later one (or for the result).
    batch_norm_candidates: tuple[str, ...] | None = None  # found before constant folding hides the Rsqrt
    dropouts: list = field(default_factory=list)           # dropout.Dropout found on (training mode)
    stripped: list = field(default_factory=list)           # the ones of those cut out
    dropouts_off: list = field(default_factory=list)       # dropout.Dropout off at the inference values, cut out
    unfolded: list[tuple[str, str]] = field(default_factory=list)  # (batch norm, why it stayed)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def keep(self) -> tuple[str, ...]:
        """Outputs, then inputs: the nodes no pass may remove or rename."""
        return tuple(dict.fromkeys(self.outputs + self.inputs))

    def because(self, names: str | Iterable[str], why: str) -> None:
        """Record why the current pass removed, added or rewired ``names`` (a second reason for a node is appended)."""
        for name in [names] if isinstance(names, str) else names:
            have = self.reasons.get(name)
            if have is None:
                self.reasons[name] = why
            elif why not in have.split("; "):
                self.reasons[name] = f"{have}; {why}"
