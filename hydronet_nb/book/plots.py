"""The book's figures, in one style: :func:`set_style` once per chapter, then one function per kind of figure.

Every function takes the tables the package computes (pandas, one row per cluster, per size or per
epoch) and returns its axes, so a chapter's cell is a call and a title. Layout: constrained (no label
runs into a neighbouring panel); legends beside or above the data, not over it; log axes ticked with
plain numbers (:func:`log_axis`). Colours: seaborn's colorblind palette, one colour per data set
(:func:`dataset_palette`) and one per model across the book (:data:`MODEL_COLORS`, :func:`model_colour`),
all from :mod:`hydronet_nb.book.figure_style`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .figure_style import (CATEGORY_COLORS, DATASET_COLOURS, MODEL_ALIASES, MODEL_COLORS,  # noqa: F401
                           ReadableLogLocator, dataset_palette, legend_above, legend_beside, log_axis, model_colour,
                           model_palette, plain_number, set_style, whole_numbers)


def _axes(axes, ncols=1, figsize=(7, 3.8)):
    if axes is not None:
        return axes
    return plt.subplots(1, ncols, figsize=figsize)[1]


def parity(ax: plt.Axes, reference, predicted, *, label: str = "", unit: str = "kcal/mol", hue=None, cmap="viridis"):
    """Predicted against reference with the y = x line; colours by ``hue`` when given."""
    reference, predicted = np.asarray(reference), np.asarray(predicted)
    lo, hi = np.nanmin([reference.min(), predicted.min()]), np.nanmax([reference.max(), predicted.max()])
    pad = 0.04 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, zorder=0)
    points = ax.scatter(reference, predicted, c=hue, cmap=cmap if hue is not None else None, s=28, edgecolor="k",
                        lw=0.3)
    if hue is not None:
        plt.colorbar(points, ax=ax, label=label or "")
    ax.set_xlabel(f"reference ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def learning_curves(metrics, axes=None, label: str = ""):
    """Training and validation loss (log scale) and validation MAE per water against epoch, from a trainer's
    metrics table."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    loss_ax, mae_ax = axes
    prefix = f"{label} " if label else ""
    loss_ax.plot(metrics["epoch"], metrics["train_loss"], label=f"{prefix}training")
    loss_ax.plot(metrics["epoch"], metrics["val_loss"], label=f"{prefix}validation")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("MSE of E ((kcal/mol)$^2$)")
    loss_ax.legend(loc="best")
    mae_ax.plot(metrics["epoch"], metrics["val_mae_per_water"], label=label or None)
    mae_ax.set_xlabel("epoch")
    mae_ax.set_ylabel("validation MAE per water (kcal/mol)")
    for ax in axes:
        log_axis(ax)
        whole_numbers(ax)
    return axes


def parity_per_water(ax: plt.Axes, errors, *, xlabel: str = "reference E / N (kcal/mol per water)",
                     ylabel: str = "SchNet E / N (kcal/mol per water)"):
    """Predicted against reference energy per water, one colour per ``set`` of a prediction table."""
    for name, group in errors.groupby("set", sort=False):
        ax.scatter(group["reference"] / group["n_water"], group["predicted"] / group["n_water"], s=8, label=name)
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.legend(loc="upper left", markerscale=2)
    return ax


def errors_overview(errors, by_size, target: float, *, reference_label: str = "reference"):
    """Parity per water by set, and MAE per water per cluster size with the ``target`` line."""
    _, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    parity_per_water(axes[0], errors, xlabel=f"{reference_label} E / N (kcal/mol per water)")
    axes[0].set_title("parity, per water")
    colours = dict(zip(dict.fromkeys(errors["set"]), sns.color_palette()))
    for name, part in by_size.groupby("set", sort=False):  # bars on a numeric axis: readable size ticks
        axes[1].bar(part["n_water"], part["mae_per_water"], width=0.8, color=colours.get(name), label=name)
    axes[1].axhline(target, color="k", lw=0.8, ls="--", label="target")
    legend_beside(axes[1])
    axes[1].set_xlabel("cluster size (waters)")
    axes[1].set_ylabel("MAE per water (kcal/mol)")
    axes[1].set_title("error per cluster size")
    return axes


