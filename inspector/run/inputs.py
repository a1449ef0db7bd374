"""The image size fed to a model's image input: read from its shape, or given, and the same for every model compared."""

from __future__ import annotations

from typing import Protocol, Sequence

from inspector.errors import InspectorError
from inspector.run.feeds import FeedPlan


class _Sized(Protocol):
    what: str
    input_name: str
    input_size: tuple[int, int] | None


class _Planned(_Sized, Protocol):
    plan: FeedPlan


def image_size(shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """(H, W) of an NHWC image input whose shape gives them, else None (the graph leaves them open, or it is no image)."""
    if shape is None or len(shape) != 4 or shape[1] <= 0 or shape[2] <= 0:
        return None
    return shape[1], shape[2]


def resolve_size(
    runners: Sequence[_Sized],
    *,
    input_height: int | None,
    input_width: int | None,
    flags: tuple[str, str] = ("--input_height", "--input_width"),
) -> tuple[tuple[int, int], tuple[str, ...]]:
    """The one image size to feed every runner, and notes on where it came from.

    Given sizes must match each graph that declares one; otherwise the declared
    size is used, and a graph whose input has no shape gets the other's size.
    """
    if (input_height is None) != (input_width is None):
        raise InspectorError(f"pass both {flags[0]} and {flags[1]}, or neither (they are read from the graph)")
    declared = [(r, r.input_size) for r in runners if r.input_size is not None]
    notes: list[str] = []
    if input_height is not None and input_width is not None:
        if input_height <= 0 or input_width <= 0:
            raise InspectorError(f"{flags[0]} and {flags[1]} must be positive, not {input_height}x{input_width}")
        size = (input_height, input_width)
        for runner, own in declared:
            if own != size:
                raise InspectorError(
                    f"{runner.what}: input {runner.input_name!r} takes {own[0]}x{own[1]} images, not "
                    f"{size[0]}x{size[1]}; leave {flags[0]}/{flags[1]} out to use the graph's size"
                )
        return size, ()
    if not declared:
        which = ", ".join(r.what for r in runners)
        inputs = " and ".join(repr(r.input_name) for r in runners)
        whose = "input" if len(runners) == 1 else "inputs"
        verb = "declares" if len(runners) == 1 else "declare"
        raise InspectorError(
            f"{which}: {whose} {inputs} {verb} no image size (no shape, as after TF 1.x "
            f"optimize_for_inference); pass {flags[0]} and {flags[1]} (the size retrain.py trained at, e.g. 128 or 224), "
            f"or the whole shape as --input {runners[0].input_name}:1,H,W,C"
        )
    sizes = {own for _, own in declared}
    if len(sizes) > 1:
        (first, one), (last, other) = declared[0], declared[-1]
        raise InspectorError(
            f"{last.what}: mismatched inputs: takes {other[0]}x{other[1]} images where {first.what} takes "
            f"{one[0]}x{one[1]}; compare two versions of the same model (e.g. retrained and optimized)"
        )
    (size,) = sizes
    source = declared[0][0]
    for runner in runners:
        if runner.input_size is None:
            notes.append(
                f"{runner.what}: input {runner.input_name!r} has no shape; fed {size[0]}x{size[1]} images, "
                f"the size {source.what} declares"
            )
    return size, tuple(notes)


def image_size_for(
    runners: Sequence[_Planned], *, input_height: int | None, input_width: int | None
) -> tuple[tuple[int, int] | None, tuple[str, ...]]:
    """The image size to feed the runners' image inputs (see run/inputs.py), or None when they take no image."""
    with_image = [r for r in runners if r.plan.image is not None]
    if not with_image:
        if input_height is not None or input_width is not None:
            raise InspectorError(f"{runners[0].what}: --input_height/--input_width size an image input, and this graph has none "
                                 "(its inputs: " + ", ".join(i.name for i in runners[0].plan.inputs) + "); give shapes with --input NAME:SHAPE")
        return None, ()
    return resolve_size(with_image, input_height=input_height, input_width=input_width)


__all__ = ["image_size", "resolve_size", "image_size_for"]
