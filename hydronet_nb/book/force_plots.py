"""The figures of chapter 3 (finetuning on forces), in the style of :mod:`hydronet_nb.book.plots`.

Each takes a table the package writes (a trainer's metrics, :mod:`hydronet_nb.evaluate.static`
summaries, the tables of ``hydronet-nb force-study``) and returns its axes.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

#: how each static metric is labelled
METRIC_LABELS = {"mae_per_water": "E/water MAE (kcal/mol)", "force_mae": "force MAE (kcal/mol/Å)",
                 "f_mag": "mean |F_mag| (kcal/mol/Å)", "f_ang": "mean F_ang (0 aligned, 1 opposite)"}
#: a colour per start, the same in every figure of the chapter
START_COLOURS = {"pretrained": "C0", "scratch": "C3", "finetuned": "C2", "active": "C2", "random": "C7"}


def _colour(name: str) -> str:
    return next((c for key, c in START_COLOURS.items() if key in str(name)), "C4")


def force_learning_curves(metrics, round_ends=(), axes=None, label: str = ""):
    """Validation force RMSE and E/water MAE against epoch, dotted lines where a round of active sampling ended."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column, ylabel in zip(axes, ("val_force_mse", "val_mae_per_water"),
                                  ("validation force RMSE (kcal/mol/Å)", "validation MAE per water (kcal/mol)")):
        values = np.sqrt(metrics[column]) if column.endswith("mse") else metrics[column]
        ax.semilogy(metrics["epoch"], values, label=label or None, color=_colour(label) if label else None)
        for end in round_ends:
            ax.axvline(end, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
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
                       c=[_colour(m) for m in models], edgecolor="k" if marker == "o" else None, lw=0.4)
        ax.set_xticks(range(len(models)), models, rotation=15)
        ax.set_xlim(-0.5, len(models) - 0.5)
        ax.set_ylabel(METRIC_LABELS[column])
        if column != "f_ang":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    return axes


def create_graph_curves(epochs, ax=None):
    """The released code's first bug: validation force RMSE per epoch with and without ``create_graph``."""
    ax = ax or plt.subplots(figsize=(6.4, 3.8))[1]
    sns.lineplot(data=epochs, x="epoch", y="val_force_rmse", hue="arm", marker="o", ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("validation force RMSE (kcal/mol/Å)")
    ax.legend(title="", fontsize=8)
    return ax


def selection_rounds(rounds, axes=None):
    """Active against random selection: validation errors after each round, mean and range over seeds."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column, ylabel in zip(axes, ("val_force_rmse", "val_mae_per_water"),
                                  ("validation force RMSE (kcal/mol/Å)", "validation MAE per water (kcal/mol)")):
        sns.lineplot(data=rounds, x="round", y=column, hue="rule", marker="o", errorbar=("pi", 100),
                     palette={r: _colour(r) for r in rounds["rule"].unique()}, ax=ax)
        ax.set_xlabel("round (0: before the first selection)")
        ax.set_ylabel(ylabel)
        ax.legend(title="", fontsize=8)
    return axes


def data_efficiency(summary, axes=None):
    """Test force MAE and E/water MAE against training non-minima, pretrained and scratch, seeds' range shaded."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    table = summary.assign(start=np.where(summary["start"] == "scratch", "scratch", "pretrained"))
    for ax, column in zip(axes, ("force_mae", "mae_per_water")):
        sns.lineplot(data=table, x="n_train", y=column, hue="start", marker="o", errorbar=("pi", 100),
                     palette={s: _colour(s) for s in table["start"].unique()}, ax=ax)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training non-minima")
        ax.set_ylabel("test " + METRIC_LABELS[column])
        ax.legend(title="", fontsize=8)
    return axes


def picked_sizes(additions, ax=None):
    """How many clusters of each size joined, per rule (``additions``: rows with ``rule`` and ``n_water``)."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    sns.histplot(data=additions, x="n_water", hue="rule", multiple="dodge", discrete=True, shrink=0.8,
                 palette={r: _colour(r) for r in additions["rule"].unique()}, ax=ax)
    ax.set_xlabel("waters in the cluster")
    ax.set_ylabel("clusters added")
    return ax


def picked_errors(additions, ax=None):
    """The error of every added cluster against its round, the active rule's threshold as a line."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    sns.stripplot(data=additions, x="round", y="error", hue="rule", dodge=True, size=3, alpha=0.6,
                  palette={r: _colour(r) for r in additions["rule"].unique()}, ax=ax)
    bars = additions.dropna(subset=["threshold"]).groupby("round")["threshold"].mean()
    rounds = sorted(additions["round"].unique())
    ax.plot([rounds.index(r) for r in bars.index], bars.values, "k_", ms=22, mew=2, label="threshold (active)")
    ax.set_yscale("log")
    ax.set_ylabel("the paper's error e (kcal/mol units)")
    ax.legend(fontsize=8)
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
