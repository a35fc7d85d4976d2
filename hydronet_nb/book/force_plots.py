"""The figures of chapter 3 (finetuning on forces), in the style of :mod:`hydronet_nb.book.plots`.

Each takes a table the package writes (a trainer's metrics, :mod:`hydronet_nb.evaluate.static`
summaries, the tables of ``hydronet-nb force-study``) and returns its axes. Colours: the book's one
colour per model and rule (:func:`hydronet_nb.book.plots.model_colour`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .figure_style import legend_above, legend_beside, log_axis, model_colour, model_palette, whole_numbers

#: how each static metric is labelled
METRIC_LABELS = {"mae_per_water": "E/water MAE (kcal/mol)", "force_mae": "force MAE (kcal/mol/Å)",
                 "f_mag": "mean |F_mag| (kcal/mol/Å)", "f_ang": "mean F_ang (0 aligned, 1 opposite)"}
#: how the ends of the rounds of active sampling are drawn: dark and dotted, above the grid
ROUND_END_STYLE = {"color": "0.15", "lw": 1.2, "ls": (0, (1, 2.5)), "zorder": 2.5}


def force_learning_curves(metrics, round_ends=(), axes=None, label: str = ""):
    """Validation force RMSE and E/water MAE against epoch, dotted lines where a round of active sampling ended
    (dark, above the grid, whose vertical lines are off here)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column, ylabel in zip(axes, ("val_force_mse", "val_mae_per_water"),
                                  ("validation force RMSE (kcal/mol/Å)", "validation MAE per water (kcal/mol)")):
        values = np.sqrt(metrics[column]) if column.endswith("mse") else metrics[column]
        ax.plot(metrics["epoch"], values, label=label or "finetuning", color=model_colour(label or "finetuned"))
        for k, end in enumerate(round_ends):
            ax.axvline(end, label="end of a round" if k == 0 else None, **ROUND_END_STYLE)
        ax.grid(False, axis="x")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        log_axis(ax)
        whole_numbers(ax)
    axes[1].legend()
    legend_beside(axes[1])
    return axes


def static_errors(summary, axes=None):
    """Figure 2 (left): E/water MAE, mean |F_mag| and mean F_ang per model on minima (o) and non-minima (x).

    ``summary``: :func:`hydronet_nb.evaluate.static.static_summary` indexed by ``(model, set)``.
    """
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    table = summary.reset_index()
    models = list(dict.fromkeys(table["model"]))
    for ax, column in zip(axes, ("mae_per_water", "f_mag", "f_ang")):
        for set_name, marker in zip(dict.fromkeys(table["set"]), "ox^"):
            part = table[table["set"] == set_name].set_index("model").reindex(models)
            ax.scatter(range(len(models)), part[column], marker=marker, s=70, label=set_name,
                       c=[model_colour(m) for m in models], edgecolor="k" if marker == "o" else None, lw=0.4)
        ax.set_xticks(range(len(models)), models)
        ax.set_xlim(-0.5, len(models) - 0.5)
        ax.set_ylabel(METRIC_LABELS[column])
        if column != "f_ang":
            log_axis(ax)
    legend = axes[0].legend()
    for handle in legend.legend_handles:  # the marker tells the set; the colour is the model's, on the axis
        handle.set_facecolor("0.5")
    legend_above(axes[0])
    return axes


def create_graph_curves(epochs, ax=None):
    """The released code's first bug: validation force RMSE per epoch with and without ``create_graph``."""
    ax = ax or plt.subplots(figsize=(6.4, 3.8))[1]
    sns.lineplot(data=epochs, x="epoch", y="val_force_rmse", hue="arm", marker="o",
                 palette=model_palette(epochs["arm"]), ax=ax)
    log_axis(ax)
    whole_numbers(ax)
    ax.set_ylabel("validation force RMSE (kcal/mol/Å)")
    legend_above(ax, title="", ncols=1)
    return ax


def selection_rounds(rounds, axes=None):
    """Active against random selection: validation errors after each round, mean and range over seeds."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column, ylabel in zip(axes, ("val_force_rmse", "val_mae_per_water"),
                                  ("validation force RMSE (kcal/mol/Å)", "validation MAE per water (kcal/mol)")):
        sns.lineplot(data=rounds, x="round", y=column, hue="rule", marker="o", errorbar=("pi", 100),
                     palette=model_palette(rounds["rule"]), ax=ax)
        ax.set_xlabel("round (0: before the first selection)")
        whole_numbers(ax)
        ax.set_ylabel(ylabel)
    axes[0].get_legend().remove()
    legend_beside(axes[1], title="rule")
    return axes


def data_efficiency(summary, axes=None):
    """Test force MAE and E/water MAE against training non-minima, pretrained and scratch, seeds' range shaded."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    table = summary.assign(start=np.where(summary["start"] == "scratch", "scratch", "pretrained"))
    for ax, column in zip(axes, ("force_mae", "mae_per_water")):
        sns.lineplot(data=table, x="n_train", y=column, hue="start", marker="o", errorbar=("pi", 100),
                     palette=model_palette(table["start"]), ax=ax)
        log_axis(ax, "x", at=table["n_train"].unique())  # the study's sizes, as plain numbers
        log_axis(ax)
        ax.set_xlabel("training non-minima")
        ax.set_ylabel("test " + METRIC_LABELS[column])
    axes[0].get_legend().remove()
    legend_beside(axes[1], title="start")
    return axes


def picked_sizes(additions, ax=None):
    """How many clusters of each size joined, per rule (``additions``: rows with ``rule`` and ``n_water``)."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    sns.histplot(data=additions, x="n_water", hue="rule", multiple="dodge", discrete=True, shrink=0.8,
                 palette=model_palette(additions["rule"]), ax=ax)
    ax.set_xlabel("waters in the cluster")
    ax.set_ylabel("clusters added")
    legend_above(ax, title="")
    return ax


def picked_errors(additions, ax=None):
    """The error of every added cluster against its round, the active rule's threshold as a line."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    sns.stripplot(data=additions, x="round", y="error", hue="rule", dodge=True, size=3, alpha=0.6,
                  palette=model_palette(additions["rule"]), ax=ax)
    bars = additions.dropna(subset=["threshold"]).groupby("round")["threshold"].mean()
    rounds = sorted(additions["round"].unique())
    ax.plot([rounds.index(r) for r in bars.index], bars.values, "k_", ms=22, mew=2, label="threshold (active)")
    log_axis(ax)
    ax.set_ylabel("the paper's error e (kcal/mol units)")
    ax.legend()
    legend_above(ax, title="")
    return ax


def force_parity(components, axes=None, limit: float | None = None):
    """Predicted against reference force components, one hexbin panel per model (log counts)."""
    models = list(dict.fromkeys(components["model"]))
    if axes is None:
        _, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    lim = limit or float(np.quantile(np.abs(components["reference"]), 0.999))
    for ax, name in zip(axes, models):
        part = components[components["model"] == name]
        ax.hexbin(part["reference"], part["predicted"], gridsize=60, bins="log", cmap="viridis",
                  extent=(-lim, lim, -lim, lim), mincnt=1)
        ax.plot([-lim, lim], [-lim, lim], color="0.4", lw=1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(name)
        ax.set_xlabel("reference F component (kcal/mol/Å)")
    axes[0].set_ylabel("predicted F component (kcal/mol/Å)")
    return axes
