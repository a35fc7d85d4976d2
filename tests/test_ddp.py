"""Data parallelism: two CPU ranks (gloo, under torchrun) train the same weights as one process."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.train.checkpoints import load_checkpoint
from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split
from hydronet_nb.train.pretrain import read_config, run


def test_two_gloo_ranks_under_torchrun_match_one_process(tmp_path):
    sets = clusters(copies=3)  # 39 clusters W3-W15, toy energies and forces
    write_pnnl_hdf5(tmp_path / "data.hdf5", sets)
    write_split(tmp_path / "split.npz", train_idx=list(range(24)), val_idx=list(range(24, 30)),
                test_idx=list(range(30, 39)))
    paths = {}
    for name in ("ddp", "single"):
        # energies and forces: the force term's double backward has to work under DistributedDataParallel
        config = {"data": {"source": "pnnl", "path": "data.hdf5", "split": "split.npz"}, "model": TINY_MODEL.as_dict(),
                  "training": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "energy_weight": 0.5, "progress": False},
                  "output": name}
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(config))
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "hydronet_nb", "pretrain",
                             "--config", str(paths["ddp"])], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:  # a hung run must not leave its ranks behind
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "; 2 process(es); clusters" in stdout  # one line, from rank 0
    run(read_config(paths["single"]))
    ddp, single = (load_checkpoint(tmp_path / name / "last.pt") for name in ("ddp", "single"))
    for key, value in single["model"].items():
        assert torch.allclose(ddp["model"][key], value, rtol=1e-5, atol=1e-6), key
    for a, b in zip(ddp["metrics"], single["metrics"]):
        assert abs(a["val_loss"] - b["val_loss"]) <= 1e-5 * abs(b["val_loss"])
    summary, alone = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("ddp", "single"))
    assert summary["world_size"] == 2 and summary["test"]["clusters"] == 9  # evaluation drops no cluster
    assert abs(summary["test"]["mae_per_water"] - alone["test"]["mae_per_water"]) <= 1e-5 * alone["test"]["mae_per_water"]
