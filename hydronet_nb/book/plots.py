"""Figures shared by several chapters."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def parity(ax: plt.Axes, reference, predicted, *, label: str = "", unit: str = "kcal/mol", hue=None, cmap="viridis"):
    """Predicted against reference with the y = x line; colours by ``hue`` when given."""
    reference, predicted = np.asarray(reference), np.asarray(predicted)
    lo, hi = np.nanmin([reference.min(), predicted.min()]), np.nanmax([reference.max(), predicted.max()])
    pad = 0.04 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, zorder=0)
    points = ax.scatter(reference, predicted, c=hue, cmap=cmap if hue is not None else None, s=28, edgecolor="k", lw=0.3)
    if hue is not None:
        plt.colorbar(points, ax=ax, label=label or "")
    ax.set_xlabel(f"reference ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def learning_curves(metrics, axes=None, label: str = ""):
    """Training and validation loss (log scale) and validation MAE per water against epoch, from a trainer's metrics table."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    loss_ax, mae_ax = axes
    prefix = f"{label} " if label else ""
    loss_ax.semilogy(metrics["epoch"], metrics["train_loss"], label=f"{prefix}training")
    loss_ax.semilogy(metrics["epoch"], metrics["val_loss"], label=f"{prefix}validation")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("MSE of E ((kcal/mol)$^2$)")
    loss_ax.legend(fontsize=8)
    mae_ax.semilogy(metrics["epoch"], metrics["val_mae_per_water"], label=label or None)
    mae_ax.set_xlabel("epoch")
    mae_ax.set_ylabel("validation MAE per water (kcal/mol)")
    return axes


def paper_story(ax: plt.Axes | None = None):
    """The paper in one picture: pretraining feeds two cheap finetuning tasks and MD."""
    from matplotlib.patches import FancyBboxPatch

    from . import published_numbers as pub

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 4.2)
    ax.axis("off")
    boxes = {
        "data": (0.1, 1.35, 2.3, 1.5, "C7", f"HydroNet minima\n{pub.PRETRAIN_CLUSTERS / 1e6:.1f}M clusters, W3-W25\nTTM2.1-F energies"),
        "pre": (3.0, 1.35, 2.4, 1.5, "C0",
                f"pretrain SchNet\non {min(pub.IPU_PRETRAIN_HOURS)} IPUs: {pub.IPU_PRETRAIN_HOURS[16]} h\n"
                f"(0.5M on {pub.GPU_BASELINE['gpus']}: {pub.GPU_BASELINE['days']} days)"),
        "force": (6.1, 2.4, 2.5, 1.5, "C2",
                  f"finetune on forces\n{pub.FORCE_FINETUNE['train_nonminima']:,} non-minima\n+ active sampling"),
        "pes": (6.1, 0.3, 2.5, 1.5, "C1",
                f"transfer to MB-pol\n{pub.PES_TRANSFER['train_minima']:,} minima\n"
                f"MAE {pub.PES_TRANSFER['pretrained_finetuned']['mae']} vs {pub.PES_TRANSFER['scratch']['mae']} (scratch)"),
        "md": (9.2, 2.4, 1.7, 1.5, "C3", "molecular\ndynamics\n300 K"),
    }
    for x, y, w, h, color, text in boxes.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=color, alpha=0.25, ec=color, lw=1.5))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)

    def arrow(a, b, y0, y1):
        ax.annotate("", xy=(b, y1), xytext=(a, y0), arrowprops=dict(arrowstyle="-|>", lw=1.5, color="0.3"))

    arrow(2.45, 2.95, 2.1, 2.1)
    arrow(5.45, 6.05, 2.3, 3.1)
    arrow(5.45, 6.05, 1.9, 1.05)
    arrow(8.65, 9.15, 3.15, 3.15)
    ax.set_title("Bilbrey et al. 2022: pretrain once on accelerators, finetune cheaply downstream (published numbers)")
    return ax
