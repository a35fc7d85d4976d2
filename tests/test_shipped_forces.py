"""The shipped force models (``finetuned``, ``scratch-forces``) and chapter 3's study tables, as a user gets them."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hydronet_nb import load_model
from hydronet_nb.data import datasets as D
from hydronet_nb.data.splits import sample_rows
from hydronet_nb.evaluate.static import static_errors, static_summary
from hydronet_nb.model import shipped
from hydronet_nb.model.catalog import shipped_folder

FORCE_MODELS = ("finetuned", "scratch-forces")


@pytest.fixture(scope="module")
def test_nonmin():
    """Three test non-minima of each size (69 clusters): the targets must hold on any fair sample."""
    data = D.load_dataset("nonmin")
    test = data.subset(data.split["test_idx"])
    return test[sample_rows(test.n_water, 3, seed=1)]


@pytest.fixture(scope="module")
def summary(test_nonmin):
    models = {name: load_model(name) for name in ("pretrained", *FORCE_MODELS)}
    return static_summary(static_errors(models, {"test": test_nonmin})).xs("test", level="set")


def test_finetuned_beats_pretrained_and_scratch_on_the_test_split(summary):
    fine, scratch, pre = (summary.loc[name] for name in ("finetuned", "scratch-forces", "pretrained"))
    assert 3 * fine["force_mae"] <= pre["force_mae"]  # the target: at least 3x
    assert fine["force_mae"] < scratch["force_mae"] and fine["f_ang"] < scratch["f_ang"]
    assert fine["mae_per_water"] < scratch["mae_per_water"]


@pytest.mark.parametrize("name", FORCE_MODELS)
def test_card_is_what_the_weights_do(name, test_nonmin):
    """The card's per-cluster test errors are reproduced by the shipped weights, and its summary is their mean."""
    folder = shipped_folder(name)
    card = shipped.card(folder)
    errors = pd.read_csv(folder / "errors.csv")
    nonmin = errors[errors["set"] == "test non-minima"].reset_index(drop=True)
    data = D.load_dataset("nonmin")
    rows = np.arange(0, len(nonmin), 50)  # every 50th test cluster, in the card's order
    again = static_errors({name: load_model(name)}, {"x": data.subset(data.split["test_idx"][rows])})
    for column in ("error_per_water", "force_mae", "f_ang"):
        np.testing.assert_allclose(again[column], nonmin.loc[rows, column], rtol=1e-4, atol=1e-5)
    recorded = next(m for m in card["metrics"] if m["set"] == "test non-minima")
    assert recorded["clusters"] == len(nonmin) == len(data.split["test_idx"])
    assert recorded["force_mae"] == pytest.approx(nonmin["force_mae"].mean(), rel=1e-5)
    assert (folder / "schnet.pt").stat().st_size <= 1_000_000
    assert card["command"].startswith("hydronet-nb finetune --config configs/finetune_forces")
    assert card["command"].endswith(f"--export hydronet_nb/resources/models/{name}")
    assert card["active"]["added"] == len(pd.read_csv(folder / "additions.csv")) > 0


def test_models_command_lists_the_force_models():
    out = subprocess.run([sys.executable, "-m", "hydronet_nb", "models", "--json"], capture_output=True, text=True,
                         check=True).stdout
    listed = {m["name"]: m for m in json.loads(out)}
    assert {"pretrained", *FORCE_MODELS} <= set(listed)
    for name in FORCE_MODELS:
        assert listed[name]["path"].endswith(f"{name}/schnet.pt")
        assert "nonmin_data.hdf5" in listed[name]["trained_on"]
