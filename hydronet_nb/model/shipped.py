"""The book's own pretrained SchNet: exported from a ``hydronet-nb pretrain`` run, shipped in the package.

``hydronet-nb pretrain --config FILE --export DIR`` trains (or continues) as configured, then
writes into ``DIR`` (:func:`hydronet_nb.train.export.export`)

* ``schnet.pt`` -- the best epoch's weights, a plain state_dict in PyG's key names;
* ``config.json`` -- the resolved pretraining config (data, model, training);
* ``metrics.csv`` -- the per-epoch log (the learning curve);
* ``errors.csv`` -- one row per test and extrapolation cluster: size, reference, prediction;
* ``MODEL.json`` -- the model card's facts: command, data checksums, the weights' sha256 (``weights_sha256``),
  epochs, time, hardware, metrics; ``MODEL.md`` is its rendering for people (:mod:`hydronet_nb.data.cards`).

:func:`load_pretrained` refuses weights whose sha256 is not the one their card records (other weights under a
card would carry its numbers), naming both hashes.

The package ships one such folder, :data:`SHIPPED_DIR` (``hydronet_nb/resources/models/pretrained``),
made from the embedded minima by ``configs/pretrain_embedded.yaml``; :func:`load_pretrained` (and
``--model pretrained`` on the command line) loads it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..data.cards import MODEL_CARD, read_card
from ..utils.resources import PRETRAINED_DIR as SHIPPED_DIR
from ..utils.files import cached_sha256_of
from .schnet import SchNetConfig
from .weights import CheckpointError, load_schnet

WEIGHTS, METRICS, ERRORS, CONFIG = "schnet.pt", "metrics.csv", "errors.csv", "config.json"
#: the card's key for the sha256 of ``schnet.pt``
WEIGHTS_SHA256 = "weights_sha256"
#: the model card: ``MODEL.json`` (facts) and ``MODEL.md`` (their rendering)
CARD, CARD_DATA = f"{MODEL_CARD}.md", f"{MODEL_CARD}.json"
#: the names of the two sets an export reports errors on (the ``set`` column of ``errors.csv``)
TEST_SET, EXTRAPOLATION_SET = "test W3-W25", "extrapolation"
#: the card's target: test MAE per water on the embedded W3-W25 test split (kcal/mol)
TARGET_MAE_PER_WATER = 0.03


def model_config(folder: str | Path = SHIPPED_DIR) -> SchNetConfig:
    """The :class:`~hydronet_nb.model.schnet.SchNetConfig` an exported folder was trained with."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an exported checkpoint folder (no {CONFIG}); "
                                "make one with `hydronet-nb pretrain --config FILE --export DIR`")
    return SchNetConfig(**json.loads(path.read_text())["model"])


def verify_weights(folder: str | Path = SHIPPED_DIR) -> None:
    """Raise :class:`~hydronet_nb.model.weights.CheckpointError` unless the folder's ``schnet.pt`` has the sha256
    its card records (a folder whose card records none, exported before cards did, is not checked)."""
    folder = Path(folder)
    path = folder / CARD_DATA
    expected = json.loads(path.read_text()).get(WEIGHTS_SHA256) if path.is_file() else None
    if expected and (folder / WEIGHTS).is_file():
        found = cached_sha256_of(folder / WEIGHTS)
        if found != expected:
            raise CheckpointError(
                f"{folder / WEIGHTS}: sha256 {found} is not the {expected} that {path} records: these are not the "
                "weights the card describes (restore the file, or export the folder again)")


def load_pretrained(folder: str | Path = SHIPPED_DIR, fast: bool = True):
    """The SchNet of an exported folder (default: the shipped one), in eval mode; its weights must be its card's."""
    verify_weights(folder)
    return load_schnet(Path(folder) / WEIGHTS, model_config(folder), fast=fast)


def learning_curve(folder: str | Path = SHIPPED_DIR) -> pd.DataFrame:
    """The per-epoch metrics of the run behind an exported folder."""
    return pd.read_csv(Path(folder) / METRICS)


def errors(folder: str | Path = SHIPPED_DIR) -> pd.DataFrame:
    """Test and extrapolation predictions of an exported folder: ``set, n_water, reference, predicted, error_per_water``."""
    return pd.read_csv(Path(folder) / ERRORS)


def card(folder: str | Path = SHIPPED_DIR) -> dict:
    """The model card's facts (``MODEL.json``) of an exported folder."""
    return read_card(folder, MODEL_CARD)
