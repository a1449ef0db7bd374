"""Images in, batches out: the codelab's image reading and preprocessing, random "photos", and the image files a command runs."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np

from inspector.errors import InspectorError
from inspector.files import read_limited, size_text
from inspector.graph import tfcompat
from inspector.run.imageheader import image_header

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
# An --image ending so is the input tensor itself (any channel count), fed as it is.
ARRAY_SUFFIX = ".npy"
_RUNNABLE = IMAGE_SUFFIXES | {ARRAY_SUFFIX}
_JPEG_MAGIC = b"\xff\xd8\xff"
# An input photo is read whole, then decoded to 3 bytes a pixel and cast to 12
# (float32) before the resize: these keep one image to about a gigabyte at most.
MAX_IMAGE_BYTES = 64 * 2**20
MAX_MEGAPIXELS = 50


class _ImageReader:
    """The codelab's read_tensor_from_image_file as one graph, built once per channel count and fed per image."""

    def __init__(self, channels: int, *, opaque: bool = False) -> None:
        tf = tfcompat.tf()
        self._graph = tf.Graph()
        with self._graph.as_default():
            v1 = tf.compat.v1
            self._data = v1.placeholder(tf.string, [], name="file_contents")
            self._size = v1.placeholder(tf.int32, [2], name="size")
            self._mean = v1.placeholder(tf.float32, [], name="mean")
            self._std = v1.placeholder(tf.float32, [], name="std")
            # decode_image reads JPEG, PNG, GIF (first frame) and BMP by their bytes,
            # where the codelab goes by the file name's extension; it converts to the
            # channels asked for (grayscale, RGB, RGBA) as the graph's input takes them.
            image = tf.io.decode_image(self._data, channels=3 if opaque else channels, expand_animations=False)
            if opaque:
                # JPEG has no alpha and its decoder no RGBA: the photo is opaque, alpha 255 throughout.
                image = tf.concat([image, tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), tf.constant(255, tf.uint8))], -1)
            batch = tf.expand_dims(tf.cast(image, tf.float32), 0)
            # resize_bilinear without half-pixel centres: what the TF 1.x codelab ran
            # (tf.image.resize in TF 2 samples differently and shifts scores).
            resized = v1.image.resize_bilinear(batch, self._size)
            self._out = tf.divide(tf.subtract(resized, [self._mean]), [self._std])
        self._session = v1.Session(graph=self._graph, config=v1.ConfigProto(device_count={"GPU": 0}))

    def __call__(self, data: bytes, *, size: tuple[int, int], mean: float, std: float) -> np.ndarray:
        return self._session.run(
            self._out, {self._data: data, self._size: list(size), self._mean: mean, self._std: std}
        )


# The channel counts a photo decodes to: grayscale, RGB, RGBA.
PHOTO_CHANNELS = (1, 3, 4)


@functools.lru_cache(maxsize=len(PHOTO_CHANNELS) + 1)
def _image_reader(channels: int, opaque: bool = False) -> _ImageReader:
    return _ImageReader(channels, opaque=opaque)


def read_image(path: Path, *, size: tuple[int, int], mean: float, std: float, channels: int = 3) -> np.ndarray:
    """A [1, H, W, channels] float32 batch from an image file, preprocessed as the codelab's label_image does."""
    path = Path(path)
    if std == 0:
        raise InspectorError("the input std is 0; pass a non-zero --input_std (127.5 for retrain.py's MobileNet)")
    data = read_limited(
        path, limit=MAX_IMAGE_BYTES, itself="pass the image file itself",
        too_big=lambda size: f"{size_text(size)} is over the {size_text(MAX_IMAGE_BYTES)} limit for an input image; "
        "pass a photo (resize or re-encode it first)",
        missing="no such image; check the path", folder="is a folder, not an image; pass one image file",
    )
    return decode_image(data, size=size, mean=mean, std=std, what=str(path), channels=channels)


