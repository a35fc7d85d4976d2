"""``hydronet-nb finetune`` at toy scale: rounds add what the rule picks, kills between and within rounds resume."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.finetune import command
from hydronet_nb.finetune.rounds import ADDITIONS, STATE, ActiveSampler, Schedule


def config_text(nonmin, out, rule="active", extra=""):
    model = ", ".join(f"{k}: {v}" for k, v in TINY_MODEL.as_dict().items())
    return (f"data: {{source: pnnl, path: {nonmin}/nonmin_data.hdf5, split: {nonmin}/split_00_nonmin.npz}}\n"
            f"start: scratch\nmodel: {{{model}}}\n"
            "training: {batch_size: 8, lr: 1.0e-3, progress: false, seed: 0}\n"
            "schedule: {initial_epochs: 2, rounds: 2, epochs_per_round: 1, final_epochs: 1, final_patience: 5}\n"
            f"active: {{rule: {rule}, examine: 16, seed: 0{extra}}}\noutput: {out}\n")


def run(nonmin, tmp_path, name, rule="active", extra=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(config_text(nonmin, tmp_path / name, rule, extra))
    torch.set_num_threads(1)  # the kernels sum in a fixed order for a given thread count
    return command.run(command.read_config(path), log=lambda *a: None), tmp_path / name


def test_finetune_runs_the_schedule_and_logs_every_addition(nonmin, tmp_path):
    summary, out = run(nonmin, tmp_path, "active")
    metrics = pd.read_json(out / "metrics.jsonl", lines=True)
    assert len(metrics) == Schedule(2, 2, 1, 1).total == 5
    additions = pd.read_csv(out / ADDITIONS)
    state = json.loads((out / STATE).read_text())
    assert state["round"] == 2 and state["final"]
    assert len(state["train"]) == 20 + len(additions) == summary["train_clusters"]
    split = np.load(nonmin / "split_00_nonmin.npz")
    pools = set(split["examine_idx"]) | set(split["reserve_idx"])
    assert set(additions["row"]) <= pools and not set(additions["row"]) & set(split["train_idx"])
    assert len(additions) > 0 and (additions["error"] >= additions["threshold"]).all()
    assert np.isfinite(list(summary["test"].values())).all() and 0 <= summary["test"]["f_ang"] <= 1


class FirstAndThird:
    """A pluggable rule for the test: always positions 0 and 2 of the pool."""

    name = "first-and-third"

    def select(self, val_errors, pool_errors, rng, round_index=0):
        return np.array([0, 2])


def test_a_round_adds_exactly_what_the_rule_picks(nonmin, tmp_path):
    from hydronet_nb.data.datasets import load_file
    from hydronet_nb.model.schnet import build_schnet
    from hydronet_nb.train.config import TrainConfig
    from hydronet_nb.train.trainer import Trainer

    data = load_file(nonmin / "nonmin_data.hdf5", nonmin / "split_00_nonmin.npz")
    val = data.subset(data.split["val_idx"])
    config = TrainConfig(batch_size=8, energy_weight=0.05, progress=False)

    def make(train):
        return Trainer(build_schnet(TINY_MODEL), train, val, config, tmp_path / "run")

    sampler = ActiveSampler(make, data, data.split, Schedule(1, 1, 1, 0), tmp_path / "run", rule=FirstAndThird(),
                            examine_size=5)
    pool = list(sampler.state["pool"])
    sampler.run()
    assert sampler.state["train"] == data.split["train_idx"].tolist() + [pool[0], pool[2]]
    assert sampler.additions()["row"].tolist() == [pool[0], pool[2]]
    assert len(sampler.trainer.train) == len(data.split["train_idx"]) + 2


def test_killed_between_rounds_continues_to_the_same_result(nonmin, tmp_path, monkeypatch):
    reference, ref_out = run(nonmin, tmp_path, "whole")
    from hydronet_nb.train.trainer import Trainer

    calls = {"n": 0}
    original = Trainer.set_train

    def dies_at_the_second_round(self, clusters):
        calls["n"] += 1
        if calls["n"] == 3:  # construction, round 1, then round 2: the driver's state is already saved
            raise KeyboardInterrupt("killed between rounds")
        return original(self, clusters)

    monkeypatch.setattr(Trainer, "set_train", dies_at_the_second_round)
    with pytest.raises(KeyboardInterrupt):
        run(nonmin, tmp_path, "killed")
    monkeypatch.setattr(Trainer, "set_train", original)
    resumed, out = run(nonmin, tmp_path, "killed")
    assert json.loads((out / STATE).read_text()) == json.loads((ref_out / STATE).read_text())
    a = pd.read_json(out / "metrics.jsonl", lines=True)
    b = pd.read_json(ref_out / "metrics.jsonl", lines=True)
    assert a["val_loss"].tolist() == b["val_loss"].tolist()  # bit-equal on one CPU thread
    assert resumed["test"] == reference["test"]


def test_random_rule_copies_the_budget_of_an_active_run(nonmin, tmp_path):
    _, active_out = run(nonmin, tmp_path, "active2")
    _, out = run(nonmin, tmp_path, "random", rule="random", extra=f", budget: {active_out / ADDITIONS}")
    active = pd.read_csv(active_out / ADDITIONS)
    random = pd.read_csv(out / ADDITIONS)
    assert random.groupby("round").size().to_dict() == active.groupby("round").size().to_dict()


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("output: x\nactive: {rule: greedy}\n")
    with pytest.raises(ValueError, match="bad.yaml: active.rule: expected one of active, random, none, got 'greedy'"):
        command.read_config(path)
    path.write_text("output: x\nschedule: {round: 3}\n")
    with pytest.raises(ValueError, match="schedule.round"):
        command.read_config(path)


@pytest.mark.parametrize("name", ["finetune_forces", "finetune_forces_scratch", "finetune_forces_full"])
def test_shipped_configs_read(name):
    from pathlib import Path

    config = command.read_config(Path(__file__).parents[1] / "configs" / f"{name}.yaml")
    assert config.training.energy_weight == 0.05 and config.active.rule == "active"
    assert config.start == ("scratch" if name.endswith("scratch") else "pretrained")
    assert config.schedule.total == (590 if name.endswith("full") else 70)


def test_export_writes_a_loadable_folder_with_force_metrics(nonmin, tmp_path):
    from hydronet_nb.data.cards import read_card
    from hydronet_nb.model.loading import load_model

    path = tmp_path / "export.yaml"
    path.write_text(config_text(nonmin, tmp_path / "run"))
    torch.set_num_threads(1)
    summary = command.run(command.read_config(path), log=lambda *a: None, export_to=tmp_path / "out",
                          command="hydronet-nb finetune --config export.yaml --export out")
    card = read_card(tmp_path / "out", "MODEL")
    test = next(m for m in card["metrics"] if m["set"] == "test non-minima")
    assert test["force_mae"] == pytest.approx(summary["test"]["force_mae"], rel=1e-6)
    assert card["active"]["added"] == summary["added"] and card["command"].endswith("--export out")
    assert "force MAE | F_mag | F_ang" in (tmp_path / "out" / "MODEL.md").read_text()
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert set(errors["set"]) == {"test non-minima"} and len(errors) == 10
    model = load_model(tmp_path / "out")
    assert sum(p.numel() for p in model.parameters()) == card["n_parameters"]
