"""``hydronet-nb force-study`` at toy scale, and the released code's create_graph bug in the loss."""
import json

import pandas as pd
import pytest
import torch
from synthetic import TINY_MODEL, clusters
from test_finetune import config_text

from hydronet_nb.finetune import command, studies
from hydronet_nb.model.schnet import build_schnet
from hydronet_nb.train.batching import collate_batch
from hydronet_nb.train.losses import ClusterLoss


def test_without_create_graph_only_the_energy_term_trains():
    """The released code's bug: the force term then adds nothing to the gradient of the weights."""
    torch.manual_seed(0)
    model = build_schnet(TINY_MODEL).double()
    batch = collate_batch(clusters(copies=1, rattle=0.05, sizes=[3, 4]), with_forces=True)
    args = (batch.z, batch.pos.double(), batch.batch, batch.energy.double(), batch.n_water, batch.forces.double())

    def grads(loss_module):
        model.zero_grad()
        loss_module(*args)[0].backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    buggy = grads(ClusterLoss(model, 0.05, create_graph=False))
    e = model(batch.z, batch.pos.double(), batch.batch).view(-1)
    model.zero_grad()
    (0.05 * (e - batch.energy.double()).square().mean()).backward()
    energy_only = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    right = grads(ClusterLoss(model, 0.05, create_graph=True))
    assert torch.allclose(buggy, energy_only, rtol=1e-10, atol=1e-12)
    assert (right - buggy).abs().max() > 100 * buggy.abs().max() * 1e-6  # the force term moves the weights


@pytest.fixture(scope="module")
def study(nonmin, tmp_path_factory):
    """A tiny study run twice (the second run must reuse every arm)."""
    root = tmp_path_factory.mktemp("study")
    base = root / "base.yaml"
    base.write_text(config_text(nonmin, root / "base-run"))
    torch.set_num_threads(1)
    command.run(command.read_config(base), log=lambda *a: None, export_to=root / "start")
    base.write_text(config_text(nonmin, root / "base-run").replace("start: scratch", f"start: {root / 'start'}"))
    cfg = root / "study.yaml"
    cfg.write_text("base: base.yaml\nval: 6\ncreate_graph: {train: 12, epochs: 3}\n"
                   "selection: {seeds: [0, 1], train: 10, examine: 8, schedule: {initial_epochs: 1, rounds: 2, "
                   "epochs_per_round: 1, final_epochs: 1}}\n"
                   "data_efficiency: {sizes: [5, 15], epochs: [2, 2], seeds: [2, 1]}\noutput: out\n")
    config = studies.read_study_config(cfg)
    first = studies.StudyRunner(config, log=lambda *a: None).run()
    mtimes = {p: p.stat().st_mtime_ns for p in (root / "out").rglob("summary.json")}
    again = studies.StudyRunner(config, log=lambda *a: None).run()
    return root, config, first, again, mtimes


def test_study_runs_every_arm_once_and_resumes(study):
    root, config, first, again, mtimes = study
    assert len(first) == 2 + 2 * 2 + (2 + 1) * 2
    pd.testing.assert_frame_equal(first, again)
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    effic = first[first.study == "data_efficiency"]
    assert sorted(effic.n_train.unique()) == [5, 15] and set(effic.start) == {"start", "scratch"}
    assert (effic.groupby(["n_train", "seed"]).size() == 2).all()


def test_random_arm_adds_as_many_per_round_as_the_active_arm(study):
    root, config, first, *_ = study
    additions = pd.read_csv(root / "out" / studies.TABLES["additions"])
    counts = additions.groupby(["seed", "round", "rule"]).size().unstack("rule", fill_value=0)
    assert (counts["active"] == counts["random"]).all()
    rounds = pd.read_csv(root / "out" / studies.TABLES["rounds"])
    assert len(rounds) == 2 * 2 * 3 and (rounds.groupby(["rule", "seed"]).train_clusters.first() == 10).all()


def test_create_graph_arms_log_their_epochs_and_export(study, tmp_path):
    root, config, first, *_ = study
    epochs = pd.read_csv(root / "out" / studies.TABLES["epochs"])
    assert sorted(epochs.groupby("create_graph").size().tolist()) == [3, 3]
    runs = first[first.study == "create_graph"]
    assert runs.create_graph.tolist() == [True, False]
    card = studies.export_study(config, tmp_path / "shipped", "hydronet-nb force-study --config study.yaml", 1.0)
    facts = json.loads((tmp_path / "shipped" / "STUDY.json").read_text())
    assert facts["arms"] == len(first) and "selection_rounds.csv" in card.read_text()
