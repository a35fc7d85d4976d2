"""The trainer: the paper's recipe, the force term, checkpoints, exact resume, the pretrain command."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.train.checkpoints import load_checkpoint
from hydronet_nb.cli import main
from hydronet_nb.train.losses import ClusterLoss
from hydronet_nb.model.schnet import build_schnet
from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split
from hydronet_nb.data.datasets import data_file
from hydronet_nb.train.pretrain import read_config
from hydronet_nb.model.weights import load_schnet
from hydronet_nb.train.batching import collate_batch
from hydronet_nb.train.config import TrainConfig, seed_everything
from hydronet_nb.train.trainer import Trainer

FAST = dict(epochs=4, batch_size=8, lr=1e-3, progress=False)


@pytest.fixture(scope="module")
def data():
    sets = clusters(copies=3)  # 39 clusters W3-W15 with toy energies and forces
    return sets[:30], sets[30:]


@pytest.fixture
def deterministic():
    yield
    torch.use_deterministic_algorithms(False)  # TrainConfig(deterministic=True) sets it for the process


def make_trainer(out, data, seed=0, callbacks=(), **settings):
    seed_everything(seed)
    config = TrainConfig(**{**FAST, **settings})
    return Trainer(build_schnet(TINY_MODEL), *data, config, out, model_config=TINY_MODEL.as_dict(), callbacks=callbacks)


def test_defaults_are_the_papers_pretraining_recipe(tmp_path, data):
    config = TrainConfig()
    assert (config.lr, config.batch_size, config.lr_patience, config.lr_factor, config.min_lr, config.clip_value,
            config.energy_weight) == (1e-4, 256, 5, 0.8, 1e-6, 200.0, 1.0)
    trainer = make_trainer(tmp_path, data, **{k: getattr(config, k) for k in ("lr", "batch_size")})
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    sched = trainer.scheduler
    assert (sched.factor, sched.patience, sched.min_lrs, sched.mode) == (0.8, 5, [1e-6], "min")


def test_force_term_trains_the_weights_only_with_create_graph(tmp_path, data):
    seed_everything(0)
    model = build_schnet(TINY_MODEL)
    params = list(model.parameters())
    b = collate_batch(data[0][:8], with_forces=True)
    # ours, forces only (c = 0): the loss reaches the weights through dE/dx
    loss = ClusterLoss(model, energy_weight=0.0).train()(*b)[0]
    ours = torch.autograd.grad(loss, params)
    assert sum(float(g.abs().sum()) for g in ours) > 0
    # the released code's variant: forces from autograd.grad without create_graph
    c = 0.05
    pos = b.pos.clone().requires_grad_(True)
    e = model(b.z, pos, b.batch).view(-1)
    (grad,) = torch.autograd.grad(e.sum(), pos, retain_graph=True)
    force_term = torch.nn.functional.mse_loss(-grad, b.forces)
    assert not force_term.requires_grad  # a constant: it cannot train anything
    released = torch.autograd.grad(c * torch.nn.functional.mse_loss(e, b.energy) + (1 - c) * force_term, params,
                                   retain_graph=True)
    energy_only = torch.autograd.grad(c * torch.nn.functional.mse_loss(e, b.energy), params)
    assert all(torch.equal(a, b_) for a, b_ in zip(released, energy_only))
    mixed = torch.autograd.grad(ClusterLoss(model, c).train()(*b)[0], params)
    assert any(not torch.allclose(a, b_) for a, b_ in zip(mixed, energy_only))
    # and a force-only epoch moves every weight but the output bias (a constant energy shift has no force)
    trainer = make_trainer(tmp_path, data, epochs=1, energy_weight=0.0)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.fit()
    unchanged = [name for name, p in trainer.model.named_parameters() if torch.equal(before[name], p)]
    assert unchanged == ["lin2.bias"]


class Killed(Exception):
    pass


@pytest.mark.parametrize("packed", [False, True])
def test_resume_after_a_stop_is_bit_exact(tmp_path, data, deterministic, packed):
    settings = dict(deterministic=True, energy_weight=0.5, packed=packed, pack_atoms=100)
    whole = make_trainer(tmp_path / "whole", data, **settings)
    whole.fit()

    def kill_after_epoch_2(trainer, metrics):
        if metrics["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        make_trainer(tmp_path / "cut", data, callbacks=[kill_after_epoch_2], **settings).fit()
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    resumed = make_trainer(tmp_path / "cut", data, seed=123, **settings)  # other initial weights: all must come from last.pt
    resumed.fit()
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    steps = [s["step"] for s in whole.optimizer.state_dict()["state"].values()]
    assert steps == [s["step"] for s in resumed.optimizer.state_dict()["state"].values()]
    timing = ["epoch_time_s", "clusters_per_s"]
    assert whole.metrics().drop(columns=timing).equals(resumed.metrics().drop(columns=timing))
    log = pd.read_json(tmp_path / "cut" / "metrics.jsonl", lines=True)
    assert log["epoch"].tolist() == [1, 2, 3, 4]


def test_checkpoints_are_plain_data_and_the_log_reads_in_pandas(tmp_path, data):
    trainer = make_trainer(tmp_path, data, epochs=2)
    history = trainer.fit()
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(raw) == {"model", "optimizer", "scheduler", "rng", "epoch", "metrics", "config", "early_stopping"}
    assert set(raw["rng"]) == {"torch", "cuda", "numpy", "python", "data"}
    assert raw["epoch"] == 2 and raw["config"]["model"] == TINY_MODEL.as_dict()
    log = pd.read_json(tmp_path / "metrics.jsonl", lines=True)
    for column in ("epoch", "train_loss", "val_loss", "val_mae_per_water", "lr", "epoch_time_s", "clusters_per_s"):
        assert column in log.columns
    assert log["val_loss"].tolist() == pytest.approx(history["val_loss"].tolist())
    best = int(log.loc[log.val_loss.idxmin(), "epoch"])
    model = load_schnet(tmp_path / "best.pt", TINY_MODEL)  # hydronet-nb predict --model best.pt
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == best and model is not None


def test_gradient_clamp_early_stopping_and_changed_settings(tmp_path, data):
    trainer = make_trainer(tmp_path / "clamp", data, epochs=1, clip_value=0.5)
    trainer.fit()
    assert max(float(p.grad.abs().max()) for p in trainer.model.parameters()) == 0.5  # clamped, not rescaled
    # weights that cannot move (lr 1e-30): no better validation loss after epoch 1
    still = make_trainer(tmp_path / "still", data, epochs=10, lr=1e-30, early_stopping_patience=2)
    assert still.fit()["epoch"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"other settings \(batch_size\)"):
        make_trainer(tmp_path / "still", data, epochs=10, lr=1e-30, batch_size=4).fit()


def write_data_and_config(folder, data, epochs, output):
    folder.mkdir(exist_ok=True)
    train, val = data
    write_pnnl_hdf5(folder / "min_data.hdf5", train + val)
    write_split(folder / "split.npz", train_idx=list(range(24)), val_idx=list(range(24, 30)),
                test_idx=list(range(30, 39)))
    config = {"data": {"source": "pnnl", "path": "min_data.hdf5", "split": "split.npz"},
              "model": TINY_MODEL.as_dict(),
              "training": {**FAST, "epochs": epochs, "deterministic": True}, "output": output}
    path = folder / f"{output}.json"
    path.write_text(json.dumps(config))
    return path


def test_pretrain_command_killed_and_rerun_ends_where_an_unbroken_run_does(tmp_path, data, deterministic, capsys):
    cut = write_data_and_config(tmp_path, data, 25, "cut")
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # same arithmetic as this process
    proc = subprocess.Popen([sys.executable, "-m", "hydronet_nb", "pretrain", "--config", str(cut)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and len(log.read_text().splitlines() if log.exists() else []) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"]
    assert 2 <= killed_at < 25, proc.stderr.read().decode()[-2000:]
    assert main(["pretrain", "--config", str(cut)]) == 0  # continues from last.pt
    out = capsys.readouterr().out
    assert f"epoch {killed_at + 1:4d}" in out and f"epoch {killed_at:4d}" not in out
    whole = write_data_and_config(tmp_path, data, 25, "whole")
    assert main(["pretrain", "--config", str(whole)]) == 0
    a, b = (load_checkpoint(tmp_path / name / "last.pt")["model"] for name in ("cut", "whole"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["test"]["clusters"] == 9 and summary["best_epoch"] >= 1
    assert pd.read_json(log, lines=True)["epoch"].tolist() == list(range(1, 26))


def test_pretrain_config_errors_are_clear(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data: {source: embedded}\ntraining: {epochs: 1}\noutput: out\n")
    assert read_config(config).output == tmp_path / "out"
    if not data_file("min").is_file():
        assert main(["pretrain", "--config", str(config)]) == 2
        assert "min_data.hdf5: the embedded minima not found" in capsys.readouterr().err
    config.write_text("data: {source: pnnl, path: x.hdf5}\ntraining: {lrr: 1}\noutput: out\n")
    assert main(["pretrain", "--config", str(config)]) == 2
    assert "c.yaml: unknown key(s) training.lrr" in capsys.readouterr().err
    config.write_text("data: {source: pnnl, path: x.hdf5}\noutput: out\n")
    assert main(["pretrain", "--config", str(config)]) == 2
    assert "x.hdf5: no such file" in capsys.readouterr().err


# --- data fingerprints, new training sets between rounds, warm starts --------------------------------


def test_resume_refuses_other_data_and_says_what_changed(tmp_path, data):
    train, val = data
    make_trainer(tmp_path, data, epochs=1).fit()
    with pytest.raises(ValueError, match=r"last.pt: was written with other data \(train set: the clusters changed "
                                         r"\(30 -> 29 clusters\)\)"):
        make_trainer(tmp_path, (train[:-1], val), epochs=2).fit()


def test_resume_names_the_changed_file_or_split(tmp_path, data):
    from hydronet_nb.data.datasets import load_file, split_sets

    train, val = data
    write_pnnl_hdf5(tmp_path / "min_data.hdf5", train + val)
    write_split(tmp_path / "a.npz", train_idx=list(range(24)), val_idx=list(range(24, 30)), test_idx=list(range(30, 39)))
    write_split(tmp_path / "b.npz", train_idx=list(range(1, 24)), val_idx=list(range(24, 30)), test_idx=[0])

    def sets(split):
        parts = split_sets(load_file(tmp_path / "min_data.hdf5", tmp_path / split))
        return parts["train"], parts["val"]

    make_trainer(tmp_path / "run", sets("a.npz"), epochs=1).fit()
    make_trainer(tmp_path / "run", sets("a.npz"), epochs=2).fit()  # the same files and rows: continues
    with pytest.raises(ValueError, match=r"train set: file a.npz no longer read; train set: file b.npz added; train set: the rows taken from the files"):
        make_trainer(tmp_path / "run", sets("b.npz"), epochs=3).fit()
    write_pnnl_hdf5(tmp_path / "min_data.hdf5", [*train[:-1], *val, train[-1]])  # same clusters, other order
    with pytest.raises(ValueError, match=r"train set: file min_data.hdf5 changed \(sha256 "):
        make_trainer(tmp_path / "run", sets("a.npz"), epochs=3).fit()


def test_a_checkpoint_without_a_fingerprint_resumes_with_a_warning(tmp_path, data):
    make_trainer(tmp_path, data, epochs=1).fit()
    old = torch.load(tmp_path / "last.pt", weights_only=True)
    del old["config"]["data"]  # as written before fingerprints were recorded
    torch.save(old, tmp_path / "last.pt")
    with pytest.warns(UserWarning, match="without a data fingerprint"):
        history = make_trainer(tmp_path, data, epochs=2).fit()
    assert history["epoch"].tolist() == [1, 2]


def test_a_new_training_set_between_rounds_and_a_warm_start(tmp_path, data):
    train, val = data
    rounds = make_trainer(tmp_path / "rounds", (train[:15], val), epochs=2)
    rounds.fit()
    rounds.set_train(train)  # round 2 of active sampling: a larger set, the same weights and optimizer
    history = rounds.fit(epochs=4)
    assert history["epoch"].tolist() == [1, 2, 3, 4] and len(rounds.train) == 30
    saved = load_checkpoint(tmp_path / "rounds" / "last.pt")
    assert saved["config"]["data"]["train"]["clusters"] == 30  # the checkpoint knows the new set
    again = make_trainer(tmp_path / "rounds", data, epochs=4)  # a rerun of round 2 resumes at its end
    assert again.fit()["epoch"].tolist() == [1, 2, 3, 4]

    fresh = make_trainer(tmp_path / "fresh", data, seed=5, epochs=1)
    fresh.warm_start(tmp_path / "rounds" / "best.pt")  # weights only, from a training checkpoint
    best = load_checkpoint(tmp_path / "rounds" / "best.pt")["model"]
    assert all(torch.equal(fresh.model.state_dict()[k], v) for k, v in best.items())
    fresh.warm_start(rounds.model)  # or from a module
    assert all(torch.equal(a, b) for a, b in zip(fresh.model.state_dict().values(), rounds.model.state_dict().values()))


def test_anneal_epochs_end_the_run_on_a_half_cosine_to_min_lr(tmp_path):
    from synthetic import TINY_MODEL, clusters

    from hydronet_nb.model.schnet import build_schnet
    from hydronet_nb.train.config import TrainConfig
    from hydronet_nb.train.trainer import Trainer

    data = clusters(copies=1, sizes=range(3, 7))
    config = TrainConfig(epochs=6, batch_size=2, lr=1e-3, min_lr=1e-5, anneal_epochs=3, progress=False)
    trainer = Trainer(build_schnet(TINY_MODEL), data[:3], data[3:], config, tmp_path)
    lrs = trainer.fit()["lr"].tolist()
    lr0 = lrs[2]  # the rate of the last epoch before the annealing (the plateau schedule's)
    expected = [1e-5 + (lr0 - 1e-5) * 0.5 * (1 + np.cos(np.pi * k / 3)) for k in (1, 2, 3)]
    np.testing.assert_allclose(lrs[3:], expected, rtol=1e-12)
    assert lrs[-1] == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="anneal_epochs must lie in 1..epochs"):
        TrainConfig(epochs=6, anneal_epochs=7)


def test_frozen_parameters_stay_bit_equal_and_lr_scale_sets_groups(tmp_path):
    """training.freeze leaves those weights untouched; training.lr_scale gives a prefix its own rate."""
    from synthetic import TINY_MODEL, clusters

    from hydronet_nb.model.schnet import build_schnet
    from hydronet_nb.train.config import TrainConfig, parameter_groups
    from hydronet_nb.train.trainer import Trainer

    torch.manual_seed(0)
    model = build_schnet(TINY_MODEL)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    data = clusters(copies=2, rattle=0.05, sizes=range(3, 8))
    config = TrainConfig(epochs=2, batch_size=4, lr=1e-3, progress=False, freeze=["embedding", "interactions"])
    Trainer(model, data[:8], data[8:], config, tmp_path / "frozen").fit()
    after = dict(model.named_parameters())
    for key, value in before.items():
        same = torch.equal(value, after[key])
        assert same == (key.startswith("embedding") or key.startswith("interactions")), key
    groups = parameter_groups(build_schnet(TINY_MODEL), TrainConfig(lr=1e-3, lr_scale={"interactions": 0.1}))
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    with pytest.raises(ValueError, match="no parameter is named 'interaction'"):
        parameter_groups(build_schnet(TINY_MODEL), TrainConfig(freeze=["interaction"]))


def test_a_loss_that_turns_nan_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from synthetic import TINY_MODEL, clusters

    from hydronet_nb.errors import TrainingDiverged
    from hydronet_nb.model.schnet import build_schnet
    from hydronet_nb.train.config import TrainConfig
    from hydronet_nb.train.trainer import Trainer

    torch.manual_seed(0)
    data = clusters(copies=2, rattle=0.05, sizes=range(3, 8))
    trainer = Trainer(build_schnet(TINY_MODEL), data[:8], data[8:], TrainConfig(epochs=3, batch_size=4, progress=False),
                      tmp_path)
    trainer.fit(1)
    before = (tmp_path / "last.pt").read_bytes()
    original = trainer.backend.train_step
    calls = []

    def poisoned(step):
        out = original(step)
        calls.append(1)
        return (out[0] * float("nan") if len(calls) == 2 else out[0], *out[1:])

    monkeypatch.setattr(trainer.backend, "train_step", poisoned)
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 2, step 2; stopped, .*last.pt \(after epoch 1\) "
                                               r"is kept"):
        trainer.fit(3)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_a_full_disk_during_a_checkpoint_leaves_the_previous_one_and_says_so(tmp_path, monkeypatch):
    import errno

    from hydronet_nb.train import checkpoints

    path = tmp_path / "last.pt"
    checkpoints.save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):  # save_checkpoint hands torch an open file
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=r"last.pt: could not write it \(No space left on device\); the previous "
                                      r"last.pt is intact"):
        checkpoints.save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]  # no temporary left behind
