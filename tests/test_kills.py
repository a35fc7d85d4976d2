"""Every long command, SIGKILLed at chosen points (during a checkpoint write, between rounds, mid-trajectory) and
rerun, ends with what an uninterrupted run gives: bit-equal weights, tables and frames (CPU, one thread)."""
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_finetune import config_text
from test_transfer import MODEL, surface

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

#: a process that runs ``hydronet-nb ARGS`` and kills itself (SIGKILL) inside the N-th atomic write of a file
#: named NAME: after the temporary file is written, before it replaces the old one
KILLER = """
import os, signal, sys
from hydronet_nb.utils import files
name, n = sys.argv[1], int(sys.argv[2])
seen = [0]
real = os.replace
def replace(src, dst):
    if os.path.basename(str(dst)) == name:
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
files.os.replace = replace
from hydronet_nb.cli import main
sys.exit(main(sys.argv[3:]))
"""


def hydronet(*args, kill_at=None, interrupt_at=None, cwd=None):
    """Run ``hydronet-nb args`` in a fresh process; ``kill_at=(name, n)`` kills it inside that write,
    ``interrupt_at=(name, n)`` sends it SIGINT there (Ctrl-C)."""
    argv = [str(a) for a in args]
    stop = kill_at or interrupt_at
    script = KILLER.replace("signal.SIGKILL", "signal.SIGINT") if interrupt_at else KILLER
    command = [sys.executable, "-c", script, *map(str, stop), *argv] if stop else \
        [sys.executable, "-m", "hydronet_nb", *argv]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=cwd, timeout=600)
    if kill_at:
        assert result.returncode == -9, f"not killed at {kill_at}: {result.returncode} {result.stderr[-2000:]}"
    elif interrupt_at:  # exit 130 and one line: what was saved and the command that continues, no traceback
        assert result.returncode == 130, f"not stopped at {interrupt_at}: {result.returncode} {result.stderr[-2000:]}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hydronet-nb: interrupted; "), result.stderr[-3000:]
        assert lines[0].endswith(f"; rerun the same command to continue: hydronet-nb {shlex.join(argv)}"), lines
    else:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def same_weights(a, b):
    wa, wb = (torch.load(p, weights_only=True)["model"] for p in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def metrics(folder):
    return pd.read_json(folder / "metrics.jsonl", lines=True).drop(
        columns=["epoch_time_s", "clusters_per_s"])


@pytest.mark.parametrize("kill_at", [("last.pt", 2), ("active.json", 1), ("metrics.jsonl", 4)],
                         ids=["checkpoint-write", "between-rounds", "log-write"])
def test_finetune_killed_and_rerun(nonmin, tmp_path, kill_at):
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text(config_text(nonmin, tmp_path / name))
    hydronet("finetune", "--config", tmp_path / "straight.yaml")
    hydronet("finetune", "--config", tmp_path / "killed.yaml", kill_at=kill_at)
    hydronet("finetune", "--config", tmp_path / "killed.yaml")
    same_weights(tmp_path / "straight" / "best.pt", tmp_path / "killed" / "best.pt")
    pd.testing.assert_frame_equal(metrics(tmp_path / "straight"), metrics(tmp_path / "killed"))
    for table in ("additions.csv", "rounds.csv"):
        assert (tmp_path / "straight" / table).read_text() == (tmp_path / "killed" / table).read_text()


def test_finetune_interrupted_by_sigint_says_what_is_kept_and_reruns_to_the_same_weights(nonmin, tmp_path):
    for name in ("straight", "stopped"):
        (tmp_path / f"{name}.yaml").write_text(config_text(nonmin, tmp_path / name))
    hydronet("finetune", "--config", tmp_path / "straight.yaml")
    stopped = hydronet("finetune", "--config", tmp_path / "stopped.yaml", interrupt_at=("last.pt", 2))
    assert f"interrupted; checkpoints up to epoch 1 are in {tmp_path / 'stopped'};" in stopped.stderr
    assert torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)["epoch"] == 1  # epoch 2's write undone
    hydronet("finetune", "--config", tmp_path / "stopped.yaml")
    same_weights(tmp_path / "straight" / "best.pt", tmp_path / "stopped" / "best.pt")
    pd.testing.assert_frame_equal(metrics(tmp_path / "straight"), metrics(tmp_path / "stopped"))


def test_transfer_killed_during_a_checkpoint_write(tmp_path):
    surface(tmp_path, "old")
    surface(tmp_path, "new", scale=1.1, shift=-1.0)
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text(
            "data: {source: pnnl, path: new_data.hdf5, split: split_00_new.npz}\nstart: scratch\n"
            f"model: {{{MODEL}}}\ntraining: {{batch_size: 8, lr: 2.0e-3, epochs: 6, progress: false}}\n"
            f"forgetting: {{path: old_data.hdf5, split: split_00_old.npz}}\noutput: {name}\n")
    hydronet("transfer", "--config", tmp_path / "straight.yaml")
    hydronet("transfer", "--config", tmp_path / "killed.yaml", kill_at=("last.pt", 3))
    assert torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["epoch"] == 2  # the kill was in epoch 3's
    hydronet("transfer", "--config", tmp_path / "killed.yaml")
    same_weights(tmp_path / "straight" / "best.pt", tmp_path / "killed" / "best.pt")
    assert (json.loads((tmp_path / "straight" / "summary.json").read_text())["test"]
            == json.loads((tmp_path / "killed" / "summary.json").read_text())["test"])


