"""Error metrics of energy predictions, per water (the paper's unit): MAE, RMSE, per set and per size.

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
