"""The runs a command makes: photos or .npy files fed to a graph's image input, seeded random data to the rest, as one feed dict per run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError
from inspector.run.feeds import FedInput, FeedPlan, concrete_shape, numpy_dtype, random_value, read_npy, shape_text
from inspector.run.images import ARRAY_SUFFIX, PHOTO_CHANNELS, read_image, shown_name


@dataclass(frozen=True)
class Sample:
    """One run's inputs: what it is called in reports, and the value of each model input."""

    source: str                                      # the image (relative to its folder), or "random #N"
    feeds: dict[str, np.ndarray] = field(compare=False)


def samples(
    plan: FeedPlan,
    *,
    files: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    random_inputs: int = 0,
    seed: int = 0,
    size: tuple[int, int] | None,
    mean: float,
    std: float,
    what: str,
) -> Iterator[Sample]:
    """One Sample per file (each fed to the image input), else ``random_inputs`` random ones.

    Inputs other than the image input get seeded random data, the same for a given
    seed and run; so do the image inputs of random runs. A generator, so a folder of
    thousands of photos is never all in memory.
    """
    shapes = {item.name: concrete_shape(item, size=size, what=what) for item in plan.inputs}
    image = plan.image
    if files and image is None:
        shown = ", ".join(f"{i.name} {i.dtype} {shape_text(i.shape)}" for i in plan.inputs) or "none: every input is fed"
        raise InspectorError(f"{what}: no image input to feed photos to (its inputs: {shown}); "
                             "leave --image out to run on random data, or feed inputs with --feed NAME=FILE.npy")
    if files:
        assert image is not None
        for index, path in enumerate(files, start=1):
            rng = np.random.default_rng([seed, index])
            feeds = _random_feeds(plan, shapes, rng=rng, mean=mean, std=std, skip=image.name)
            feeds[image.name] = image_value(path, image, shapes[image.name], mean=mean, std=std, what=what)
            yield Sample(shown_name(path, image_dirs), feeds)
        return
    for index in range(1, random_inputs + 1):
        rng = np.random.default_rng([seed, index])
        yield Sample(f"random #{index}", _random_feeds(plan, shapes, rng=rng, mean=mean, std=std))


def image_value(path: Path, item: FedInput, shape: tuple[int, ...], *, mean: float, std: float, what: str) -> np.ndarray:
    """A photo decoded to ``item``'s channels and size, or a .npy holding the input tensor itself."""
    if Path(path).suffix.lower() == ARRAY_SUFFIX:
        array = read_npy(Path(path))
        if array.ndim == len(shape) - 1:
            array = array[np.newaxis]
        if tuple(array.shape) != shape:
            raise InspectorError(f"{path}: holds an array of shape {shape_text(array.shape)}, but {what}'s input "
                                 f"{item.name!r} is fed {shape_text(shape)}; save an array of that shape")
        return array.astype(numpy_dtype(item.dtype))
    channels = shape[3] if len(shape) == 4 else 3
    if channels not in PHOTO_CHANNELS:
        raise InspectorError(
            f"{path}: {what}'s input {item.name!r} takes {channels} channels, and a photo has 1, 3 or 4; "
            f"pass .npy files of shape {shape_text(shape[1:])} with --image, or leave --image out for random data"
        )
    return read_image(path, size=(shape[1], shape[2]), mean=mean, std=std, channels=channels).astype(numpy_dtype(item.dtype))


def _random_feeds(
    plan: FeedPlan, shapes: dict[str, tuple[int, ...]], *, rng: np.random.Generator, mean: float, std: float, skip: str = ""
) -> dict[str, np.ndarray]:
    return {item.name: random_value(item, shapes[item.name], rng=rng, mean=mean, std=std)
            for item in plan.inputs if item.name != skip}


__all__ = ["Sample", "samples", "image_value"]