@pytest.mark.parametrize("kill_at", [("state.npz", 3), ("frames.csv", 1)], ids=["mid-trajectory", "table-rewrite"])
def test_md_killed_mid_trajectory(tmp_path, kill_at):
    args = ["md", "--model", "pretrained", "--size", "3", "--seeds", "2", "--steps", "60", "--reference", "none"]
    hydronet(*args, "--out", tmp_path / "straight")
    hydronet(*args, "--out", tmp_path / "killed", kill_at=kill_at)
    hydronet(*args, "--out", tmp_path / "killed")
    for seed in (0, 1):
        a, b = (pd.read_csv(tmp_path / run / f"pretrained-W3-seed{seed}" / "frames.csv") for run in ("straight", "killed"))
        pd.testing.assert_frame_equal(a, b)
        xyz = [(tmp_path / run / f"pretrained-W3-seed{seed}" / "frames.xyz").read_text() for run in ("straight", "killed")]
        assert xyz[0] == xyz[1]


def test_md_interrupted_by_sigint_mid_trajectory_reruns_to_the_same_frames(tmp_path):
    args = ["md", "--model", "pretrained", "--size", "3", "--seeds", "1", "--steps", "40", "--reference", "none"]
    hydronet(*args, "--out", tmp_path / "straight")
    stopped = hydronet(*args, "--out", tmp_path / "stopped", interrupt_at=("state.npz", 3))
    assert f"interrupted; the frames written so far are kept in {tmp_path / 'stopped'};" in stopped.stderr
    hydronet(*args, "--out", tmp_path / "stopped")
    for name in ("frames.csv", "frames.xyz"):
        a, b = ((tmp_path / run / "pretrained-W3-seed0" / name).read_text() for run in ("straight", "stopped"))
        assert a == b
    assert len(a.splitlines()) == 5 * (2 + 9)  # five whole frames of nine atoms (steps 0, 10, ... 40)


def test_force_study_killed_between_arms(nonmin, tmp_path):
    (tmp_path / "base.yaml").write_text(config_text(nonmin, tmp_path / "base-run"))
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text(
            "base: base.yaml\nval: 6\ncreate_graph: {train: 10, epochs: 2}\n"
            "data_efficiency: {sizes: [5], epochs: [2], seeds: [1]}\n" f"output: {name}\n")
    hydronet("force-study", "--config", tmp_path / "straight.yaml")
    hydronet("force-study", "--config", tmp_path / "killed.yaml", kill_at=("summary.json", 2))
    hydronet("force-study", "--config", tmp_path / "killed.yaml")
    columns = ["arm", "n_train", "best_epoch", "mae_per_water", "force_mae", "f_ang"]
    a, b = (pd.read_csv(tmp_path / run / "summary.csv")[columns] for run in ("straight", "killed"))
    pd.testing.assert_frame_equal(a, b)


def test_transfer_study_killed_mid_arm(tmp_path):
    surface(tmp_path, "old")
    surface(tmp_path, "new", scale=1.1, shift=-1.0)
    (tmp_path / "base.yaml").write_text(
        "data: {source: pnnl, path: new_data.hdf5, split: split_00_new.npz}\nstart: scratch\n"
        f"model: {{{MODEL}}}\ntraining: {{batch_size: 8, lr: 2.0e-3, epochs: 3, progress: false}}\n"
        "forgetting: {path: old_data.hdf5, split: split_00_old.npz}\noutput: base-run\n")
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text("base: base.yaml\nval: 4\ndata_efficiency: {sizes: [6, 12], "
                                               f"seeds: [1, 1]}}\noutput: {name}\n")
    hydronet("transfer-study", "--config", tmp_path / "straight.yaml")
    hydronet("transfer-study", "--config", tmp_path / "killed.yaml", kill_at=("last.pt", 5))
    hydronet("transfer-study", "--config", tmp_path / "killed.yaml")
    columns = ["arm", "n_train", "best_epoch", "mae_per_water", "old_mae_per_water"]
    a, b = (pd.read_csv(tmp_path / run / "summary.csv")[columns] for run in ("straight", "killed"))
    pd.testing.assert_frame_equal(a, b)


def test_md_study_killed_mid_trajectory(tmp_path):
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.yaml").write_text("grid: {models: [pretrained, finetuned], sizes: [3], seeds: 2, "
                                               f"steps: 30}}\nbatched: true\noutput: {name}\n")
    hydronet("md-study", "--config", tmp_path / "straight.yaml")
    hydronet("md-study", "--config", tmp_path / "killed.yaml", kill_at=("state.npz", 6))
    hydronet("md-study", "--config", tmp_path / "killed.yaml")
    a, b = (pd.read_csv(tmp_path / run / "frames.csv") for run in ("straight", "killed"))
    pd.testing.assert_frame_equal(a, b)
