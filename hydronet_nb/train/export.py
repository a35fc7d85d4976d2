"""``hydronet-nb pretrain --export DIR``: the best epoch of a run as a folder of weights, tables and a model card.

What the folder holds is described in :mod:`hydronet_nb.model.shipped`, which loads it back.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.cards import MODEL_CARD, read_card, write_card
from ..device import describe_hardware
from ..evaluate.metrics import error_summary, errors_by_size
from ..evaluate.predict import prediction_table
from ..model.shipped import CONFIG, ERRORS, EXTRAPOLATION_SET, METRICS, TARGET_MAE_PER_WATER, TEST_SET, WEIGHTS, model_config
from ..model.weights import load_schnet
from ..utils.files import atomic_write_json, atomic_write_text, cached_sha256_of, sha256_of
from .checkpoints import BEST, LOG, load_checkpoint, save_checkpoint

TITLE = "The book's pretrained SchNet"
DESCRIPTION = ("SchNet with the paper's hyperparameters, pretrained on the book's embedded minima (AMOEBA2018, W3-W25; "
               "`hydronet_nb/resources/embedded/DATASET.md`). Energies in kcal/mol relative to relaxed monomers; errors per water.")


#: the last epochs over which a run must have settled (validation MAE range within SETTLED_FRACTION of its mean)
SETTLED_EPOCHS, SETTLED_FRACTION = 20, 0.2


def settledness(metrics: pd.DataFrame, epochs: int = SETTLED_EPOCHS) -> dict:
    """Range and mean of the validation MAE per water over the last ``epochs`` epochs, and their ratio."""
    tail = metrics["val_mae_per_water"].tail(epochs)
    spread = float(tail.max() - tail.min())
    return {"epochs": int(len(tail)), "mean": float(tail.mean()), "range": spread,
            "range_over_mean": spread / float(tail.mean()), "settled": spread < SETTLED_FRACTION * float(tail.mean())}


def threads_per_epoch(metrics: pd.DataFrame) -> list[dict]:
    """Runs of epochs with the same torch thread count and device: ``[{first, last, threads, device}]``
    (``threads`` None for epochs logged before the trainer recorded it)."""
    out: list[dict] = []
    for row in metrics.itertuples():
        threads = getattr(row, "threads", None)
        threads = None if threads is None or pd.isna(threads) else int(threads)
        device = getattr(row, "device", None)
        device = None if device is None or (isinstance(device, float) and pd.isna(device)) else str(device)
        if out and out[-1]["threads"] == threads and out[-1]["device"] == device:
            out[-1]["last"] = int(row.epoch)
        else:
            out.append({"first": int(row.epoch), "last": int(row.epoch), "threads": threads, "device": device})
    return out


def card_facts(*, config: dict, command: str, data_files, metrics: pd.DataFrame, errors: pd.DataFrame, best_epoch: int,
               hardware: str, n_parameters: int, weights_bytes: int, weights_sha256: str | None = None,
               previous: dict | None = None) -> dict:
    """The facts of a model card (``MODEL.json``), from the run's log and the exported model's errors.

    ``previous``: the card of the checkpoint this export replaces (its numbers are shown beside the new ones).
    """
    summary, by_size = error_summary(errors), errors_by_size(errors)
    return {
        "title": TITLE, "description": DESCRIPTION, "command": command, "config": config,
        "data_files": [{"name": Path(p).name, "sha256": cached_sha256_of(p)} for p in data_files],
        "epochs_run": len(metrics), "best_epoch": int(best_epoch),
        "train_seconds": float(metrics["epoch_time_s"].sum()),
        "median_clusters_per_s": float(metrics["clusters_per_s"].median()),
        "final_lr": float(metrics["lr"].iloc[-1]), "hardware": hardware,
        "n_parameters": int(n_parameters), "weights_bytes": int(weights_bytes), "weights_sha256": weights_sha256,
        "target_mae_per_water": TARGET_MAE_PER_WATER, "test_set": TEST_SET,
        "metrics": [{"set": name, "clusters": int(r.clusters), "mae_per_water": float(r.mae_per_water),
                     "rmse_per_water": float(r.rmse_per_water)} for name, r in summary.iterrows()],
        "by_size": [{"n_water": int(r.n_water), "set": r.set, "clusters": int(r.clusters),
                     "mae_per_water": float(r.mae_per_water)} for r in by_size.itertuples()],
        "files": {"metrics": METRICS, "errors": ERRORS},
        "settledness": settledness(metrics), "threads_per_epoch": threads_per_epoch(metrics),
        "previous": None if previous is None else {
            "epochs_run": previous.get("epochs_run"), "best_epoch": previous.get("best_epoch"),
            "train_seconds": previous.get("train_seconds"), "hardware": previous.get("hardware"),
            "median_clusters_per_s": previous.get("median_clusters_per_s"), "metrics": previous.get("metrics", [])},
    }


def export(run_dir: str | Path, dest: str | Path, *, config: dict, data_files: list[Path], test, extrapolation,
           command: str) -> Path:
    """Write the exported folder ``dest`` from the finished run in ``run_dir``; returns the card's path (``MODEL.md``).

    ``config`` is the resolved pretraining config, ``data_files`` the files the run read (their
    sha256 go into the card), ``test`` and ``extrapolation`` the clusters to report errors on
    (ClusterSets, lists, or None).
    """
    run_dir, dest = Path(run_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:  # the card of what this export replaces, to show its numbers beside the new ones
        previous = read_card(dest, MODEL_CARD)
    except FileNotFoundError:
        previous = None
    best = load_checkpoint(run_dir / BEST)
    save_checkpoint(dest / WEIGHTS, {k: v.contiguous() for k, v in best["model"].items()})
    atomic_write_json(dest / CONFIG, config)
    metrics = pd.read_json(run_dir / LOG, lines=True)
    atomic_write_text(dest / METRICS, metrics.to_csv(index=False, float_format="%.6g"))
    model = load_schnet(dest / WEIGHTS, model_config(dest))
    table = pd.concat([prediction_table(model, clusters, name) for name, clusters in
                       ((TEST_SET, test), (EXTRAPOLATION_SET, extrapolation)) if clusters is not None and len(clusters)],
                      ignore_index=True)
    atomic_write_text(dest / ERRORS, table.to_csv(index=False, float_format="%.6f"))
    facts = card_facts(config=config, command=command, data_files=list(dict.fromkeys(map(Path, data_files))),
                       metrics=metrics, errors=table, best_epoch=best["epoch"], hardware=describe_hardware(),
                       # the state_dict lists the shared filter networks twice: count the parameters
                       n_parameters=sum(p.numel() for p in model.parameters()),
                       weights_bytes=(dest / WEIGHTS).stat().st_size, weights_sha256=sha256_of(dest / WEIGHTS),
                       previous=previous)
    return write_card(dest, MODEL_CARD, facts)
