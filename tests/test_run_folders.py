"""Run folders have one writer: a second process is refused naming the holder's pid; a rerun keeps the engine;
``generate`` touches only folders it made; a full disk reads the same for every writer; SIGTERM ends in one line."""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from test_finetune import config_text

from hydronet_nb.cli import main
from hydronet_nb.md.runs import FRAMES_CSV, FRAMES_XYZ
from hydronet_nb.reference.generate import MARKER, claim_folders
from hydronet_nb.train import checkpoints
from hydronet_nb.utils import files
from hydronet_nb.utils.runlock import LOCK, PID, FolderInUse, run_folder

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
MD = ["md", "--model", "pretrained", "--size", "3", "--seeds", "1", "--reference", "none"]

#: a process that holds the locks of the folders named on its command line until it is killed
HOLDER = """
import contextlib, sys, time
from hydronet_nb.utils.runlock import run_folder
with contextlib.ExitStack() as stack:
    for folder in sys.argv[1:]:
        stack.enter_context(run_folder(folder))
    print("held", flush=True)
    time.sleep(120)
"""


def wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def command_configs(tmp_path, nonmin, out):
    """Each run-folder command, set to write into ``out`` (the configs are read; the lock comes first)."""
    model = "model: {hidden_channels: 16, num_filters: 16, num_interactions: 2, num_gaussians: 10, k: 8}\n"
    texts = {
        "pretrain": f"data: {{source: embedded}}\n{model}output: {out}\n",
        "finetune": config_text(nonmin, out),
        "transfer": f"data: {{source: pnnl, path: new_data.hdf5, split: split_00_new.npz}}\nstart: scratch\n{model}"
                    f"output: {out}\n",
        "force-study": f"base: finetune.yaml\nval: 6\ncreate_graph: {{train: 10, epochs: 1}}\noutput: {out}\n",
        "transfer-study": f"base: transfer.yaml\nval: 4\ndata_efficiency: {{sizes: [6], seeds: [1]}}\noutput: {out}\n",
        "md-study": f"grid: {{models: [pretrained], sizes: [3], seeds: 1, steps: 10}}\noutput: {out}\n",
    }
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    argv = {name: [name, "--config", str(tmp_path / f"{name}.yaml")] for name in texts}
    argv["md"] = [*MD, "--steps", "10", "--out", str(out)]
    argv["generate"] = ["generate", "--tiny", "--out", str(out), "--work", str(tmp_path / "work")]
    return argv


def test_every_command_is_refused_a_folder_another_process_holds(nonmin, tmp_path, capsys):
    out = tmp_path / "held"
    out.mkdir()
    (out / MARKER).write_text("")  # generate's own folder: refused for the lock, not for the marker
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert (out / PID).read_text().strip() == str(holder.pid)
        for name, argv in command_configs(tmp_path, nonmin, out).items():
            started = time.perf_counter()
            assert main(argv) == 2, name
            line = one_line(capsys.readouterr().err)
            assert line == (f"hydronet-nb: error: {out}: in use by another hydronet-nb process (pid {holder.pid}); "
                            "wait for it to end, or use another folder"), name
            assert time.perf_counter() - started < 15, name  # at once: before any data or model is loaded
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK, PID, MARKER])  # nothing else was written
    finally:
        holder.kill()
        holder.wait()
    with run_folder(out):  # the kernel dropped the killed holder's lock
        assert (out / PID).read_text().strip() == str(os.getpid())
    assert not (out / PID).exists()


