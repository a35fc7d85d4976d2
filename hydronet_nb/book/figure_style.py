"""The book's figure style: colours (one per data set, one per model across the book), the layout default,
log axes with plain tick labels and legends out of the data. :mod:`hydronet_nb.book.plots` re-exports all of it;
the chapters' plot modules take their colours from here.
"""
from __future__ import annotations

import math
import warnings

import seaborn as sns
from matplotlib import ticker

from .figure_check import checking, install_ipython_check

#: the colour index of each data set in the colorblind palette (others: 3)
DATASET_COLOURS = {"min": 0, "min_extrapolation": 4, "nonmin": 2}
_CB = sns.color_palette("colorblind").as_hex()
#: one colour per model, the same in every chapter: the reference potential (TTM2.1-F, AMOEBA2018 or
#: GFN2-xTB, whichever the model learns) near black; the scratch controls of each chapter share one colour
MODEL_COLORS = {
    "reference": "#262626", "published": _CB[4], "pretrained": _CB[0], "finetuned": _CB[2],
    "scratch": _CB[3], "scratch-forces": _CB[3], "scratch-transfer": _CB[3],
    "transfer": _CB[9], "published-transfer": _CB[6],  # light shades of the models they were moved from
}
#: other names a model goes by in the book's tables (MD drivers, published trajectories, studies' starts)
MODEL_ALIASES = {
    "amoeba": "reference", "ttm": "reference", "TTM2.1-F (reference)": "reference",
    "ipu": "published", "pretrained only (published)": "published",
    "finetune-nonmin_only": "finetuned", "pretrained + finetuned": "finetuned",
    "scratch-nonmin_only": "scratch-forces", "scratch on non-minima": "scratch-forces",
}
#: what is not a model: selection rules, transfer strategies, the create_graph arms
CATEGORY_COLORS = {
    "active": MODEL_COLORS["finetuned"], "random": _CB[7],
    "full": MODEL_COLORS["transfer"], "body_lr": _CB[1], "frozen": _CB[7],
    "with create_graph": MODEL_COLORS["finetuned"], "without create_graph (released code)": _CB[7],
}
#: a name neither table knows
OTHER_COLOUR = _CB[5]


def model_colour(name) -> str:
    """The book's colour for a model (or rule, strategy) ``name``: the name itself, an alias, or the first word
    of a label such as ``"pretrained 250 seed 0"``."""
    name = str(name)
    for key in (name, MODEL_ALIASES.get(name), name.split()[0] if name.split() else name):
        if key in MODEL_COLORS:
            return MODEL_COLORS[key]
        if key in CATEGORY_COLORS:
            return CATEGORY_COLORS[key]
        if key in MODEL_ALIASES:
            return MODEL_COLORS[MODEL_ALIASES[key]]
    return OTHER_COLOUR


def model_palette(names) -> dict:
    """``{name: model_colour(name)}`` for seaborn's ``palette``."""
    return {n: model_colour(n) for n in dict.fromkeys(names)}


def set_style() -> None:
    """The book's plotting style and warning filters; with ``$HYDRONET_NB_CHECK_FIGURES`` set, every figure a
    cell draws in IPython is checked for overlapping text (:mod:`hydronet_nb.book.figure_check`)."""
    import matplotlib as mpl

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (6.4, 4.0),
                         "figure.constrained_layout.use": True,
                         "figure.constrained_layout.wspace": 0.04, "legend.fontsize": 8,
                         "legend.title_fontsize": 9})
    warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated.*")
    if checking():
        install_ipython_check()


def dataset_palette(names) -> dict:
    """One colour per data set name, the same in every figure."""
    colours = sns.color_palette("colorblind")
    return {n: colours[DATASET_COLOURS.get(n, 3)] for n in names}


def plain_number(value, _position=None) -> str:
    """A tick label without powers of ten: ``2,000``, ``30``, ``0.05``."""
    if value >= 1000 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.6g}"


class ReadableLogLocator(ticker.Locator):
    """Log-axis ticks a reader can read: decades, else 1-2-5, else 1-9 per decade, whichever first gives
    three ticks in view; a view narrower than that gets evenly spaced plain ticks."""

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        lo, hi = sorted((vmin, vmax))
        if hi <= 0:
            return []
        lo = lo if lo > 0 else hi / 1e3
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for subs in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
            ticks = [s * 10.0 ** d for d in decades for s in subs]
            if sum(lo <= t <= hi for t in ticks) >= 3:
                return ticks
        return [t for t in ticker.MaxNLocator(4).tick_values(lo, hi) if t > 0]


def log_axis(ax, which: str = "y", at=None):
    """Put ``ax``'s ``which`` axis on a log scale, ticked with plain numbers: at the values ``at`` when given
    (a study's sample sizes, say), else by :class:`ReadableLogLocator`; no minor tick labels."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    if at is not None:
        axis.set_major_locator(ticker.FixedLocator(sorted(set(float(a) for a in at))))
    else:
        axis.set_major_locator(ReadableLogLocator())
    axis.set_major_formatter(ticker.FuncFormatter(plain_number))
    axis.set_minor_locator(ticker.NullLocator())
    return ax


def whole_numbers(ax, which: str = "x"):
    """Ticks at whole numbers only (epochs, rounds): no "2.5" epoch."""
    (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(ticker.MaxNLocator(integer=True))
    return ax


def legend_beside(ax, title: str | None = None, **kwargs):
    """Move ``ax``'s legend (matplotlib's or seaborn's; made from its labelled artists if it has none) out of
    the data, to the right of the axes."""
    if ax.get_legend() is None:
        ax.legend()
    options = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "frameon": False}
    if title is not None:
        options["title"] = title
    sns.move_legend(ax, **{**options, **kwargs})
    return ax


def legend_above(ax, title: str | None = None, **kwargs):
    """Move ``ax``'s legend into one row above the axes, out of the data."""
    if ax.get_legend() is None:
        ax.legend()
    n = len(ax.get_legend().get_texts())
    options = {"loc": "lower left", "bbox_to_anchor": (0.0, 1.01), "borderaxespad": 0.0, "frameon": False,
               "ncols": n, "title": title}
    sns.move_legend(ax, **{**options, **kwargs})
    return ax
