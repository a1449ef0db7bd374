"""Tests for scripts.label_image, inspector.run.label and GraphRunner: real TensorFlow runs on real and generated graphs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, fixture_path
from inspector.errors import InspectorError
from inspector.graph.io import load_graph
from inspector.run.images import read_image
from inspector.run.label import label_image
from inspector.run.labels import load_labels
from inspector.run.runners import GraphRunner, random_ops_upstream
from inspector.codelab import label_image as script

pytestmark = pytest.mark.slow

MOBILENET = "mobilenet_v1_0.25_128/frozen_graph.pb"
MOBILENET_LABELS = "mobilenet_v1_0.25_128/labels.txt"
DAISY_PHOTO = "flower_photos/daisy/3475870145_685a19116d.jpg"
# The codelab's pipeline (decode_jpeg, resize_bilinear without half-pixel centres,
# (x - 127.5) / 127.5) on the daisy photo. MANIFEST.md's 0.2487 is what Pillow's
# antialiasing bilinear resize (and its exact-DCT JPEG decoder) gives; the codelab
# never used Pillow, so its label_image prints 0.39233 for this graph.
DAISY_SCORE = 0.3923
SCORE_LINE = re.compile(r"^(.*) \(score=(\d\.\d{5})\)$")


def _mobilenet_args(*extra: str) -> list[str]:
    return [
        "--graph", str(fixture_path(MOBILENET)),
        "--labels", str(fixture_path(MOBILENET_LABELS)),
        "--image", str(fixture_path(DAISY_PHOTO)),
        *extra,
    ]


def _parse(stdout: str) -> tuple[str, list[tuple[str, float]]]:
    """The codelab's output: "", "Evaluation time ...", "", then `label (score=x)` lines."""
    lines = stdout.splitlines()
    assert lines[0] == "" and lines[2] == "", stdout
    assert re.fullmatch(r"Evaluation time \(1-image\): \d+\.\d{3}s", lines[1]), lines[1]
    scores = []
    for line in lines[3:]:
        match = SCORE_LINE.match(line)
        assert match, line
        scores.append((match.group(1), float(match.group(2))))
    return lines[1], scores


@pytest.fixture
def png(tmp_path: Path) -> Path:
    from inspector.graph.tfcompat import tf

    pixels = np.random.default_rng(1).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    path.write_bytes(tf().io.encode_png(pixels).numpy())
    return path


# --- the acceptance run ------------------------------------------------------------


def test_daisy_ranks_daisy_first_with_codelab_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = script.main(_mobilenet_args("--input_mean", "127.5", "--input_std", "127.5"))
    out, err = capsys.readouterr()
    assert code == 0, err
    _, scores = _parse(out)
    assert len(scores) == 5
    assert scores[0][0] == "986:daisy"
    assert scores[0][1] == pytest.approx(DAISY_SCORE, abs=0.0005)
    assert [s for _, s in scores] == sorted((s for _, s in scores), reverse=True)
    # Input, output and size were left out, so they were read from the graph and said so.
    assert "note: read from the graph:" in err
    for flag in ("--input_layer=input", "--output_layer=MobilenetV1/Predictions/Reshape_1", "--input_height=128", "--input_width=128"):
        assert flag in err
    assert "mean" not in err  # given, so not noted


def test_subprocess_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.label_image", *_mobilenet_args()],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    _, scores = _parse(result.stdout)
    assert scores[0][0] == "986:daisy"
    assert scores[0][1] == pytest.approx(DAISY_SCORE, abs=0.0005)
    # Only our notes on stderr: TensorFlow's start-up chatter is kept off it.
    assert all(line.startswith("note: ") for line in result.stderr.splitlines()), result.stderr


def test_all_flags_given_means_no_graph_note(capsys: pytest.CaptureFixture[str]) -> None:
    code = script.main(_mobilenet_args(
        "--input_layer", "input", "--output_layer", "MobilenetV1/Predictions/Reshape_1",
        "--input_height", "128", "--input_width", "128", "--input_mean", "127.5", "--input_std", "127.5",
    ))
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert _parse(out)[1][0][0] == "986:daisy"


def test_codelab_style_names_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    # The codelab imports under "import/"; people paste those names and tensor names.
    code = script.main(_mobilenet_args("--input_layer", "import/input", "--output_layer", "MobilenetV1/Predictions/Reshape_1:0"))
    assert code == 0
    assert _parse(capsys.readouterr().out)[1][0][0] == "986:daisy"


def test_library_result_and_json() -> None:
    result = label_image(fixture_path(MOBILENET), fixture_path(DAISY_PHOTO), top_k=3)
    assert result.input_name == "input"
    assert result.output_name == "MobilenetV1/Predictions/Reshape_1"
    assert result.input_size == (128, 128)
    assert (result.input_mean, result.input_std) == (127.5, 127.5)
    # No labels given: the labels.txt beside the graph is found.
    assert result.labels == fixture_path(MOBILENET_LABELS)
    detected = dict(result.detected)
    assert detected["labels"] == str(fixture_path(MOBILENET_LABELS))
    assert detected["input_mean"] == "127.5"
    assert [p.label for p in result.top][0] == "986:daisy"
    assert result.top[0].index == 986
    assert len(result.top) == 3
    assert result.seconds > 0
    json.dumps(result.to_json())