def decode_image(
    data: bytes, *, size: tuple[int, int], mean: float, std: float, what: str = "the image", channels: int = 3
) -> np.ndarray:
    """Image bytes -> [1, H, W, channels] float32: decode, cast, expand, resize_bilinear, (x - mean) / std."""
    if channels not in PHOTO_CHANNELS:
        raise InspectorError(f"{what}: a photo decodes to 1, 3 or 4 channels, not {channels}; feed a .npy array instead")
    _check_pixels(data, what=what)
    tf = tfcompat.tf()
    try:
        return _image_reader(channels, channels == 4 and data[:3] == _JPEG_MAGIC)(data, size=size, mean=mean, std=std)
    except tf.errors.OpError:
        hint = "pass a JPEG, PNG, GIF or BMP photo"
        if data[:4] in (b"\x0a\x0c\x0a\x05", b"\x0a\x0b\x0a\x05") or what.endswith((".pb", ".pbtxt")):
            hint = "this looks like a graph: are --graph and --image swapped?"
        kind = "an empty file" if not data else "not an image TensorFlow can decode"
        raise InspectorError(f"{what}: {kind}; {hint}") from None


def _check_pixels(data: bytes, *, what: str) -> None:
    # The header says what decoding will fill; a few KB of PNG can claim 23000x23000.
    header = image_header(data)
    if header is None or header.decoded_pixels <= MAX_MEGAPIXELS * 10**6:
        return
    if header.width * header.height > MAX_MEGAPIXELS * 10**6:
        raise InspectorError(
            f"{what}: {header.width}x{header.height} pixels, over the {MAX_MEGAPIXELS}-megapixel limit for an input photo; "
            "resize it first"
        )
    raise InspectorError(
        f"{what}: a GIF of {header.frames} frames, {header.decoded_pixels / 10**6:.0f} megapixels in all "
        f"(TensorFlow decodes every frame), over the {MAX_MEGAPIXELS}-megapixel limit for an input photo; "
        "pass its first frame as a still image"
    )


def random_batch(
    size: tuple[int, int], *, rng: np.random.Generator, mean: float, std: float, channels: int = 3
) -> np.ndarray:
    """A random "photo": uniform 0..255 pixels, normalised like a real one."""
    pixels = rng.uniform(0.0, 255.0, size=(1, size[0], size[1], channels))
    return ((pixels - mean) / std).astype(np.float32)


def collect_images(images: Sequence[Path], image_dirs: Sequence[Path]) -> tuple[Path, ...]:
    """The given images, then each folder's images (recursively, sorted), without duplicates."""
    found: list[Path] = []
    for image in images:
        image = Path(image)
        if not image.exists():
            raise InspectorError(f"{image}: no such image; check the path")
        if image.is_dir():
            raise InspectorError(f"{image}: is a folder; pass folders of images with --image_dir")
        found.append(image)
    for folder in image_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "no such folder"
            raise InspectorError(f"{folder}: {what}; pass a folder of images (e.g. tf_files/flower_photos)")
        inside = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _RUNNABLE and p.is_file())
        if not inside:
            suffixes = "/".join(sorted(_RUNNABLE))
            raise InspectorError(f"{folder}: no {suffixes} files in it or its subfolders; pass a folder of photos")
        found.extend(inside)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return tuple(unique)


def shown_name(path: Path, image_dirs: Sequence[Path]) -> str:
    """How a report names an input file: relative to the --images folder it was found in, else as given.

    Photo folders repeat file names across classes (daisy/1.jpg, roses/1.jpg), so
    the part of the path below the folder is kept.
    """
    for folder in image_dirs:
        try:
            return str(Path(path).relative_to(folder))
        except ValueError:
            continue
    return str(path)


__all__ = [
    "read_image", "decode_image", "random_batch", "collect_images", "shown_name", "IMAGE_SUFFIXES", "ARRAY_SUFFIX",
    "PHOTO_CHANNELS", "MAX_IMAGE_BYTES", "MAX_MEGAPIXELS",
]
