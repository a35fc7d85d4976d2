"""Hostile models: weights that are not their card's, weights holding NaN or inf, mistyped model names."""
import json
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hydronet_nb.cli import main
from hydronet_nb.data.cards import render_model_card
from hydronet_nb.model.catalog import MODELS_DIR, shipped_folder, shipped_models, shipped_names
from hydronet_nb.model.loading import load_model, model_names
from hydronet_nb.model.shipped import WEIGHTS_SHA256
from hydronet_nb.model.weights import CheckpointError
from hydronet_nb.utils.files import sha256_of


def test_every_shipped_card_holds_its_weights_sha256_and_renders_it():
    assert len(shipped_names()) >= 6
    for name in shipped_names():
        folder = MODELS_DIR / name
        card = json.loads((folder / "MODEL.json").read_text())
        assert card[WEIGHTS_SHA256] == sha256_of(folder / "schnet.pt"), name
        assert render_model_card(card) == (folder / "MODEL.md").read_text(), f"{name}: MODEL.md is not its card's"
        assert f"sha256 `{card[WEIGHTS_SHA256]}`" in (folder / "MODEL.md").read_text()
    assert all(m["sha256"] == m["card_sha256"] for m in shipped_models())


@pytest.fixture
def swapped(tmp_path):
    """A copy of the shipped pretrained folder holding the finetuned model's weights."""
    folder = tmp_path / "pretrained-copy"
    shutil.copytree(shipped_folder("pretrained"), folder)
    shutil.copyfile(shipped_folder("finetuned") / "schnet.pt", folder / "schnet.pt")
    return folder


def test_other_weights_under_a_card_are_refused_naming_both_hashes(swapped, capsys):
    card = json.loads((swapped / "MODEL.json").read_text())[WEIGHTS_SHA256]
    found = sha256_of(swapped / "schnet.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(swapped)
    assert card in str(err.value) and found in str(err.value) and "MODEL.json" in str(err.value)
    (tmp_xyz := swapped / "w.xyz").write_text("3\n\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    assert main(["predict", "--model", str(swapped), str(tmp_xyz)]) == 2
    assert f"sha256 {found} is not the {card}" in capsys.readouterr().err


def test_a_card_without_the_field_is_not_checked(swapped):
    card = json.loads((swapped / "MODEL.json").read_text())
    del card[WEIGHTS_SHA256]
    (swapped / "MODEL.json").write_text(json.dumps(card, indent=1) + "\n")
    load_model(swapped)  # exported before cards held the sha256: the architecture check still applies


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.integers(0, 10 ** 6), st.sampled_from([float("nan"), float("inf"), float("-inf")]), st.integers(0, 10 ** 6))
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path_factory, key_index, value, position):
    # cloned: the state_dict lists the shared filter networks under two names
    state = {k: v.clone() for k, v in torch.load(shipped_folder("pretrained") / "schnet.pt", weights_only=True).items()}
    keys = [k for k, v in state.items() if v.is_floating_point() and v.numel()]
    key = keys[key_index % len(keys)]
    state[key].view(-1)[position % state[key].numel()] = value
    path = tmp_path_factory.mktemp("nan") / "bad.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=f"bad.pt: tensor '{key}' holds 1 non-finite value"):
        load_model(path)


@pytest.mark.parametrize("typo, suggested", [("pretraind", "pretrained"), ("finetune", "finetuned"),
                                             ("publishd", "published"), ("scratch-force", "scratch-forces"),
                                             ("Transfer", "transfer")])
def test_a_mistyped_name_gets_the_closest_names(tmp_path, monkeypatch, capsys, typo, suggested):
    monkeypatch.chdir(tmp_path)  # no file or folder of that name here
    with pytest.raises(FileNotFoundError) as err:
        load_model(typo)
    assert f"{typo}: no such checkpoint file, folder or model name" in str(err.value) and f"did you mean '{suggested}'" in str(err.value)
    (tmp_path / "w.xyz").write_text("3\n\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    assert main(["predict", "--model", typo, "w.xyz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"did you mean '{suggested}'" in err
    assert all(name in err for name in model_names())


def test_a_name_far_from_every_model_lists_them_without_a_guess(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load_model("qqqq")
    assert "did you mean" not in str(err.value) and "pretrained" in str(err.value)
    with pytest.raises(KeyError, match="did you mean 'pretrained'"):
        shipped_folder("pretrainde")