def energies_and_errors(table):
    """A prediction table: parity of total energies (coloured by size) and the error per water of each cluster."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    parity(ax1, table["reference"], table["energy"], hue=table["n_water"], label="waters")
    ax1.set_title("total energy")
    ax2.bar(table["n_water"], table["error_per_water"], width=0.8, color=model_colour("published"))
    ax2.axhline(0, color="0.3", lw=0.8)
    ax2.set_xlabel("waters")
    ax2.set_ylabel("error per water (kcal/mol)")
    ax2.set_title("predicted minus reference")
    return ax1, ax2


def forces_by_size(table, forces, ax=None):
    """Largest and mean predicted force per cluster against its size (a prediction table and its forces)."""
    ax = _axes(ax, figsize=(7, 3.6))
    norms = [np.linalg.norm(f, axis=1) for f in forces]
    ax.plot(table["n_water"], [n.max() for n in norms], "o-", label=r"max$_i\,|\mathbf{F}_i|$")
    ax.plot(table["n_water"], [n.mean() for n in norms], "s-", label=r"mean$_i\,|\mathbf{F}_i|$")
    ax.set_xlabel("waters")
    ax.set_ylabel("predicted force (kcal/mol/Å)")
    ax.legend(loc="best")
    return ax


def energy_path(energies, ax=None, xlabel: str = "BFGS step"):
    """Energy relative to the start along an optimisation (kcal/mol)."""
    ax = _axes(ax, figsize=(6, 3.4))
    ax.plot(np.asarray(energies) - energies[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("E - E(start) (kcal/mol)")
    return ax


def longest_bond(md_table, ax=None):
    """The longest O-H bond of every frame of each trajectory (:func:`hydronet_nb.book.trajectories.longest_oh_bonds`),
    in the book's model colours (the same as chapter 5's :func:`~hydronet_nb.book.md_plots.published_trajectories`)."""
    ax = _axes(ax, figsize=(7, 3.8))
    sns.lineplot(data=md_table, x="time_fs", y="max_OH", hue="model", palette=model_palette(md_table["model"]), ax=ax)
    log_axis(ax)
    ax.set_xlabel("time (fs)")
    ax.set_ylabel("longest O-H bond (Å)")
    legend_beside(ax, title="")
    return ax


# --- chapter 1: the data ---------------------------------------------------------------------------


def sizes_histogram(energies, palette, ax=None):
    """Clusters per size in each data set (an energy table)."""
    ax = _axes(ax, figsize=(9, 3.8))
    sns.histplot(data=energies, x="n_water", hue="dataset", palette=palette, discrete=True, multiple="dodge",
                 shrink=0.85, ax=ax)
    ax.set_xlabel("cluster size (waters)")
    ax.set_ylabel("clusters")
    legend_beside(ax)
    return ax


def energy_against_size(shown, lowest, palette):
    """Energy and energy per water against size: sampled clusters, and the lowest minimum of each size."""
    _, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, label in zip(axes, ("energy", "energy_per_water"), ("E (kcal/mol)", "E / N (kcal/mol per water)")):
        sns.scatterplot(data=shown, x="n_water", y=column, hue="dataset", palette=palette, s=10, alpha=0.4,
                        linewidth=0, ax=ax)
        ax.plot(lowest["n_water"], lowest[column], "k.-", lw=1, label="lowest minimum")
        ax.set_xlabel("cluster size N (waters)")
        ax.set_ylabel(label)
    axes[0].set_title("binding energy")
    axes[1].set_title("binding energy per water")
    axes[1].legend(markerscale=1.5)
    legend_beside(axes[1])
    axes[0].legend().remove()
    return axes


def distributions(table, column: str, palette, ax=None, **kwargs):
    """Density histogram of ``column`` per data set, each normalised to 1."""
    ax = _axes(ax, figsize=(8, 4))
    options = {"stat": "density", "common_norm": False, "element": "step", "fill": False, "bins": 60, **kwargs}
    sns.histplot(data=table, x=column, hue="dataset", palette=palette, ax=ax, **options)
    legend_beside(ax)
    return ax


def pair_scatter(pairs, first: str, second: str, ax=None):
    """The same structures' energies per water on two surfaces (:func:`hydronet_nb.data.explore.pes_pairs`)."""
    ax = _axes(ax, figsize=(5, 4.5))
    sns.scatterplot(data=pairs, x="first", y="second", hue="n_water", palette="viridis", s=14, linewidth=0, ax=ax)
    both = pairs[["first", "second"]]
    lims = [both.min().min() - 0.2, both.max().max() + 0.2]
    ax.plot(lims, lims, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel(f"{first} E / N (kcal/mol per water)")
    ax.set_ylabel(f"{second} E / N (kcal/mol per water)")
    legend_beside(ax, title="waters")
    return ax


def distance_histograms(distances, palette, ranges=(("O...O", (2.3, 8.0)), ("O-H", (0.90, 1.06)))):
    """O...O and O-H distance distributions per data set (a :func:`hydronet_nb.data.hbonds.distance_table`)."""
    _, axes = plt.subplots(1, len(ranges), figsize=(11, 3.8))
    for ax, (pair, xlim) in zip(axes, ranges):
        shown = distances[(distances["pair"] == pair) & distances["distance"].between(*xlim)]
        distributions(shown, "distance", palette, ax=ax, bins=80)
        ax.set_xlim(*xlim)  # the same window on any data: a narrow spread (minima only) would get crowded ticks
        ax.set_xlabel(f"{pair} distance (Å)")
    axes[0].set_title("oxygen pairs (between molecules)")
    axes[1].set_title("O-H bonds (within molecules)")
    axes[0].get_legend().remove()
    return axes


def network_trends(networks, palette):
    """Hydrogen bonds per water and the fraction of free O-H groups against size (mean +- sd per data set)."""
    _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column, label in zip(axes, ("hbonds_per_water", "free_oh_fraction"),
                                 ("hydrogen bonds per water", "fraction of O-H not donating")):
        sns.lineplot(data=networks, x="n_water", y=column, hue="dataset", palette=palette, marker="o",
                     errorbar="sd", ax=ax)
        ax.set_ylabel(label)
        ax.set_xlabel("cluster size N (waters)")
    axes[0].set_title("hydrogen bonds (mean ± sd)")
    axes[1].set_title("free O-H groups")
    axes[0].get_legend().remove()
    legend_beside(axes[1])
    return axes


def reference_minima(compare, ax=None, potential: str = "AMOEBA2018", reference: str = "TTM2.1-F"):
    """Lowest minima per size on two potentials (:func:`hydronet_nb.data.explore.against_reference_minima`)."""
    ax = _axes(ax, figsize=(8, 4))
    both = compare.dropna(subset=["lowest"])
    ax.plot(compare["n_water"], compare["reference"], "ko-", label=f"{reference} global minimum (published)")
    ax.plot(compare["n_water"], compare["at_reference"], "s--", label=f"{potential} at the same geometry")
    ax.plot(compare["n_water"], compare["relaxed"], "^-", label=f"... relaxed on {potential}")
    ax.plot(both["n_water"], both["lowest"], "v:", label="lowest minimum of the data here")
    ax.set_xlabel("cluster size N (waters)")
    ax.set_ylabel("E / N (kcal/mol per water)")
    ax.legend()
    legend_beside(ax)
    return ax


# --- chapter 2: pretraining ------------------------------------------------------------------------


def packing_sweep(sweep, marked: int, ax=None):
    """How full the slabs are against their size: packing against padding every cluster to the largest."""
    ax = _axes(ax, figsize=(7, 3.6))
    ax.plot(sweep["max_atoms"], 100 * sweep["packing"], "o-", ms=3, label="histogram packing")
    ax.plot(sweep["max_atoms"], 100 * sweep["padding"], "--", label="one cluster per slab, padded")
    ax.axvline(marked, color="0.3", lw=1, ls=":", label=f"{marked} atoms (the book's packs)")
    ax.set_xlabel("atoms per pack")
    ax.set_ylabel("real atoms (%)")
    ax.legend(loc="best")
    return ax


def speed_bars(bench, ax=None):
    """The fast SchNet's speed over PyG's SchNet per task of a :func:`hydronet_nb.evaluate.bench.run_bench` table.

    With one row per repeat (a ``repeat`` column), each bar is the median and its line the range of the
    repeats, so one disturbed run shows as spread instead of as the result."""
    ax = _axes(ax, figsize=(6, 4))
    fast = bench[bench.variant == "fast"]
    sns.barplot(data=fast, y="task", x="speed_vs_pyg", estimator="median", errorbar=("pi", 100), color="0.6",
                err_kws={"color": "0.15", "linewidth": 1.5}, capsize=0.2, ax=ax)
    ax.axvline(1.0, color="0.15", lw=1, ls="--")
    spread = fast.groupby("task", sort=False)["speed_vs_pyg"].agg(["median", "max"])
    for k, (task, row) in enumerate(spread.iterrows()):
        ax.annotate(f"{row['median']:.1f}x", (row["max"], k), xytext=(4, 0), textcoords="offset points", va="center")
    ax.set_xlim(0, 1.25 * max(spread["max"].max(), 1.0))  # room for the labels inside the axes
    ax.set_xlabel("speed over PyG's SchNet (same clusters and weights)")
    ax.set_ylabel("")
    runs = fast.groupby("task").size().max()
    ax.set_title(f"{bench.attrs.get('device', '')}, {bench.attrs.get('threads', '?')} threads"
                 + (f" (median and range of {runs} runs)" if runs > 1 else ""))
    return ax


def throughput_bars(shown, ax=None):
    """Training throughput per hardware, log scale (:func:`hydronet_nb.evaluate.bench.throughput_comparison`);
    published rows grey, this machine's in colour."""
    ax = _axes(ax, figsize=(8, 4))
    colours = {h: "0.6" if "published" in h else model_colour("pretrained") for h in shown["hardware"]}
    sns.barplot(data=shown, y="hardware", x="clusters_per_s", hue="hardware", palette=colours, legend=False, ax=ax)
    log_axis(ax, "x")
    ax.set_xlabel("training throughput (clusters/s, log scale)")
    ax.set_ylabel("")
    return ax


def paper_story(ax: plt.Axes | None = None):
    """The paper in one picture: pretraining feeds two cheap finetuning tasks and MD.

    Each box is its text's own frame (so a label cannot spill out of it), the arrows end at the frames."""
    from matplotlib.patches import FancyArrowPatch

    from . import published_numbers as pub

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.6))
    ax.axis("off")
    boxes = {  # centre (axes fraction), colour, text
        "data": (0.09, 0.5, "0.55", f"HydroNet minima\n{pub.PRETRAIN_CLUSTERS / 1e6:.1f}M clusters, W3-W25\n"
                 "TTM2.1-F energies"),
        "pre": (0.35, 0.5, model_colour("published"),
                f"pretrain SchNet\non {min(pub.IPU_PRETRAIN_HOURS)} IPUs: {pub.IPU_PRETRAIN_HOURS[16]} h\n"
                f"(0.5M on {pub.GPU_BASELINE['gpus']}: {pub.GPU_BASELINE['days']} days)"),
        "force": (0.63, 0.8, model_colour("finetuned"),
                  f"finetune on forces\n{pub.FORCE_FINETUNE['train_nonminima']:,} non-minima\n+ active sampling"),
        "pes": (0.63, 0.2, model_colour("transfer"),
                f"transfer to MB-pol\n{pub.PES_TRANSFER['train_minima']:,} minima\n"
                f"MAE {pub.PES_TRANSFER['pretrained_finetuned']['mae']} vs "
                f"{pub.PES_TRANSFER['scratch']['mae']} (scratch)"),
        "md": (0.9, 0.8, model_colour("reference"), "molecular\ndynamics\n300 K"),
    }
    texts = {}
    for name, (x, y, colour, text) in boxes.items():
        texts[name] = ax.text(x, y, text, ha="center", va="center", fontsize=9.5, transform=ax.transAxes,
                              linespacing=1.4, bbox={"boxstyle": "round,pad=0.7", "fc": (*_rgb(colour), 0.18),
                                                     "ec": colour, "lw": 1.5})
    for a, b in (("data", "pre"), ("pre", "force"), ("pre", "pes"), ("force", "md")):
        ax.add_patch(FancyArrowPatch(boxes[a][:2], boxes[b][:2], transform=ax.transAxes, arrowstyle="-|>",
                                     mutation_scale=15, lw=1.5, color="0.3", zorder=4,
                                     patchA=texts[a].get_bbox_patch(), patchB=texts[b].get_bbox_patch()))
    ax.set_title("Bilbrey et al. 2022: pretrain once on accelerators, finetune cheaply downstream (published numbers)")
    return ax


def _rgb(colour) -> tuple:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)