# --- user errors: one line, exit 2 -----------------------------------------------------


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = script.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_bad_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not a photo\n")
    line = _error(capsys, ["--graph", str(fixture_path(MOBILENET)), "--image", str(fake)])
    assert str(fake) in line and "not an image" in line


def test_empty_image(tmp_path: Path, small_graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    line = _error(capsys, ["--graph", str(small_graph_file), "--image", str(empty)])
    assert str(empty) in line and "empty" in line


def test_graph_passed_as_image(small_graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["--graph", str(small_graph_file), "--image", str(small_graph_file)])
    assert "swapped" in line


def test_labels_with_fewer_lines_than_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "retrained_labels.txt"
    labels.write_text("daisy\nroses\n")
    line = _error(capsys, ["--graph", str(fixture_path(MOBILENET)), "--image", str(fixture_path(DAISY_PHOTO)), "--labels", str(labels)])
    assert str(labels) in line and "2 labels" in line and "1001 classes" in line


def test_missing_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "tf_files" / "retrained_graph.pb"
    line = _error(capsys, ["--graph", str(missing), "--image", str(fixture_path(DAISY_PHOTO))])
    assert str(missing) in line and "no such file" in line


def test_missing_image(small_graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["--graph", str(small_graph_file), "--image", str(tmp_path / "nope.jpg")])
    assert "nope.jpg" in line and "no such image" in line


def test_codelab_inception_default_on_mobilenet(capsys: pytest.CaptureFixture[str]) -> None:
    # The codelab's old defaults (Mul, 299) on a MobileNet graph: say what the input really is.
    line = _error(capsys, _mobilenet_args("--input_layer", "Mul"))
    assert "'Mul'" in line and "--input_layer input" in line


def test_size_flags_that_contradict_the_graph(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, _mobilenet_args("--input_height", "299", "--input_width", "299"))
    assert "128x128" in line and "299x299" in line


def test_only_one_size_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, _mobilenet_args("--input_height", "128"))
    assert "--input_width" in line


def test_usage_error_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--input_height", "tall"]) == 2
    assert "invalid int value" in capsys.readouterr().err


# --- graphs whose input has no shape -------------------------------------------------


def test_shapeless_input_asks_for_the_size(capsys: pytest.CaptureFixture[str]) -> None:
    optimized = fixture_path("poets_pair/optimized_graph.pb")
    line = _error(capsys, ["--graph", str(optimized), "--image", str(fixture_path(DAISY_PHOTO))])
    assert "no shape" in line and "--input_height" in line and "--input_width" in line


def test_shapeless_input_with_size_matches_retrained(capsys: pytest.CaptureFixture[str]) -> None:
    daisy = str(fixture_path(DAISY_PHOTO))
    assert script.main(["--graph", str(fixture_path("poets_pair/retrained_graph.pb")), "--image", daisy]) == 0
    retrained = _parse(capsys.readouterr().out)[1]
    optimized_path = str(fixture_path("poets_pair/optimized_graph.pb"))
    assert script.main(["--graph", optimized_path, "--image", daisy, "--input_height", "128", "--input_width", "128"]) == 0
    out, err = capsys.readouterr()
    assert _parse(out)[1] == retrained
    assert retrained[0][0] == "61326 thinning"  # labels found beside the graph
    assert "retrained_labels.txt (found beside the graph)" in err


# --- generated graphs (no ../shared needed) ------------------------------------------


