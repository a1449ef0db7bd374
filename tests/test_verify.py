"""Tests for inspector.run.verify and inspector.run.latency: both graphs run in TensorFlow on the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import retrained_like, without_identities
from conftest import fixture_path
from inspector.errors import InspectorError
from inspector.graph.io import LoadedGraph, load_graph
from inspector.run.latency import bench
from inspector.run.images import collect_images
from inspector.run.verify import VerifyReport, verify

pytestmark = pytest.mark.slow

DAISY_PHOTO = "flower_photos/daisy/3475870145_685a19116d.jpg"


def _real(relative: str) -> LoadedGraph:
    return load_graph(fixture_path(relative))


def _small(tmp_path: Path, name: str, **kwargs: int) -> LoadedGraph:
    path = tmp_path / name
    path.write_bytes(retrained_like(**kwargs).SerializeToString())
    return load_graph(path)


# --- real graphs ---------------------------------------------------------------------


def test_poets_pair_agree_on_daisy() -> None:
    retrained, optimized = _real("poets_pair/retrained_graph.pb"), _real("poets_pair/optimized_graph.pb")
    labels = fixture_path("poets_pair/retrained_labels.txt")
    report = verify(retrained, optimized, images=[fixture_path(DAISY_PHOTO)], labels=labels)
    assert report.ok, report.message
    assert report.self_consistent_a and report.self_consistent_b
    assert report.max_abs_diff < 0.5e-5
    assert report.input_size == (128, 128)
    # The optimized graph's input has no shape: it got the retrained graph's size, and the report says so.
    assert report.b.declared_size is None and report.a.declared_size == (128, 128)
    assert any("optimized_graph.pb" in note and "no shape" in note for note in report.notes)
    (only,) = report.inputs
    assert only.source == str(fixture_path(DAISY_PHOTO))
    assert only.same_top1 and only.top_a[0].label == "61326 thinning"
    assert [p.index for p in only.top_a] == [p.index for p in only.top_b]
    assert len(only.top_a) == 3
    assert "agree within float32 rounding on 1 image" in report.message
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is True and data["a"]["classes"] == 6 and data["labels"] == str(labels)


def test_graph_against_itself_with_random_inputs() -> None:
    graph = _real("poets_tf2/retrained_graph.pb")
    seen: list[tuple[int, int]] = []
    report = verify(graph, graph, progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.message
    assert report.random_inputs and [c.source for c in report.inputs] == ["random #1", "random #2", "random #3"]
    assert report.max_abs_diff == 0.0
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert "random inputs (seed 0)" in report.message


def test_dropout_graph_disagrees_with_itself() -> None:
    path = fixture_path("dropout_active/retrained_graph.pb")
    graph = load_graph(path)
    report = verify(graph, graph, random_inputs=1)
    assert not report.ok
    assert not report.self_consistent_a and not report.self_consistent_b
    assert report.self_diff_a > 1e-4 and report.self_diff_b > 1e-4  # seen: 0.006 to 0.4
    assert report.a.random_ops == ("final_training_ops/drop/dropout/random_uniform/RandomUniform",)
    # The graph is named as the cause, not the optimizer.
    assert f"a ({path}) disagrees with itself" in report.message
    assert "dropout" in report.message and "say nothing about the optimizer" in report.message
    assert report.to_json()["self_consistent_a"] is False


def test_only_the_unsteady_graph_is_blamed(tmp_path: Path) -> None:
    from inspector.graph.samples import retrain_shaped_mobilenet

    steady, unsteady = tmp_path / "optimized_graph.pb", tmp_path / "retrained_graph.pb"
    steady.write_bytes(retrain_shaped_mobilenet(size=32, blocks=1, classes=3).SerializeToString())
    unsteady.write_bytes(retrain_shaped_mobilenet(size=32, blocks=1, classes=3, dropout=True).SerializeToString())
    report = verify(load_graph(steady), load_graph(unsteady), random_inputs=1)
    assert not report.ok
    assert report.self_consistent_a and not report.self_consistent_b
    assert report.message.startswith(f"b ({unsteady}) disagrees with itself")
    assert f"a ({steady})" not in report.message


def test_different_input_sizes_are_a_clean_error() -> None:
    with pytest.raises(InspectorError, match=r"mismatched inputs: takes 128x128 images where .*poets_224.* takes 224x224"):
        verify(_real("poets_224/retrained_graph.pb"), _real("poets_pair/retrained_graph.pb"))


def test_different_class_counts_are_a_clean_error() -> None:
    with pytest.raises(InspectorError, match=r"poets_pair/retrained_graph\.pb\): mismatched outputs: .*6 classes.*5"):
        verify(_real("poets_tf2/retrained_graph.pb"), _real("poets_pair/retrained_graph.pb"))


def test_image_dir_is_searched_recursively() -> None:
    folder = fixture_path("poets_tf2/sample_images")
    graph = _real("poets_tf2/retrained_graph.pb")
    report = verify(graph, graph, image_dirs=[folder], labels=fixture_path("poets_tf2/retrained_labels.txt"), top_k=1)
    assert report.ok and not report.random_inputs
    sources = [Path(c.source) for c in report.inputs]
    assert [p.parent.name for p in sources] == ["Indiana", "NewYork", "Pennsylvania"]
    # Its own training photos, one folder per label: each is classified as its folder.
    assert [c.top_a[0].label for c in report.inputs] == ["indiana", "newyork", "pennsylvania"]


def test_both_inputs_without_shape_need_the_size() -> None:
    optimized = _real("poets_pair/optimized_graph.pb")
    with pytest.raises(InspectorError, match="no image size.*--input_height and --input_width"):
        verify(optimized, optimized)
    report = verify(optimized, optimized, input_height=128, input_width=128, random_inputs=1)
    assert report.ok and report.input_size == (128, 128)


def test_labels_with_fewer_lines(tmp_path: Path) -> None:
    labels = tmp_path / "retrained_labels.txt"
    labels.write_text("daisy\n")
    graph = _real("poets_pair/retrained_graph.pb")
    with pytest.raises(InspectorError, match=r"retrained_labels\.txt: 1 labels but .* 6 classes"):
        verify(graph, graph, labels=labels)


# --- generated graphs (no ../shared needed) ------------------------------------------


def test_identity_stripping_changes_nothing(tmp_path: Path) -> None:
    a = _small(tmp_path, "retrained_graph.pb")
    b_path = tmp_path / "optimized_graph.pb"
    b_path.write_bytes(without_identities(a.graph).SerializeToString())
    report = verify(a, load_graph(b_path), random_inputs=2, seed=3)
    assert report.ok, report.message
    assert report.input_size == (16, 16) and report.a.classes == 3
    assert report.max_abs_diff < report.tolerance


def test_different_weights_are_reported_as_different(tmp_path: Path) -> None:
    a = _small(tmp_path, "a.pb", seed=0)
    b = _small(tmp_path, "b.pb", seed=1)
    report = verify(a, b)
    assert not report.ok
    assert report.self_consistent_a and report.self_consistent_b  # so the graphs themselves differ
    assert len(report.disagreeing) == 3
    assert "differ beyond float32 rounding on 3 of 3 random inputs" in report.message


def test_decimals_rule(tmp_path: Path) -> None:
    """Agreeing to d decimals means every |a - b| < 0.5 * 10**-d."""
    a = _small(tmp_path, "a.pb")
    report = verify(a, a, decimals=3, random_inputs=1)
    assert report.tolerance == pytest.approx(0.0005)
    assert isinstance(report, VerifyReport) and report.ok


def test_random_inputs_depend_on_seed_only(tmp_path: Path) -> None:
    a = _small(tmp_path, "a.pb")
    first, again, other = (verify(a, a, random_inputs=1, seed=s, top_k=3) for s in (5, 5, 6))
    assert first.inputs[0].top_a == again.inputs[0].top_a
    assert first.inputs[0].top_a != other.inputs[0].top_a


def test_bad_inputs(tmp_path: Path) -> None:
    a = _small(tmp_path, "a.pb")
    empty = tmp_path / "empty_dir"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no photos here")
    with pytest.raises(InspectorError, match="empty_dir: no .* files in it or its subfolders"):
        verify(a, a, image_dirs=[empty])
    with pytest.raises(InspectorError, match="nope.jpg: no such image"):
        verify(a, a, images=[tmp_path / "nope.jpg"])
    with pytest.raises(InspectorError, match="no such folder"):
        verify(a, a, image_dirs=[tmp_path / "missing"])
    with pytest.raises(InspectorError, match="no node named 'other'"):
        verify(a, a, input_names=["input", "other"])
    with pytest.raises(InspectorError, match="no node named 'Mul'"):
        verify(a, a, input_names="Mul")


def test_collect_images_order_and_duplicates(tmp_path: Path) -> None:
    for name in ("b/2.JPG", "a/1.png", "a/deeper/3.gif", "skip.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = collect_images([tmp_path / "b/2.JPG"], [tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["b/2.JPG", "a/1.png", "a/deeper/3.gif"]


# --- latency -------------------------------------------------------------------------


def test_bench_small_pair(tmp_path: Path) -> None:
    a = _small(tmp_path, "a.pb")
    b_path = tmp_path / "b.pb"
    b_path.write_bytes(without_identities(a.graph).SerializeToString())
    ticks: list[int] = []
    report = bench(a, load_graph(b_path), runs=20, warmup=2, progress=lambda done, total: ticks.append(done))
    assert ticks == list(range(1, 21))
    assert len(report.a.samples_ms) == len(report.b.samples_ms) == 20
    assert report.a.median_ms > 0 and report.b.median_ms > 0
    assert report.ratio > 0
    low, high = report.ratio_ci
    assert low <= high and report.ratio_q1 <= report.ratio_q3
    assert report.threads == 1
    json.dumps(report.to_json())


def test_bench_poets_pair() -> None:
    retrained, optimized = _real("poets_pair/retrained_graph.pb"), _real("poets_pair/optimized_graph.pb")
    report = bench(retrained, optimized, runs=15, warmup=3, image=fixture_path(DAISY_PHOTO))
    assert report.a.median_ms > 0 and report.b.median_ms > 0
    assert 0.2 < report.ratio < 5
    assert report.input_size == (128, 128) and report.input == str(fixture_path(DAISY_PHOTO))
    assert report.notes  # the optimized graph's missing shape
    assert "median" in report.message


def test_bench_rejects_bad_options(tmp_path: Path) -> None:
    a = _small(tmp_path, "a.pb")
    with pytest.raises(InspectorError, match="runs must be at least 1"):
        bench(a, a, runs=0)
    with pytest.raises(InspectorError, match="mismatched inputs"):
        bench(a, _small(tmp_path, "big.pb", size=32))
