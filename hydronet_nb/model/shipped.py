"""The book's own pretrained SchNet: exported from a ``hydronet-nb pretrain`` run, shipped in the package.

``hydronet-nb pretrain --config FILE --export DIR`` trains (or continues) as configured, then
writes into ``DIR``

* ``schnet.pt`` -- the best epoch's weights, a plain state_dict in PyG's key names;
* ``config.json`` -- the resolved pretraining config (data, model, training);
* ``metrics.csv`` -- the per-epoch log (the learning curve);
* ``errors.csv`` -- one row per test and extrapolation cluster: size, reference, prediction;
* ``MODEL.md`` -- the model card: command, data checksums, epochs, time, hardware, metrics.

The package ships one such folder, :data:`SHIPPED_DIR`, made from the embedded minima by
``configs/pretrain_embedded.yaml``; :func:`load_pretrained` (and ``--model pretrained`` on the
command line) loads it.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

#: the checkpoint shipped with the package
from ..utils.resources import PRETRAINED_DIR as SHIPPED_DIR
WEIGHTS, CARD, METRICS, ERRORS, CONFIG = "schnet.pt", "MODEL.md", "metrics.csv", "errors.csv", "config.json"
#: the names of the two sets an export reports errors on (the ``set`` column of ``errors.csv``)
TEST_SET, EXTRAPOLATION_SET = "test W3-W25", "extrapolation"
#: the card's target: test MAE per water on the embedded W3-W25 test split (kcal/mol)
TARGET_MAE_PER_WATER = 0.03


def model_config(folder: str | Path = SHIPPED_DIR):
    """The :class:`~hydronet_nb.model.schnet.SchNetConfig` an exported folder was trained with."""
    from .schnet import SchNetConfig

    path = Path(folder) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an exported checkpoint folder (no {CONFIG}); "
                                "make one with `hydronet-nb pretrain --config FILE --export DIR`")
    return SchNetConfig(**json.loads(path.read_text())["model"])


def load_pretrained(folder: str | Path = SHIPPED_DIR):
    """The SchNet of an exported folder (default: the shipped one), in eval mode."""
    from .published import load_schnet

    return load_schnet(Path(folder) / WEIGHTS, model_config(folder))


def learning_curve(folder: str | Path = SHIPPED_DIR) -> pd.DataFrame:
    """The per-epoch metrics of the run behind an exported folder."""
    return pd.read_csv(Path(folder) / METRICS)


def errors(folder: str | Path = SHIPPED_DIR) -> pd.DataFrame:
    """Test and extrapolation predictions of an exported folder: ``set, n_water, reference, predicted, error_per_water``."""
    return pd.read_csv(Path(folder) / ERRORS)


def error_summary(table: pd.DataFrame) -> pd.DataFrame:
    """MAE and RMSE per water (kcal/mol) and counts, per ``set`` of an :func:`errors` table."""
    grouped = table.groupby("set", sort=False)["error_per_water"]
    return pd.DataFrame({"clusters": grouped.size(), "mae_per_water": grouped.apply(lambda e: e.abs().mean()),
                         "rmse_per_water": grouped.apply(lambda e: float(np.sqrt((e ** 2).mean())))})


def errors_by_size(table: pd.DataFrame) -> pd.DataFrame:
    """MAE per water (kcal/mol) and counts per cluster size, with the set each size belongs to."""
    grouped = table.groupby(["set", "n_water"], sort=False)["error_per_water"]
    return (pd.DataFrame({"clusters": grouped.size(), "mae_per_water": grouped.apply(lambda e: e.abs().mean())})
            .reset_index().sort_values("n_water", kind="stable").reset_index(drop=True))


def hardware() -> str:
    """This machine in one line: CPU, cores, torch threads, GPU if any."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:  # the model name is only in /proc/cpuinfo on Linux
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}; torch {torch.__version__}"


def prediction_table(model, clusters, name: str) -> pd.DataFrame:
    """``set, n_water, reference, predicted, error_per_water`` of ``model`` on ``clusters`` (kcal/mol), ``set`` = ``name``."""
    from ..evaluate.predict import predict

    table, _ = predict(model, clusters)
    return pd.DataFrame({"set": name, "n_water": table["n_water"], "reference": table["reference"],
                         "predicted": table["energy"], "error_per_water": table["error_per_water"]})