def test_small_graph_png_without_labels(small_graph_file: Path, png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--graph", str(small_graph_file), "--image", str(png)]) == 0
    out, err = capsys.readouterr()
    _, scores = _parse(out)
    # 3 classes, no labels file anywhere: class indices stand in, and only 3 lines.
    assert sorted(label for label, _ in scores) == ["0", "1", "2"]
    assert sum(score for _, score in scores) == pytest.approx(1.0, abs=3e-5)
    assert "--input_height=16" in err


def test_small_graph_labels_beside_graph(small_graph_file: Path, png: Path) -> None:
    (small_graph_file.parent / "retrained_labels.txt").write_text("daisy\ndandelion\nroses\n")
    result = label_image(small_graph_file, png)
    assert {p.label for p in result.top} == {"daisy", "dandelion", "roses"}


def test_image_formats_decode_alike(tmp_path: Path, png: Path) -> None:
    from inspector.graph.tfcompat import tf

    pixels = tf().io.decode_png(png.read_bytes()).numpy()
    gif = tmp_path / "photo.gif"
    bmp = tmp_path / "photo.bmp"
    gif.write_bytes(_gif(pixels))
    bmp.write_bytes(_bmp(pixels))
    batches = [read_image(p, size=(8, 8), mean=127.5, std=127.5) for p in (png, bmp)]
    assert batches[0].shape == (1, 8, 8, 3) and batches[0].dtype == np.float32
    np.testing.assert_array_equal(batches[0], batches[1])
    assert read_image(gif, size=(8, 8), mean=127.5, std=127.5).shape == (1, 8, 8, 3)
    assert -1.0 <= batches[0].min() and batches[0].max() <= 1.0


def test_labels_file_rules(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb  \nc\n\n\n")
    assert load_labels(labels, classes=3) == ("a", "b", "c")  # trailing blank lines and spaces go
    assert load_labels(labels, classes=2) == ("a", "b", "c")  # more labels than classes is fine
    with pytest.raises(InspectorError, match=r"labels\.txt: 3 labels but .* has 4 classes"):
        load_labels(labels, classes=4)
    with pytest.raises(InspectorError, match="no such labels file"):
        load_labels(tmp_path / "missing.txt")


def test_inception_style_graph_feeds_mul(tmp_path: Path, png: Path) -> None:
    """retrain.py's Inception v3 graphs take JPEG bytes; the codelab feeds the float `Mul` instead."""
    graph = tmp_path / "inception_graph.pb"
    graph.write_bytes(_inception_like(size=24).SerializeToString())
    result = label_image(graph, png)
    assert result.input_name == "Mul"
    assert result.input_size == (24, 24)  # inferred by TensorFlow from the resize inside
    assert (result.input_mean, result.input_std) == (128.0, 128.0)
    assert len(result.top) == 3


def test_runner_finds_random_ops() -> None:
    graph = load_graph(fixture_path("dropout_active/retrained_graph.pb")).graph
    assert random_ops_upstream(graph, "final_result") == ("final_training_ops/drop/dropout/random_uniform/RandomUniform",)
    with GraphRunner(load_graph(fixture_path("poets_pair/retrained_graph.pb"))) as runner:
        assert runner.random_ops == ()
        assert runner.input_size == (128, 128) and runner.classes == 6


# --- helpers -------------------------------------------------------------------------


def _inception_like(*, size: int):
    """A tiny graph laid out like retrain.py's Inception v3 input: DecodeJpeg/contents -> ... -> Mul."""
    from inspector.graph.tfcompat import from_tf, tf

    tensorflow = tf()
    with tensorflow.Graph().as_default() as graph:
        v1 = tensorflow.compat.v1
        contents = v1.placeholder(tensorflow.string, [], name="DecodeJpeg/contents")
        image = tensorflow.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        batch = tensorflow.expand_dims(tensorflow.cast(image, tensorflow.float32), 0)
        resized = v1.image.resize_bilinear(batch, [size, size])
        scaled = tensorflow.multiply(tensorflow.subtract(resized, 128.0), 1 / 128.0, name="Mul")
        pooled = tensorflow.reduce_mean(scaled, axis=[1, 2])
        weights = tensorflow.constant(np.arange(9, dtype=np.float32).reshape(3, 3))
        tensorflow.nn.softmax(tensorflow.matmul(pooled, weights), name="final_result")
    return from_tf(graph.as_graph_def())


def _bmp(pixels: np.ndarray) -> bytes:
    """A 24-bit uncompressed BMP (rows bottom-up, BGR, padded to 4 bytes)."""
    height, width, _ = pixels.shape
    row = width * 3
    pad = (4 - row % 4) % 4
    body = b"".join(pixels[y, :, ::-1].tobytes() + b"\0" * pad for y in range(height - 1, -1, -1))
    header = b"BM" + (54 + len(body)).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = (
        (40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little")
        + (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 4
        + len(body).to_bytes(4, "little") + b"\0" * 16
    )
    return header + info + body


def _gif(pixels: np.ndarray) -> bytes:
    """A one-frame GIF of the image in two grey levels (LZW with a clear code before every pixel)."""
    height, width, _ = pixels.shape
    indices = (pixels.mean(axis=2) > 127).astype(np.uint8).reshape(-1)
    # Min code size 2: codes 0-3 colours, 4 clear, 5 end; with a clear before each
    # pixel the code width stays 3 bits.
    codes = []
    for index in indices:
        codes += [4, int(index)]
    codes.append(5)
    bits = 0
    nbits = 0
    data = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += 3
        while nbits >= 8:
            data.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        data.append(bits & 0xFF)
    blocks = b"".join(bytes([len(data[i:i + 255])]) + bytes(data[i:i + 255]) for i in range(0, len(data), 255))
    palette = bytes([0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0])
    screen = width.to_bytes(2, "little") + height.to_bytes(2, "little") + bytes([0xF1, 0, 0])
    image = b"," + b"\0\0\0\0" + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\0"
    return b"GIF89a" + screen + palette + image + bytes([2]) + blocks + b"\0;"


def test_labels_split_at_newlines_only(tmp_path: Path):
    """str.splitlines would cut "da\\x85isy" in two and shift every later class onto the wrong label."""
    from inspector.run.labels import load_labels

    path = tmp_path / "labels.txt"
    path.write_bytes("roses\r\nda\x85isy\nsun\u2028flo\x1cwers\ntulips\n\n".encode("utf-8"))
    assert load_labels(path, classes=4) == ("roses", "da\x85isy", "sun\u2028flo\x1cwers", "tulips")
