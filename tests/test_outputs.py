"""Outputs that never destroy: only inspector's own files (or --force) are replaced, never a device or FIFO; runs never merge."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from builders import retrained_like, without_identities
from conftest import ROOT
from inspector.cli import main
from inspector.errors import InspectorError

SWAPPED = ("tf_files/retrained_graph.pb: exists and inspector did not write it (are --input and --output swapped?); "
           "pass --force to replace it, or choose another --output")


@pytest.fixture
def codelab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the codelab's folder: tf_files/retrained_graph.pb and an optimized_graph.pb another tool wrote."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "tf_files"
    folder.mkdir()
    (folder / "retrained_graph.pb").write_bytes(retrained_like().SerializeToString())
    (folder / "optimized_graph.pb").write_bytes(without_identities(retrained_like()).SerializeToString())
    return folder


def _record(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".inspector.json").read_text())


# --- optimize ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_swapped_input_and_output_are_refused_and_the_retrained_graph_kept(codelab: Path, capsys):
    retrained = codelab / "retrained_graph.pb"
    before = retrained.read_bytes()
    argv = ["optimize", "--input", "tf_files/optimized_graph.pb", "--output", "tf_files/retrained_graph.pb"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {SWAPPED}\n"
    assert retrained.read_bytes() == before
    assert sorted(p.name for p in codelab.iterdir()) == ["optimized_graph.pb", "retrained_graph.pb"]


@pytest.mark.slow
def test_optimize_replaces_its_own_output_and_force_replaces_any(codelab: Path, capsys):
    ours = codelab / "mine_optimized.pb"
    argv = ["optimize", "--input", "tf_files/retrained_graph.pb", "--output", str(ours)]
    assert main(argv) == 0
    record = _record(ours)
    assert record["schema"] == 1 and record["sha256"] == hashlib.sha256(ours.read_bytes()).hexdigest()
    # The same command again, on its own earlier output: no --force needed.
    ours.write_bytes(ours.read_bytes())  # same bytes, new mtime: still ours
    assert main(argv) == 0
    capsys.readouterr()

    # Edited since inspector wrote it: no longer ours.
    ours.write_bytes(ours.read_bytes() + b"\n")
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {ours}: exists and inspector did not write it (are --input and --output swapped?); "
        "pass --force to replace it, or choose another --output\n"
    )

    # --force replaces a file another tool wrote, and from then on it is inspector's.
    theirs = codelab / "optimized_graph.pb"
    assert main(["optimize", "tf_files/retrained_graph.pb", "--force"]) == 0
    assert theirs.read_bytes() != without_identities(retrained_like()).SerializeToString()
    assert _record(theirs)["sha256"] == hashlib.sha256(theirs.read_bytes()).hexdigest()
    assert main(["optimize", "tf_files/retrained_graph.pb"]) == 0


@pytest.mark.slow
def test_library_force_is_keyword_only_and_refuses_by_default(codelab: Path):
    import inspector

    target = codelab / "optimized_graph.pb"
    with pytest.raises(InspectorError) as info:
        inspector.optimize_file(codelab / "retrained_graph.pb")
    assert info.value.message == (
        f"{target}: exists and inspector did not write it (are --input and --output swapped?); "
        "pass --force to replace it, or choose another --output"
    )
    with pytest.raises(TypeError):
        inspector.optimize_file(codelab / "retrained_graph.pb", target, True)  # force is keyword-only
    assert inspector.optimize_file(codelab / "retrained_graph.pb", force=True).written.path == target
    # inspector.optimize(GraphDef, output=...) keeps to the same rule.
    other = codelab / "other.pb"
    other.write_bytes(b"not ours")
    with pytest.raises(InspectorError, match="exists and inspector did not write it"):
        inspector.optimize(retrained_like(), output=other)
    assert other.read_bytes() == b"not ours"
    inspector.optimize(retrained_like(), output=other, force=True)
    inspector.optimize(retrained_like(), output=other)


def test_a_fifo_and_a_link_to_dev_null_are_refused_and_left_as_they_were(codelab: Path, capsys):
    fifo = codelab / "out.pb"
    os.mkfifo(fifo)
    null = codelab / "null.pb"
    null.symlink_to(os.devnull)
    for force in ([], ["--force"]):
        assert main(["optimize", "tf_files/retrained_graph.pb", "--output", str(fifo), *force]) == 2
        assert capsys.readouterr().err == (
            f"error: {fifo}: a FIFO (named pipe), not a regular file; choose another output path "
            "(inspector replaces only regular files)\n"
        )
        assert main(["optimize", "tf_files/retrained_graph.pb", "--output", str(null), *force]) == 2
        assert capsys.readouterr().err == (
            f"error: {null}: a symlink to a character device ({os.devnull}), not a regular file; "
            "choose another output path (inspector replaces only regular files)\n"
        )
        assert main(["optimize", "tf_files/retrained_graph.pb", "--output", "tf_files", *force]) == 2
        assert capsys.readouterr().err == (
            "error: tf_files: a folder, not a regular file; choose another output path (inspector replaces only regular files)\n"
        )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert null.is_symlink() and os.readlink(null) == os.devnull and stat.S_ISCHR(os.stat(null).st_mode)
    assert sorted(p.name for p in codelab.iterdir()) == ["null.pb", "optimized_graph.pb", "out.pb", "retrained_graph.pb"]


def test_the_atomic_writer_refuses_special_files_for_every_write(tmp_path: Path):
    from inspector.atomic import write_bytes_atomic

    os.mkfifo(tmp_path / "fifo")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InspectorError) as info:
        write_bytes_atomic(tmp_path / "fifo", b"x")
    assert info.value.message == (
        f"{tmp_path / 'fifo'}: a FIFO (named pipe), not a regular file; choose another output path (inspector replaces only regular files)"
    )
    with pytest.raises(InspectorError) as info:
        write_bytes_atomic(loop, b"x")
    assert info.value.message == (
        f"{loop}: a symlink loop, not a regular file; choose another output path (inspector replaces only regular files)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "loop"]


def test_a_fifo_where_the_record_goes_is_refused_without_blocking(codelab: Path, capsys):
    record = codelab / "optimized_graph.pb.inspector.json"
    os.mkfifo(record)
    assert main(["optimize", "tf_files/retrained_graph.pb", "--force"]) == 2
    assert capsys.readouterr().err == (
        f"error: {record}: a FIFO (named pipe), not a regular file; choose another output path "
        "(inspector replaces only regular files)\n"
    )
    assert stat.S_ISFIFO(os.lstat(record).st_mode)


def test_a_write_the_filesystem_refuses_is_one_line(tmp_path: Path):
    """A file size limit (RLIMIT_FSIZE) makes the write fail as a full disk would, in a child process."""
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from inspector.atomic import write_bytes_atomic\n"
        "from inspector.errors import InspectorError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))\n"
        "try:\n"
        "    write_bytes_atomic(Path(sys.argv[1]), b'x' * 4096)\n"
        "except InspectorError as exc:\n"
        "    print(exc.message)\n"
    )
    target = tmp_path / "big.pb"
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout == f"{target}: cannot write (File too large); check free space and permissions\n", proc.stderr
    assert list(tmp_path.iterdir()) == []


# --- compare, export, demo -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_one_graph_compare_writes_beside_its_input(codelab: Path, tmp_path: Path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    graph = models / "retrained_graph.pb"
    graph.write_bytes(retrained_like().SerializeToString())
    cwd_optimized = codelab / "optimized_graph.pb"
    before = cwd_optimized.read_bytes()
    argv = ["compare", str(graph), "--logdir", str(tmp_path / "logs"), "--no-board", "--no-check", "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    assert (models / "optimized_graph.pb").is_file()
    assert cwd_optimized.read_bytes() == before
    # Its own output again: fine. Another tool's file there: refused, naming --output.
    assert main(argv) == 0
    capsys.readouterr()
    other = models / "net.pb"
    other.write_bytes(retrained_like().SerializeToString())
    (models / "net_optimized.pb").write_bytes(b"someone else's")
    assert main(["compare", str(other), "--logdir", str(tmp_path / "logs"), "--no-board", "--no-check"]) == 2
    assert capsys.readouterr().err == (
        f"error: {models / 'net_optimized.pb'}: exists and inspector did not write it; pass --force to replace it, "
        "or choose another --output\n"
    )
    assert (models / "net_optimized.pb").read_bytes() == b"someone else's"


def test_compare_refuses_two_names_that_are_one_run(tmp_path: Path, small_pair, capsys):
    a, b = small_pair
    logdir = tmp_path / "logs"
    assert main(["compare", str(a), str(b), "--names", "x", "./x", "--logdir", str(logdir), "--no-board", "--no-check"]) == 2
    assert capsys.readouterr().err == "error: --names 'x' and './x' are one run ('x') in the logdir; pick two different names\n"
    assert main(["compare", str(a), str(b), "--names", "x/", "x", "--logdir", str(logdir), "--no-board", "--no-check"]) == 2
    assert capsys.readouterr().err == "error: --names 'x/' and 'x' are one run ('x') in the logdir; pick two different names\n"
    assert not logdir.exists()


def test_export_refuses_a_tflite_inspector_did_not_write(codelab: Path, capsys):
    tflite = codelab / "retrained_graph.tflite"
    tflite.write_bytes(b"TFL3 from toco")
    assert main(["export", "tf_files/retrained_graph.pb", "--runs", "0", "--random", "1"]) == 2
    assert capsys.readouterr().err == (
        "error: tf_files/retrained_graph.tflite: exists and inspector did not write it; pass --force to replace it, "
        "or choose another --tflite\n"
    )
    assert tflite.read_bytes() == b"TFL3 from toco"


@pytest.mark.slow
def test_export_replaces_its_own_tflite(codelab: Path, capsys):
    out = codelab / "model.tflite"
    argv = ["export", "tf_files/retrained_graph.pb", "--tflite", str(out), "--runs", "0", "--random", "1", "--json"]
    assert main(argv) == 0
    assert _record(out)["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert main(argv) == 0
    capsys.readouterr()


def test_demo_refuses_a_graph_in_its_folder_it_did_not_write(tmp_path: Path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    mine = folder / "optimized_graph.pb"
    mine.write_bytes(b"my own graph")
    assert main(["demo", "--dir", str(folder), "--no-board"]) == 2
    assert capsys.readouterr().err == (
        f"error: {mine}: exists and inspector did not write it; pass --force to replace it, or choose another --dir\n"
    )
    assert mine.read_bytes() == b"my own graph" and sorted(p.name for p in folder.iterdir()) == ["optimized_graph.pb"]


# --- runs ---------------------------------------------------------------------------------------------------

def test_tb_gives_two_graphs_with_one_name_two_runs_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "retrained_graph.pb").write_bytes(retrained_like().SerializeToString())
    assert main(["tb", "a/retrained_graph.pb", "b/retrained_graph.pb", "--logdir", "logs"]) == 0
    captured = capsys.readouterr()
    assert ("a/retrained_graph.pb and b/retrained_graph.pb would both be run 'retrained'; wrote them as runs "
            "'a-retrained' and 'b-retrained' (tb --run NAME names a single graph's run)") in captured.err
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["a-retrained", "b-retrained"]
    # The same file twice is two runs too (the rule's -a, -b).
    assert main(["tb", "a/retrained_graph.pb", "a/retrained_graph.pb", "--logdir", "logs2", "--json"]) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["retrained-a", "retrained-b"]


def test_tb_refuses_three_graphs_that_would_be_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "retrained_graph.pb").write_bytes(retrained_like().SerializeToString())
    graphs = ["a/retrained_graph.pb", "b/retrained_graph.pb", "c/retrained_graph.pb"]
    assert main(["tb", *graphs, "--logdir", "logs"]) == 2
    assert capsys.readouterr().err == (
        "error: a/retrained_graph.pb, b/retrained_graph.pb, c/retrained_graph.pb: these graphs would all be run "
        "'retrained'; give the files different names, or write each with its own `tb --run NAME`\n"
    )
    assert not (tmp_path / "logs").exists()
