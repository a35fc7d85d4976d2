"""Chapter 4's tables: predictions on two surfaces (Table 2, Figure 3), the cheapest transfer (a linear
rescaling), and the summaries of ``hydronet-nb transfer-study``.

Energies are per water, in kcal/mol. A *surface* is a set of test minima whose reference energies come
from one potential (AMOEBA2018, GFN2-xTB; TTM2.1-F and MB-pol in the paper).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluate.metrics import mae, rmse
from ..evaluate.predict import energies


def predictions(models: dict, sets: dict, batch_size: int = 64) -> pd.DataFrame:
    """Every model's energy per water on every set: ``model, set, n_water, reference, predicted``.

    ``models``: name -> module; ``sets``: name -> :class:`~hydronet_nb.data.clusters.ClusterSet` with energies.
    """
    tables = []
    for set_name, data in sets.items():
        data.require()
        for name, model in models.items():
            predicted = energies(model, data, batch_size) / data.n_water
            tables.append(pd.DataFrame({"model": name, "set": set_name, "n_water": data.n_water,
                                        "reference": data.energy_per_water, "predicted": predicted}))
    return pd.concat(tables, ignore_index=True)


def error_table(predicted: pd.DataFrame) -> pd.DataFrame:
    """Table 2: clusters, MAE and RMSE of E per water for each (model, set) of :func:`predictions`."""
    errors = predicted.assign(error=predicted["predicted"] - predicted["reference"])
    grouped = errors.groupby(["model", "set"], sort=False)["error"]
    return pd.DataFrame({"clusters": grouped.size(), "mae_per_water": grouped.apply(mae),
                         "rmse_per_water": grouped.apply(rmse)})


def linear_rescaling(model, train, tests: dict, batch_size: int = 64) -> dict:
    """The cheapest transfer: keep ``model`` and fit ``E_new = a E_model + b N`` on ``train`` (least squares).

    Two numbers per surface instead of a network: if the surfaces differed by a scale and an offset per
    water, this would be enough. Returns ``a``, ``b`` and, per set of ``tests``, ``mae`` and ``rmse`` per water.
    """
    def design(data):
        return np.stack([energies(model, data, batch_size), data.n_water.astype(float)], axis=1)

    (a, b), *_ = np.linalg.lstsq(design(train), np.asarray(train.energy, float), rcond=None)
    out = {"a": float(a), "b": float(b)}
    for name, data in tests.items():
        error = (design(data) @ np.array([a, b]) - data.energy) / data.n_water
        out[name] = {"mae": mae(error), "rmse": rmse(error)}
    return out


def curve_runs(summary: pd.DataFrame, study: str = "data_efficiency") -> pd.DataFrame:
    """The arms of one curve of a transfer-study summary, ``start`` as ``pretrained`` (or ``published``) or
    ``scratch``."""
    runs = summary[summary["study"] == study]
    if runs.empty:
        raise ValueError(f"the study table has no {study!r} arms (studies: {', '.join(summary['study'].unique())})")
    return runs


def curve_means(summary: pd.DataFrame, study: str = "data_efficiency") -> pd.DataFrame:
    """Per sample count (rows): test MAE per water per start (columns: mean, min and max over seeds), the
    number of seeds, and ``ratio`` (scratch mean over pretrained mean)."""
    runs = curve_runs(summary, study)
    grouped = runs.groupby(["n_train", "start"])["mae_per_water"]
    table = grouped.agg(["mean", "min", "max", "size"]).unstack("start")
    table.columns = [f"{start} {stat}".replace(" size", " seeds") for stat, start in table.columns]
    first = next(s for s in runs["start"].unique() if s != "scratch")
    table["ratio"] = table["scratch mean"] / table[f"{first} mean"]
    return table


def scratch_catch_up(means: pd.DataFrame, at: int, start: str = "pretrained") -> int | None:
    """The smallest sample count at which scratch's mean test MAE is at or below what ``start`` reaches with
    ``at`` samples (a :func:`curve_means` table); None if it never does within the table."""
    if at not in means.index:
        raise ValueError(f"{at} samples is not in the study (sizes: {', '.join(map(str, means.index))})")
    target = means.loc[at, f"{start} mean"]
    caught = means.index[means["scratch mean"] <= target]
    return int(caught.min()) if len(caught) else None


def strategy_table(summary: pd.DataFrame, old_before: float) -> pd.DataFrame:
    """Per strategy and sample count: test MAE per water on the new surface, on the old one afterwards, and
    ``forgetting`` (old-surface MAE after over ``old_before``, the start's own)."""
    runs = summary[summary["study"] == "strategies"]
    if runs.empty:
        raise ValueError("the study table has no 'strategies' arms")
    table = runs.set_index(["strategy", "n_train"])[["mae_per_water", "old_mae_per_water", "epochs", "best_epoch"]]
    return table.assign(forgetting=table["old_mae_per_water"] / old_before)
