"""Error metrics: energies per water (the paper's unit: MAE, RMSE, per set and per size) and forces
(component MAE, ``F_mag`` and ``F_ang``, per cluster and per set).

The tables come from :func:`hydronet_nb.evaluate.predict.prediction_table` (or an exported
folder's ``errors.csv``): one row per cluster with ``set``, ``n_water`` and ``error_per_water``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def mae(errors) -> float:
    """Mean absolute error."""
    return float(np.abs(np.asarray(errors, dtype=float)).mean())


def rmse(errors) -> float:
    """Root-mean-square error."""
    return float(np.sqrt(np.square(np.asarray(errors, dtype=float)).mean()))


def error_summary(table: pd.DataFrame) -> pd.DataFrame:
    """MAE and RMSE per water (kcal/mol) and counts, per ``set`` of a prediction table."""
    grouped = table.groupby("set", sort=False)["error_per_water"]
    return pd.DataFrame({"clusters": grouped.size(), "mae_per_water": grouped.apply(mae),
                         "rmse_per_water": grouped.apply(rmse)})


def errors_by_size(table: pd.DataFrame) -> pd.DataFrame:
    """MAE per water (kcal/mol) and counts per cluster size, with the set each size belongs to."""
    grouped = table.groupby(["set", "n_water"], sort=False)["error_per_water"]
    return (pd.DataFrame({"clusters": grouped.size(), "mae_per_water": grouped.apply(mae)})
            .reset_index().sort_values("n_water", kind="stable").reset_index(drop=True))


def per_size_mean_baseline(train_energy_per_water, train_size, test_energy_per_water, test_size) -> float:
    """MAE per water of predicting each test cluster by the mean energy per water of its size in training."""
    means = pd.Series(np.asarray(train_energy_per_water)).groupby(np.asarray(train_size)).mean()
    return mae(np.asarray(test_energy_per_water) - means.loc[np.asarray(test_size)].to_numpy())


def per_cluster_mean(per_atom, n_atoms) -> np.ndarray:
    """The mean of ``per_atom`` values over each cluster's atoms (clusters stored one after another).

    Slices by atom counts: the paper's released code sliced per-atom arrays with water counts.
    """
    per_atom, n_atoms = np.asarray(per_atom, dtype=float), np.asarray(n_atoms, dtype=np.int64)
    if per_atom.shape[0] != n_atoms.sum():
        raise ValueError(f"{per_atom.shape[0]} per-atom values for clusters of {n_atoms.sum()} atoms in all")
    if (n_atoms <= 0).any():
        raise ValueError("every cluster needs at least one atom")
    starts = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    return np.add.reduceat(per_atom, starts, axis=0) / n_atoms


# --- forces (chapter 3) ------------------------------------------------------------------------------

#: below this length (kcal/mol/A) a force vector has no direction; its angle error counts as 0.5
ZERO_FORCE = 1e-8


def force_angle_error(f_pred, f_ref) -> np.ndarray:
    """``F_ang = arccos(unit(F_pred) . unit(F_ref)) / pi`` per atom, in [0, 1].

    The cosine is clamped to [-1, 1]; where either vector is shorter than :data:`ZERO_FORCE` the
    direction is undefined and the error is 0.5, the mean over random directions.
    """
    a, b = np.asarray(f_pred, dtype=float), np.asarray(f_ref, dtype=float)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    defined = (na > ZERO_FORCE) & (nb > ZERO_FORCE)
    cos = np.einsum("ij,ij->i", a, b) / np.where(defined, na * nb, 1.0)
    return np.where(defined, np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi, 0.5)


def force_magnitude_error(f_pred, f_ref) -> np.ndarray:
    """``F_mag = |F_pred| - |F_ref|`` per atom (kcal/mol/A)."""
    return np.linalg.norm(np.asarray(f_pred, dtype=float), axis=-1) - np.linalg.norm(np.asarray(f_ref, dtype=float), axis=-1)


def cluster_metrics(e_pred, e_ref, n_water, f_pred=None, f_ref=None, n_atoms=None) -> pd.DataFrame:
    """One row per cluster: ``n_water``, ``error_per_water`` and, with forces, ``force_mae`` (mean
    |component error|), ``f_mag`` (mean |F_mag|) and ``f_ang`` (mean F_ang) over its atoms."""
    n_water = np.asarray(n_water)
    table = pd.DataFrame({"n_water": n_water,
                          "error_per_water": (np.asarray(e_pred, float) - np.asarray(e_ref, float)) / n_water})
    if f_pred is not None:
        f_pred, f_ref = np.asarray(f_pred, float), np.asarray(f_ref, float)
        table["force_mae"] = per_cluster_mean(np.abs(f_pred - f_ref).mean(axis=1), n_atoms)
        table["f_mag"] = per_cluster_mean(np.abs(force_magnitude_error(f_pred, f_ref)), n_atoms)
        table["f_ang"] = per_cluster_mean(force_angle_error(f_pred, f_ref), n_atoms)
    return table


def set_metrics(table: pd.DataFrame, by: str | list[str] = "set") -> pd.DataFrame:
    """Per group of a :func:`cluster_metrics` table: clusters, E/water MAE and RMSE, and (with
    forces) the means of ``force_mae``, ``f_mag`` and ``f_ang`` over its clusters."""
    grouped = table.groupby(by, sort=False)
    out = pd.DataFrame({"clusters": grouped.size(),
                        "mae_per_water": grouped["error_per_water"].apply(mae),
                        "rmse_per_water": grouped["error_per_water"].apply(rmse)})
    for column in ("force_mae", "f_mag", "f_ang"):
        if column in table:
            out[column] = grouped[column].mean()
    return out
