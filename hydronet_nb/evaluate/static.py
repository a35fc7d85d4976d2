"""Static errors of models on test sets: the paper's Table 1 and Figure 2 (left), per cluster and per set.

A set with stored forces (non-minima) is scored on energies and forces (:func:`~hydronet_nb.evaluate.metrics.cluster_metrics`).
A set of minima has no stored forces: its reference forces are zero to the minimizer's tolerance (the
embedded minima: RMS force below 0.01 kcal/mol/Angstrom), so ``force_mae`` and ``f_mag`` are those of
the predicted forces against zero, and ``f_ang`` is undefined there (NaN, not the 0.5 of a random
direction).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import cluster_metrics, set_metrics
from .predict import predict

#: the columns of a static summary, in the paper's order
SUMMARY_COLUMNS = ["clusters", "mae_per_water", "rmse_per_water", "force_mae", "f_mag", "f_ang"]


def cluster_errors(model, data, name: str, batch_size: int = 64) -> pd.DataFrame:
    """One row per cluster of ``data`` (a ClusterSet): ``set, n_water, error_per_water, force_mae, f_mag, f_ang``."""
    table, forces = predict(model, data, batch_size=batch_size)
    f_pred = np.concatenate(forces) if forces else np.zeros((0, 3))
    f_ref = data.forces if data.has_forces else np.zeros_like(f_pred)
    out = cluster_metrics(table["energy"], data.energy, data.n_water, f_pred, f_ref, data.n_atoms)
    if not data.has_forces:
        out["f_ang"] = np.nan
    return out.assign(set=name)


def static_errors(models: dict, sets: dict, batch_size: int = 64) -> pd.DataFrame:
    """:func:`cluster_errors` of every model (name -> module) on every set (name -> ClusterSet), with a ``model`` column."""
    tables = [cluster_errors(model, data, set_name, batch_size).assign(model=model_name)
              for model_name, model in models.items() for set_name, data in sets.items() if len(data)]
    return pd.concat(tables, ignore_index=True)


def static_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per model and set: clusters, E/water MAE and RMSE, force MAE, mean |F_mag|, mean F_ang."""
    by = [c for c in ("model", "set") if c in errors]
    summary = set_metrics(errors, by=by)
    return summary[[c for c in SUMMARY_COLUMNS if c in summary]]


def force_components(models: dict, data, batch_size: int = 64) -> pd.DataFrame:
    """Every force component of ``data`` (a set with stored forces): ``model, reference, predicted`` (kcal/mol/A)."""
    if not data.has_forces:
        raise ValueError(f"{data.name}: has no stored forces to compare with")
    reference = np.asarray(data.forces, dtype=float).ravel()
    tables = []
    for name, model in models.items():
        _, forces = predict(model, data, batch_size=batch_size)
        tables.append(pd.DataFrame({"model": name, "reference": reference,
                                    "predicted": np.concatenate(forces).astype(float).ravel()}))
    return pd.concat(tables, ignore_index=True)
