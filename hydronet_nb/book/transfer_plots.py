"""The figures of chapter 4 (moving a model to another surface), in the style of :mod:`hydronet_nb.book.plots`.

Each takes a table of :mod:`hydronet_nb.transfer.analysis` or a trainer's metrics and returns its axes.
Colours: the book's one colour per model and strategy (:func:`hydronet_nb.book.plots.model_colour`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .figure_style import legend_beside, log_axis, model_colour, plain_number, whole_numbers


def colour(name: str) -> str:
    """The book's colour for a model, start or strategy name (:func:`hydronet_nb.book.plots.model_colour`)."""
    return model_colour(name)


def energy_distributions(predicted, axes=None, bins: int = 40):
    """Figure 3: per test set (one column each), the reference E/water distribution with each model's
    predictions (top) and each model's errors (bottom), the models' legend beside the top row.
    ``predicted``: :func:`hydronet_nb.transfer.analysis.predictions`.
    """
    sets = list(dict.fromkeys(predicted["set"]))
    if axes is None:
        _, axes = plt.subplots(2, len(sets), figsize=(6 * len(sets), 7), sharex="row", sharey="row", squeeze=False)
    errors = predicted["predicted"] - predicted["reference"]
    lo, hi = predicted[["reference", "predicted"]].stack().quantile([0.005, 0.995])
    energy_edges = np.linspace(lo, hi, bins + 1)
    error_edges = np.linspace(*errors.quantile([0.005, 0.995]), bins + 1)
    for column, set_name in enumerate(sets):
        part = predicted["set"] == set_name
        top, bottom = axes[0][column], axes[1][column]
        first = predicted[part & (predicted["model"] == predicted.loc[part, "model"].iloc[0])]
        top.hist(first["reference"], bins=energy_edges, density=True, color=colour("reference"), alpha=0.25,
                 label="reference")
        for model in dict.fromkeys(predicted.loc[part, "model"]):
            rows = part & (predicted["model"] == model)
            top.hist(predicted.loc[rows, "predicted"], bins=energy_edges, density=True, histtype="step", lw=1.6,
                     color=colour(model), label=model)
            bottom.hist(errors[rows], bins=error_edges, density=True, histtype="step", lw=1.6, color=colour(model),
                        label=model)
        bottom.axvline(0, color="0.3", lw=0.8)
        top.set_title(f"test minima, {set_name}", fontsize=10)
        top.set_xlabel("E / N (kcal/mol per water)")
        bottom.set_xlabel("predicted - reference E / N (kcal/mol per water)")
    axes[0][0].set_ylabel("density")
    axes[1][0].set_ylabel("density")
    axes[0][-1].legend()
    legend_beside(axes[0][-1])
    return axes


def transfer_curves(curves: dict, ax=None):
    """Validation MAE per water against epoch for several runs (``curves``: label -> trainer metrics)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, metrics in curves.items():
        ax.plot(metrics["epoch"], metrics["val_mae_per_water"], label=label, color=colour(label))
    log_axis(ax)
    whole_numbers(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MAE per water (kcal/mol)")
    ax.legend(title="start")
    legend_beside(ax)
    return ax


def sample_curve(runs, ax=None, xlabel: str = "training minima of the new surface", title: str = ""):
    """Test MAE per water against the number of training samples per start; seeds' range shaded.

    ``runs``: :func:`hydronet_nb.transfer.analysis.curve_runs`.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=runs, x="n_train", y="mae_per_water", hue="start", marker="o", errorbar=("pi", 100),
                 palette={s: colour(s) for s in runs["start"].unique()}, ax=ax)
    log_axis(ax, "x", at=runs["n_train"].unique())  # the study's sizes, as plain numbers
    log_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test MAE per water (kcal/mol)")
    legend_beside(ax, title="start")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def strategies(table, old_before: float, axes=None):
    """Per strategy and sample count: test MAE per water on the new surface (left) and on the old one after
    the transfer (right, the start's own error dashed); bars on a linear axis, which starts at zero.
    ``table``: :func:`~hydronet_nb.transfer.analysis.strategy_table`."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    shown = table.reset_index()
    shown["samples"] = shown["n_train"].map(lambda n: f"{n:,}")
    palette = {s: colour(s) for s in shown["strategy"].unique()}
    for ax, column, label in zip(axes, ("mae_per_water", "old_mae_per_water"),
                                 ("on the new surface", "on the old surface, after the transfer")):
        sns.barplot(data=shown, x="samples", y=column, hue="strategy", palette=palette, ax=ax)
        ax.yaxis.set_major_formatter(plain_number)  # bars start at zero: a linear axis
        ax.set_xlabel("training minima of the new surface")
        ax.set_ylabel("test MAE per water (kcal/mol)")
        ax.set_title(label, fontsize=10)
    axes[0].get_legend().remove()
    legend_beside(axes[1], title="strategy")
    axes[1].axhline(old_before, color="0.15", ls="--", lw=1, zorder=3)
    axes[1].annotate(f"before the transfer ({plain_number(old_before)})", (0.02, old_before),
                     xycoords=("axes fraction", "data"), xytext=(0, 4), textcoords="offset points", fontsize=8)
    return axes
