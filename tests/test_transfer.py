"""``hydronet-nb transfer`` at toy scale: a transfer improves on its start, frozen weights stay, a kill resumes."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.data.cards import read_card
from hydronet_nb.evaluate.static import static_errors, static_summary
from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split
from hydronet_nb.model.loading import load_model
from hydronet_nb.transfer import command

MODEL = ", ".join(f"{k}: {v}" for k, v in TINY_MODEL.as_dict().items())


def surface(folder, name, scale=1.0, shift=0.0):
    """Toy minima on a surface of their own: the toy energy times ``scale`` plus ``shift`` per water."""
    data = [dataclasses.replace(c, energy=scale * c.energy + shift * c.n_atoms // 3, forces=None)
            for c in clusters(copies=4, rattle=0.05, sizes=range(3, 12))]
    write_pnnl_hdf5(folder / f"{name}_data.hdf5", data)
    rows = np.random.default_rng(0).permutation(len(data))
    write_split(folder / f"split_00_{name}.npz", train_idx=rows[:24], val_idx=rows[24:30], test_idx=rows[30:])
    return folder


def config(folder, out, name, start, extra="", samples="null"):
    path = folder / f"{out}.yaml"
    path.write_text(f"data: {{source: pnnl, path: {name}_data.hdf5, split: split_00_{name}.npz}}\n"
                    f"start: {start}\nmodel: {{{MODEL}}}\n"
                    f"training: {{batch_size: 8, lr: 5.0e-3, epochs: 30, early_stopping_patience: 30, progress: false"
                    f"{extra}}}\nsamples: {samples}\n"
                    "forgetting: {path: old_data.hdf5, split: split_00_old.npz}\n"
                    f"output: {out}\n")
    return command.read_config(path)


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("surfaces")
    surface(folder, "old")
    surface(folder, "new", scale=1.1, shift=-1.0)
    torch.set_num_threads(1)
    command.run(config(folder, "start", "old", "scratch"), log=lambda *a: None, export_to=folder / "start-model")
    return folder


def test_transfer_improves_on_its_start_and_reports_forgetting(surfaces):
    cfg = config(surfaces, "moved", "new", surfaces / "start-model")
    test = command.load_surface(cfg.data)
    test = test.subset(test.split["test_idx"])
    before = static_summary(static_errors({"start": load_model(surfaces / "start-model")}, {"t": test}))
    summary = command.run(cfg, log=lambda *a: None, export_to=surfaces / "moved-model", command="transfer")
    assert summary["test"]["mae_per_water"] < 0.5 * float(before["mae_per_water"].iloc[0])
    assert summary["train_clusters"] == 24 and np.isfinite(summary["old"]["mae_per_water"])
    card = read_card(surfaces / "moved-model", "MODEL")
    assert card["test_set"] == command.NEW_TEST and {m["set"] for m in card["metrics"]} == {
        command.NEW_TEST, command.OLD_TEST}
    errors = pd.read_csv(surfaces / "moved-model" / "errors.csv")
    assert (errors.groupby("set").size() == [len(test), len(test)]).all()


def test_frozen_interactions_stay_bit_equal(surfaces):
    cfg = config(surfaces, "frozen", "new", surfaces / "start-model", extra=", freeze: [embedding, interactions]",
                 samples=10)
    command.run(cfg, log=lambda *a: None)
    start = torch.load(surfaces / "start-model" / "schnet.pt", weights_only=True)
    best = torch.load(surfaces / "frozen" / "best.pt", weights_only=True)["model"]
    for key, value in start.items():
        if key.startswith(("embedding", "interactions")):
            assert torch.equal(value, best[key]), key
    assert not torch.equal(start["lin2.weight"], best["lin2.weight"])
    assert json.loads((surfaces / "frozen" / "summary.json").read_text())["train_clusters"] == 10


def test_config_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("output: x\ntraining: {energy_weight: 0.5}\n")
    with pytest.raises(ValueError, match="bad.yaml: training.energy_weight must be 1"):
        command.read_config(path)
    path.write_text("output: x\nsample: 3\n")
    with pytest.raises(ValueError, match="unknown key.*config.sample;"):
        command.read_config(path)


@pytest.mark.parametrize("name", ["transfer_gfn2xtb", "transfer_gfn2xtb_scratch", "transfer_mbpol_full"])
def test_shipped_configs_read(name):
    from pathlib import Path

    cfg = command.read_config(Path(__file__).parents[1] / "configs" / f"{name}.yaml")
    assert cfg.training.energy_weight == 1.0 and cfg.training.early_stopping_patience in (30, 50)


def test_transfer_study_runs_each_arm_once(surfaces):
    from hydronet_nb.transfer import studies

    config(surfaces, "study-base", "new", surfaces / "start-model")
    path = surfaces / "study.yaml"
    path.write_text("base: study-base.yaml\nval: 4\nepochs: {5: 3, 20: 2}\n"
                    "data_efficiency: {sizes: [5, 20], seeds: [2, 1]}\n"
                    "strategies: {sizes: [10], use: {full: {}, frozen: {freeze: [embedding, interactions]}}}\n"
                    "output: study-out\n")
    cfg = studies.read_study_config(path)
    assert cfg.max_epochs(10, 99) == 2 or cfg.max_epochs(10, 99) == 3
    first = studies.StudyRunner(cfg, log=lambda *a: None).run()
    again = studies.StudyRunner(cfg, log=lambda *a: None).run()
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == (2 + 1) * 2 + 2
    assert set(first.query("study == 'data_efficiency'").start) == {"start-model", "scratch"}
    assert first.query("study == 'data_efficiency'").epochs.max() <= 3
    assert first["old_mae_per_water"].notna().all()
    card = studies.export_study(cfg, surfaces / "shipped-study", "transfer-study", 1.0)
    assert "summary.csv" in card.read_text()


def test_a_curve_changes_the_training_of_both_starts_and_names_an_unknown_setting(surfaces):
    from hydronet_nb.errors import ConfigError
    from hydronet_nb.transfer import studies

    config(surfaces, "curve-base", "new", surfaces / "start-model")
    path = surfaces / "curve.yaml"
    path.write_text("base: curve-base.yaml\nval: 4\nepochs: {5: 2}\noutput: curve-out\n"
                    "data_efficiency: {sizes: [5], seeds: [1], training: {early_stopping_patience: 7, lr: 1.0e-3}}\n")
    studies.StudyRunner(studies.read_study_config(path), log=lambda *a: None).run()
    for kind in ("pretrained", "scratch"):
        arm = surfaces / "curve-out" / "data_efficiency" / f"{kind}-5-0"
        training = json.loads((arm / "config.json").read_text())["training"]
        assert training["early_stopping_patience"] == 7 and training["lr"] == pytest.approx(1e-3)
        assert training["epochs"] == 2  # the study's own cap still applies
    path.write_text(path.read_text().replace("lr: 1.0e-3", "learning_rate: 1.0e-3"))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) data_efficiency.training.learning_rate;"):
        studies.read_study_config(path)


def test_linear_rescaling_recovers_a_scale_and_an_offset_per_water():
    """A surface that is exactly ``2 E_model + 0.5 N`` is fitted exactly; the table's errors are per water."""
    from hydronet_nb.data.clusters import ClusterSet
    from hydronet_nb.evaluate.predict import energies
    from hydronet_nb.model.schnet import build_schnet
    from hydronet_nb.transfer import analysis

    torch.manual_seed(0)
    model = build_schnet(TINY_MODEL).eval()
    data = ClusterSet.from_clusters(clusters(copies=2, sizes=range(3, 9)))
    e_model = energies(model, data)
    moved = ClusterSet.from_clusters([dataclasses.replace(c, energy=2.0 * e + 0.5 * c.n_water)
                                      for c, e in zip(data.clusters(), e_model)])
    fit = analysis.linear_rescaling(model, moved[:8], {"rest": moved[8:]})
    assert fit["a"] == pytest.approx(2.0, abs=1e-4) and fit["b"] == pytest.approx(0.5, abs=1e-3)
    assert fit["rest"]["mae"] < 1e-4
    own_set = ClusterSet.from_clusters([dataclasses.replace(c, energy=e) for c, e in zip(data.clusters(), e_model)])
    table = analysis.error_table(analysis.predictions({"m": model}, {"moved": moved, "own": own_set}))
    own = table.loc[("m", "own")]
    assert own["mae_per_water"] < 1e-5 and own["clusters"] == len(data)
    expected = np.abs((e_model - moved.energy) / data.n_water)
    assert table.loc[("m", "moved"), "mae_per_water"] == pytest.approx(expected.mean(), rel=1e-5)