def export(run_dir: str | Path, dest: str | Path, *, config: dict, data_files: list[Path], test: list,
           extrapolation: list, command: str) -> Path:
    """Write the exported folder ``dest`` from the finished run in ``run_dir``; returns the card's path.

    ``config`` is the resolved pretraining config, ``data_files`` the files the run read (their
    sha256 go into the card), ``test`` and ``extrapolation`` lists of clusters to report errors on.
    """
    import torch

    from ..train.checkpoints import load_checkpoint, save_checkpoint
    from .published import load_schnet
    from ..io.reference_files import sha256_of

    run_dir, dest = Path(run_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    best = load_checkpoint(run_dir / "best.pt")
    save_checkpoint(dest / WEIGHTS, {k: v.contiguous() for k, v in best["model"].items()})
    (dest / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    metrics = pd.read_json(run_dir / "metrics.jsonl", lines=True)
    metrics.to_csv(dest / METRICS, index=False, float_format="%.6g")
    model = load_schnet(dest / WEIGHTS, model_config(dest))
    table = pd.concat([prediction_table(model, clusters, name) for name, clusters in
                       ((TEST_SET, test), (EXTRAPOLATION_SET, extrapolation)) if clusters], ignore_index=True)
    table.to_csv(dest / ERRORS, index=False, float_format="%.6f")
    summary = error_summary(table)
    by_size = errors_by_size(table)
    test_mae = float(summary.loc[TEST_SET, "mae_per_water"]) if TEST_SET in summary.index else float("nan")
    verdict = (f"met ({test_mae:.4f} <= {TARGET_MAE_PER_WATER})" if test_mae <= TARGET_MAE_PER_WATER
               else f"not met: {test_mae:.4f} is {test_mae / TARGET_MAE_PER_WATER:.1f}x the target {TARGET_MAE_PER_WATER}")
    train_seconds = float(metrics["epoch_time_s"].sum())
    n_params = sum(p.numel() for p in model.parameters())  # the state_dict lists the shared filter networks twice
    lines = [
        "# The book's pretrained SchNet", "",
        "SchNet with the paper's hyperparameters, pretrained on the book's embedded minima (AMOEBA2018, W3-W25; "
        "`hydronet_nb/resources/embedded/DATASET.md`). Energies in kcal/mol relative to relaxed monomers; errors per water.",
        "", "## Command", "", "```", command, "```", "",
        "Rerunning it continues the run from its last checkpoint (the run folder is `output` in the config).", "",
        "## Config", "", "```json", json.dumps(config, indent=1), "```", "",
        "## Data", "", "| file | sha256 |", "|---|---|",
        *[f"| {Path(p).name} | `{sha256_of(p)}` |" for p in data_files], "",
        "## Training", "",
        f"- epochs run: {len(metrics)}; best epoch (lowest validation loss): {int(best['epoch'])}",
        f"- training time: {train_seconds / 60:.1f} min (sum of the epochs' training passes; "
        f"{metrics['clusters_per_s'].median():.0f} clusters/s median)",
        f"- final learning rate: {metrics['lr'].iloc[-1]:.3g}",
        f"- hardware: {hardware()}",
        f"- parameters: {n_params:,}; weights file {(dest / WEIGHTS).stat().st_size:,} bytes", "",
        "## Metrics", "",
        f"Target: test MAE per water at most {TARGET_MAE_PER_WATER} kcal/mol on the W3-W25 test split: **{verdict}**.", "",
        "| set | clusters | MAE per water | RMSE per water |", "|---|---|---|---|",
        *[f"| {name} | {int(r.clusters)} | {r.mae_per_water:.4f} | {r.rmse_per_water:.4f} |" for name, r in summary.iterrows()],
        "", "Per size (MAE per water, kcal/mol):", "", "| waters | set | clusters | MAE per water |", "|---|---|---|---|",
        *[f"| {int(r.n_water)} | {r.set} | {int(r.clusters)} | {r.mae_per_water:.4f} |" for r in by_size.itertuples()],
        "", f"The learning curve is `{METRICS}` (one row per epoch); `{ERRORS}` holds every test prediction.", "",
    ]
    card = dest / CARD
    tmp = card.with_name(f".{CARD}.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(card)
    return card