def test_a_second_md_on_one_out_is_refused_and_sigterm_ends_the_first_in_one_line(tmp_path, capsys):
    out = tmp_path / "md"
    argv = ["md", "--model", "amoeba", "--size", "3", "--seeds", "1", "--reference", "none", "--steps", "100000",
            "--every", "1", "--out", str(out)]  # AMOEBA keeps the cluster whole: the run is still going
    first = subprocess.Popen([sys.executable, "-m", "hydronet_nb", *argv], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    run = out / "amoeba-W3-seed0"
    try:
        wait_for(run / "state.npz", first)
        assert main(argv) == 2
        line = one_line(capsys.readouterr().err)
        assert f"{out}: in use by another hydronet-nb process (pid {first.pid})" in line
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 143
    assert one_line(err) == (f"hydronet-nb: interrupted; the frames written so far are kept in {out}; rerun the "
                             f"same command to continue: hydronet-nb {' '.join(argv)}")
    rows = len((run / FRAMES_CSV).read_text().splitlines()) - 1  # one writer: as many frames in both files
    assert 0 < rows <= sum(line.strip() == "9" for line in (run / FRAMES_XYZ).read_text().splitlines())


def test_a_rerun_of_md_with_the_other_engine_is_refused(tmp_path, capsys):
    argv = [*MD, "--steps", "10", "--out", str(tmp_path / "md")]
    assert main(argv) == 0
    frames = (tmp_path / "md" / "pretrained-W3-seed0" / FRAMES_CSV).read_bytes()
    capsys.readouterr()
    assert main([*argv, "--batched"]) == 2
    assert "other settings (engine: ase -> batched)" in one_line(capsys.readouterr().err)
    assert main([*MD, "--steps", "20", "--out", str(tmp_path / "md")]) == 0  # the same engine continues
    assert (tmp_path / "md" / "pretrained-W3-seed0" / FRAMES_CSV).read_bytes().startswith(frames)


@pytest.mark.parametrize("option", ["--out", "--work"])
def test_generate_refuses_a_folder_it_did_not_make_and_leaves_its_files(tmp_path, capsys, option):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".notes.abc.tmp").write_text("a user's hidden file")
    (mine / "thesis.txt").write_text("a user's file")
    other = {"--out": ["--work", str(tmp_path / "work")], "--work": ["--out", str(tmp_path / "out")]}[option]
    assert main(["generate", "--tiny", option, str(mine), *other]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{option} {mine}: this folder is not empty and was not made by hydronet-nb generate" in line
    assert sorted(p.name for p in mine.iterdir()) == [".notes.abc.tmp", "thesis.txt"]
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()  # refused before writing anything


def test_generate_takes_new_empty_and_its_own_folders(tmp_path):
    empty, new, legacy = tmp_path / "empty", tmp_path / "new" / "out", tmp_path / "legacy"
    empty.mkdir()
    legacy.mkdir()
    (legacy / "settings.json").write_text('{"settings": {}, "chunk_format": 1}')  # a work folder made before markers
    claim_folders({"--out": new, "--work": empty})
    claim_folders({"--work": legacy})
    assert all((folder / MARKER).is_file() for folder in (empty, new, legacy))
    (new / "min_data.hdf5").write_text("")
    claim_folders({"--out": new})  # its own folder, not empty: taken again
    with pytest.raises(ValueError, match="--out .*: not a folder"):
        claim_folders({"--out": new / "min_data.hdf5"})


def full_disk_message(path, previous=True):
    kept = f"the previous {path.name} is intact" if previous else f"no {path.name} was written"
    return f"{path}: could not write it (No space left on device); {kept}"


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),  # torch on a full disk
    RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")],
                         ids=["enospc", "torch-unexpected-pos", "torch-file-write-failed"])
def test_a_full_disk_reads_the_same_for_a_table_and_a_checkpoint(tmp_path, monkeypatch, error):
    table, checkpoint = tmp_path / "summary.csv", tmp_path / "last.pt"
    files.atomic_write_text(table, "a,b\n1,2\n")
    checkpoints.save_checkpoint(checkpoint, {"epoch": 1, "w": torch.ones(3)})
    before = {p: p.read_bytes() for p in (table, checkpoint)}

    def full(*args, **kwargs):
        raise error

    with pytest.raises(OSError) as table_error:
        files.atomic_write(table, full)
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as checkpoint_error:
        checkpoints.save_checkpoint(checkpoint, {"epoch": 2, "w": torch.zeros(3)})
    assert str(table_error.value) == full_disk_message(table)
    assert str(checkpoint_error.value) == full_disk_message(checkpoint)
    assert {p: p.read_bytes() for p in before} == before and sorted(tmp_path.iterdir()) == sorted(before)
    with pytest.raises(OSError) as appended:  # the appends of md's frames
        with files.writing(table, "the rows before it are kept"):
            raise error
    assert str(appended.value) == f"{table}: could not write it (No space left on device); the rows before it are kept"


def test_a_full_disk_ends_a_command_in_the_same_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)  # md's state.npz, after the first frame
    assert main([*MD, "--steps", "10", "--out", str(tmp_path / "md")]) == 2
    state = tmp_path / "md" / "pretrained-W3-seed0" / "state.npz"
    assert one_line(capsys.readouterr().err) == "hydronet-nb: error: " + full_disk_message(state, previous=False)


def test_a_lock_is_released_by_an_exception_and_refused_inside_one_process(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with run_folder(tmp_path / "run"):
            1 / 0
    with run_folder(tmp_path / "run"):
        with pytest.raises(FolderInUse, match=rf"pid {os.getpid()}"):
            with run_folder(tmp_path / "run"):
                pass
