"""``hydronet-nb finetune --export DIR``: the best epoch of a finetuning run as a shipped-model folder.

The folder has the layout of :mod:`hydronet_nb.model.shipped` (``schnet.pt``, ``config.json``,
``metrics.csv``, ``errors.csv``, ``MODEL.json`` rendered as ``MODEL.md``) plus the active-sampling
logs ``additions.csv`` and ``rounds.csv``. ``errors.csv`` has one row per test cluster of the
non-minima and, when given, of the minima: ``set, n_water, error_per_water, force_mae, f_mag, f_ang``
(minima: forces against zero, ``f_ang`` empty).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ..data.cards import MODEL_CARD, read_card, write_card
from ..device import describe_hardware
from ..evaluate.metrics import errors_by_size, set_metrics
from ..evaluate.static import static_errors
from ..model.shipped import CONFIG, ERRORS, METRICS, WEIGHTS, model_config
from ..model.weights import load_schnet
from ..train.checkpoints import BEST, LOG, load_checkpoint, save_checkpoint
from ..train.export import settledness, threads_per_epoch
from ..utils.files import atomic_write_json, atomic_write_text, cached_sha256_of, sha256_of
from .rounds import ADDITIONS, ROUNDS

NONMIN_TEST, MINIMA_TEST = "test non-minima", "test minima"


def error_table(model, sets: dict) -> pd.DataFrame:
    """Per-cluster errors of ``model`` on each named ClusterSet of ``sets`` (:mod:`hydronet_nb.evaluate.static`)."""
    return static_errors({"model": model}, {k: v for k, v in sets.items() if v is not None}).drop(columns="model")


def export(run_dir: str | Path, dest: str | Path, *, config: dict, model_cfg: dict, data_files, sets: dict,
           command: str, title: str, description: str, test_set: str = NONMIN_TEST) -> Path:
    """Write ``dest`` from the finished run in ``run_dir``; returns the card's path (``MODEL.md``)."""
    run_dir, dest = Path(run_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        previous = read_card(dest, MODEL_CARD)
    except FileNotFoundError:
        previous = None
    best = load_checkpoint(run_dir / BEST)
    save_checkpoint(dest / WEIGHTS, {k: v.contiguous() for k, v in best["model"].items()})
    atomic_write_json(dest / CONFIG, {**config, "model": model_cfg})
    metrics = pd.read_json(run_dir / LOG, lines=True)
    atomic_write_text(dest / METRICS, metrics.to_csv(index=False, float_format="%.6g"))
    for name in (ADDITIONS, ROUNDS):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, dest / name)
    model = load_schnet(dest / WEIGHTS, model_config(dest))
    errors = error_table(model, sets)
    atomic_write_text(dest / ERRORS, errors.to_csv(index=False, float_format="%.6f"))
    summary = set_metrics(errors)
    additions = pd.read_csv(dest / ADDITIONS) if (dest / ADDITIONS).is_file() else pd.DataFrame(columns=["round"])
    facts = {
        "title": title, "description": description, "command": command, "config": config,
        "data_files": [{"name": Path(p).name, "sha256": cached_sha256_of(p)} for p in dict.fromkeys(map(Path, data_files))],
        "epochs_run": len(metrics), "best_epoch": int(best["epoch"]),
        "train_seconds": float(metrics["epoch_time_s"].sum()),
        "median_clusters_per_s": float(metrics["clusters_per_s"].median()),
        "final_lr": float(metrics["lr"].iloc[-1]), "hardware": describe_hardware(),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "weights_bytes": int((dest / WEIGHTS).stat().st_size), "weights_sha256": sha256_of(dest / WEIGHTS),
        "target_mae_per_water": None, "test_set": test_set,
        "metrics": [{"set": name, **{k: (int(v) if k == "clusters" else float(v)) for k, v in row.items() if pd.notna(v)}}
                    for name, row in summary.iterrows()],
        "by_size": [{"n_water": int(r.n_water), "set": r.set, "clusters": int(r.clusters),
                     "mae_per_water": float(r.mae_per_water)} for r in errors_by_size(errors).itertuples()],
        "files": {"metrics": METRICS, "errors": ERRORS},
        "active": {"added": int(len(additions)), "rounds": int(additions["round"].max()) if len(additions) else 0},
        "settledness": settledness(metrics), "threads_per_epoch": threads_per_epoch(metrics),
        "previous": None if previous is None else {k: previous.get(k) for k in (
            "epochs_run", "best_epoch", "train_seconds", "hardware", "median_clusters_per_s", "metrics")},
    }
    return write_card(dest, MODEL_CARD, facts)