def test_curve_means_and_where_scratch_catches_up():
    from hydronet_nb.transfer import analysis

    rows = [("pretrained", 50, 0.04), ("pretrained", 50, 0.06), ("scratch", 50, 0.20), ("scratch", 50, 0.30),
            ("pretrained", 500, 0.02), ("scratch", 500, 0.06), ("pretrained", 4000, 0.01), ("scratch", 4000, 0.045)]
    summary = pd.DataFrame([{"study": "data_efficiency", "start": s, "n_train": n, "mae_per_water": m}
                            for s, n, m in rows])
    means = analysis.curve_means(summary)
    assert means.loc[50, "pretrained mean"] == pytest.approx(0.05)
    assert means.loc[50, "ratio"] == pytest.approx(5.0)
    assert means.loc[50, "scratch seeds"] == 2 and means.loc[50, "scratch max"] == pytest.approx(0.30)
    assert analysis.scratch_catch_up(means, 50) == 4000  # 0.045 <= 0.05 first at 4,000
    assert analysis.scratch_catch_up(means, 500) is None  # never reaches 0.02
    with pytest.raises(ValueError, match="250 samples is not in the study"):
        analysis.scratch_catch_up(means, 250)
    with pytest.raises(ValueError, match="no 'published' arms"):
        analysis.curve_means(summary, "published")
