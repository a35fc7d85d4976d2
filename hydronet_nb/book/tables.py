"""Tables as the book shows them: short headers, a format per column, the units in a caption.

A pandas table shown as it is prints the code's column names (``mae_per_water``), six decimals for every
float, and counts as floats whenever a column mixes them with fractions; at 1280 px such a table is wider
than a page's text column, which then scrolls sideways and hides the right-hand columns. :func:`table`
returns a Styler that names each column briefly, formats each one with its own spec through the book's
one formatting layer (:func:`hydronet_nb.book.formatting.as_text`: counts as integers, booleans as
yes/no, no negative zero) and says the units once, in the caption. Missing values read as a dash.
"""
from __future__ import annotations

import math

import pandas as pd

from .formatting import as_text

#: what a missing or non-finite value reads as in a table
MISSING = "–"
#: short headers for the columns the evaluation tables share (the units go in the caption)
HEADERS = {"clusters": "clusters", "mae_per_water": "E/water MAE", "rmse_per_water": "E/water RMSE",
           "force_mae": "F MAE", "f_mag": "|F<sub>mag</sub>|", "f_ang": "F<sub>ang</sub>"}
#: their formats: counts as integers, energies per water to 4 decimals, forces to 3
FORMATS = {"clusters": ",d", "mae_per_water": ".4f", "rmse_per_water": ".4f", "force_mae": ".3f",
           "f_mag": ".3f", "f_ang": ".3f"}


def cell_text(value, spec: str = "") -> str:
    """One cell as the book prints it: :func:`as_text`, :data:`MISSING` for a missing value, a string as it is."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, str):  # a word in a column of numbers ("all")
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return as_text(value, spec)


def table(frame: pd.DataFrame | pd.Series, formats: dict | None = None, headers: dict | None = None,
          caption: str | None = None, default: str = ".4g"):
    """``frame`` as a compact Styler.

    ``formats``: column -> format spec (``".3f"``, ``",d"``, ``".0%"``; a column of a two-level header is
    named by its top label or by the pair); columns not named get ``default``. ``headers``: label ->
    shorter label, for columns, index names and index values alike (both add to :data:`FORMATS` and
    :data:`HEADERS`). ``caption``: a line above the table (the units). Named row labels become the first
    columns, so that no header row holds only the index's name; unnamed ones stay; row numbers are hidden.
    """
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame.copy()
    formats, headers = {**FORMATS, **(formats or {})}, {**HEADERS, **(headers or {})}
    specs = {}
    for column in frame.columns:
        top = column[0] if isinstance(column, tuple) else column
        specs[column] = formats.get(column, formats.get(top, default))
    named = any(name is not None for name in frame.index.names)
    if named:
        frame = frame.reset_index()
        for name in frame.columns[: frame.shape[1] - len(specs)]:
            specs[name] = ""
    styler = frame.style.format({c: (lambda x, s=s: cell_text(x, s)) for c, s in specs.items()})
    styler = styler.format_index(lambda label: headers.get(label, label), axis="columns")
    styler = styler.format_index(lambda label: headers.get(label, label), axis="index")
    if named or isinstance(frame.index, pd.RangeIndex):  # row numbers say nothing
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler
