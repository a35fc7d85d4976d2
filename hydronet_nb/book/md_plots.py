"""The figures of chapter 5 (molecular dynamics), in the style of :mod:`hydronet_nb.book.plots`.

Each takes the tables of ``hydronet-nb md`` / ``md-study`` (one row per frame or per run) and returns its axes.
Colours: the book's one colour per model (:func:`hydronet_nb.book.plots.model_colour`), the same as the
quick start's for the same drivers; legends beside the panels, out of the traces.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .figure_style import MODEL_COLORS, legend_beside, log_axis, model_colour

#: one colour per driver, the same in every figure of the book
COLOURS = {m: model_colour(m) for m in ("amoeba", "finetuned", "scratch-forces", "pretrained", "published")}
LABELS = {"amoeba": "AMOEBA2018 (reference)", "finetuned": "finetuned", "scratch-forces": "scratch",
          "pretrained": "pretrained only", "published": "published (TTM2.1-F)"}


def energy_traces(frames, column: str = "energy", axes=None, ylabel: str = "E (kcal/mol)",
                  focus=("amoeba", "finetuned", "scratch-forces")):
    """Figure 2 (centre, right): ``column`` against time per size, each run thin, the model's mean bold.

    The y range is that of the ``focus`` drivers (padded): a model whose clusters explode leaves the panel
    at the top or bottom instead of flattening the others into a line."""
    sizes = sorted(frames["size"].unique())
    if axes is None:
        _, axes = plt.subplots(1, len(sizes), figsize=(4.4 * len(sizes), 3.8), squeeze=False, layout="constrained")
        axes = axes[0]
    for ax, size in zip(axes, sizes):
        part = frames[frames["size"] == size]
        for model, runs in part.groupby("model", sort=False):
            colour = model_colour(model)
            for _, run in runs.groupby("seed"):
                ax.plot(run["time_fs"], run[column], color=colour, lw=0.5, alpha=0.35)
            mean = runs.groupby("time_fs")[column].mean()
            ax.plot(mean.index, mean.values, color=colour, lw=2, label=LABELS.get(model, model))
        shown = part[part["model"].isin(focus)][column].dropna()
        if len(shown):
            lo, hi = shown.min(), shown.max()
            pad = 0.6 * (hi - lo or abs(hi) or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"W{size}")
        ax.set_xlabel("time (fs)")
        ax.set_ylabel(ylabel)
    axes[-1].legend()
    legend_beside(axes[-1])
    return axes


def survival_curves(table, axes=None):
    """Fraction of runs still intact against time, one panel per size (:func:`hydronet_nb.md.analysis.survival`);
    each model's line thinner than the one before, so models that never fail all stay visible along the top."""
    sizes = sorted(table["size"].unique())
    if axes is None:
        _, axes = plt.subplots(1, len(sizes), figsize=(4.4 * len(sizes), 3.4), squeeze=False, sharey=True,
                               layout="constrained")
        axes = axes[0]
    models = list(dict.fromkeys(table["model"]))
    widths = dict(zip(models, np.linspace(6, 1.5, len(models)) if len(models) > 1 else [2]))
    for ax, size in zip(axes, sizes):
        for model, part in table[table["size"] == size].groupby("model", sort=False):
            ax.step(part["time_fs"], part["intact_fraction"], where="post", color=model_colour(model),
                    label=LABELS.get(model, model), lw=widths[model], solid_capstyle="butt")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"W{size}")
        ax.set_xlabel("time (fs)")
    axes[0].set_ylabel("runs still intact")
    axes[-1].legend()
    legend_beside(axes[-1])
    return axes


def distance_distributions(samples: dict, axes=None):
    """O-H and O...O distance densities per driver: ``samples[model] = {"O-H": array, "O...O": array}``."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, (kind, lo, hi) in zip(axes, (("O-H", 0.85, 1.15), ("O...O", 2.3, 8.0))):
        for model, values in samples.items():
            sns.kdeplot(np.clip(values[kind], lo, hi), ax=ax, color=model_colour(model),
                        label=LABELS.get(model, model), lw=2 if model == "amoeba" else 1.5, bw_adjust=0.6)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(f"{kind} distance (Å)")
    axes[-1].legend()
    legend_beside(axes[-1])
    return axes


def nve_energy(tables: dict, switches: dict | None = None, ax=None):
    """Total energy minus its start against time per NVE run; kNN switches as ticks at the bottom."""
    ax = ax or plt.subplots(figsize=(7, 3.8))[1]
    for model, table in tables.items():
        ax.plot(table["time_fs"], table["total"] - table["total"].iloc[0], color=model_colour(model),
                label=LABELS.get(model, model))
        if switches and model in switches:
            t = table["time_fs"].to_numpy()[1:][switches[model] > 0]
            ax.plot(t, np.full_like(t, ax.get_ylim()[0]), "|", color=model_colour(model), ms=8)
    ax.set_xlabel("time (fs)")
    ax.set_ylabel("E_total - E_total(0) (kcal/mol)")
    ax.legend()
    legend_beside(ax)
    return ax


def published_trajectories(graphcore, published, ax=None):
    """The longest O-H bond per frame: Graphcore's published (H2O)10 trajectories
    (:func:`hydronet_nb.book.trajectories.longest_oh_bonds`), solid, in the quick start's colours, and the book's
    runs of the published model (``published``: md-study frames, ``seed``, ``time_fs``, ``max_oh``), dotted."""
    ax = ax or plt.subplots(figsize=(7, 3.8))[1]
    for label, part in graphcore.groupby("model", sort=False):
        ax.plot(part["time_fs"], part["max_OH"], color=model_colour(label), lw=1.5, label=f"Graphcore: {label}")
    for k, (_, part) in enumerate(published.groupby("seed")):
        ax.plot(part["time_fs"], part["max_oh"], ls=":", lw=1.5, color=MODEL_COLORS["published"],
                label=None if k else "book: published model")
    log_axis(ax)
    ax.set(xlabel="time (fs)", ylabel="longest O-H bond (Å)")
    ax.legend()
    legend_beside(ax)
    return ax
