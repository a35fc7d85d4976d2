"""A check that no two pieces of text in a figure are drawn over each other.

:func:`overlapping_text` draws a figure and compares the window extents of its texts: the tick labels
of every axis, axis labels, titles, legends (as one box each), annotations and free texts. Empty and
invisible texts do not count. A text of one axes over the plotting area of another (a y label running
into the neighbouring panel, top-row x labels under the bottom row) counts too. A rotated text is
compared by its rotated rectangle, not by the larger upright box around it, so slanted tick labels side
by side are not reported.

With ``$HYDRONET_NB_CHECK_FIGURES`` set, :func:`hydronet_nb.book.plots.set_style` calls
:func:`install_ipython_check`: in an IPython kernel each open figure is checked after a cell ran and
before the inline backend shows it, and a collision fails the cell with :class:`FigureOverlapError`.
"""
from __future__ import annotations

import os

import numpy as np

#: set (to anything but "" or "0") to check every figure a chapter draws
CHECK_ENV = "HYDRONET_NB_CHECK_FIGURES"
#: how far (pixels) two extents must reach into each other to count: anti-aliased edges touch
TOLERANCE_PX = 1.0


class FigureOverlapError(AssertionError):
    """Texts of a figure are drawn over each other."""


def _corners(text, renderer) -> np.ndarray:
    """The four corners (pixels) of ``text``'s rectangle, rotated as it is drawn."""
    box = text.get_window_extent(renderer)
    angle = np.deg2rad(text.get_rotation() % 180)
    if np.isclose(np.sin(angle), 0) or np.isclose(np.cos(angle), 0):
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    # the upright box is the bounding box of the rotated rectangle, so both share a centre; the rectangle's
    # own width and height solve box.width = w|cos| + h|sin|, box.height = w|sin| + h|cos|
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    w, h = np.linalg.solve([[c, s], [s, c]], [box.width, box.height]) if not np.isclose(c, s) else (box.width, 0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return half @ rot.T + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _separated(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a line separates the convex polygons ``a`` and ``b`` (separating-axis test)."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            if not normal.any():
                continue
            normal = normal / np.linalg.norm(normal)
            pa, pb = a @ normal, b @ normal
            if pa.max() - TOLERANCE_PX <= pb.min() or pb.max() - TOLERANCE_PX <= pa.min():
                return True
    return False


def _shown(text) -> bool:
    return text.get_visible() and bool(text.get_text().strip()) and text.get_alpha() != 0


def _describe(text, where: str) -> str:
    return f"{where} {text.get_text()!r}"


def _axes_texts(ax, renderer) -> list[tuple[str, object, str]]:
    """``(group, artist, description)`` of every text an axes draws; tick labels grouped per axis."""
    name = _axes_name(ax)
    items = []
    for axis_name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        ticks = axis.get_major_ticks() + axis.get_minor_ticks()
        lo, hi = sorted(axis.get_view_interval())
        for tick in ticks:
            if not lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                continue  # tick locators return ticks beyond the view; they are not drawn
            for label in (tick.label1, tick.label2):
                if _shown(label):
                    items.append((f"{id(ax)}{axis_name}", label, _describe(label, f"[{name}] {axis_name} tick")))
        label = axis.get_label()
        if _shown(label):
            items.append(("", label, _describe(label, f"[{name}] {axis_name} label")))
        offset = axis.get_offset_text()
        if _shown(offset):
            items.append(("", offset, _describe(offset, f"[{name}] {axis_name} offset")))
    for title in (ax.title, ax._left_title, ax._right_title):
        if _shown(title):
            items.append(("", title, _describe(title, f"[{name}] title")))
    for text in ax.texts:  # ax.text and ax.annotate
        if _shown(text):
            items.append(("", text, _describe(text, f"[{name}] text")))
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        items.append(("", legend, f"[{name}] legend"))
    return items


def _rectangle(box) -> np.ndarray:
    return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])


def _axes_name(ax) -> str:
    return ax.get_title() or ax.get_ylabel() or ax.get_xlabel() or f"axes {ax.get_label()}"


def overlapping_text(fig) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` whose drawn extents intersect, and texts over another axes' plotting area,
    each described with its axes (``"[title] plotting area"`` for an area).

    The figure is drawn first (``fig.canvas.draw()``), so layout engines have placed everything."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    items = []  # (owner axes or None, tick group, artist, description)
    for ax in axes:
        items += [(ax, group, artist, text) for group, artist, text in _axes_texts(ax, renderer)]
    for text in fig.texts:
        if _shown(text):
            items.append((None, "", text, _describe(text, "[figure] text")))
    for legend in fig.legends:
        if legend.get_visible():
            items.append((None, "", legend, "[figure] legend"))
    if fig._suptitle is not None and _shown(fig._suptitle):
        items.append((None, "", fig._suptitle, _describe(fig._suptitle, "[figure] suptitle")))

    shapes = []
    for owner, group, artist, description in items:
        # a legend counts by its frame
        shape = _corners(artist, renderer) if hasattr(artist, "get_rotation") else _rectangle(
            artist.get_window_extent(renderer))
        shapes.append((owner, description, shape))
    found = []
    for i, (_, text_a, a) in enumerate(shapes):
        for _, text_b, b in shapes[i + 1:]:
            if not _separated(a, b):
                found.append((text_a, text_b))
    areas = [(ax, ax.get_window_extent(renderer)) for ax in axes]
    for owner, text, shape in shapes:
        own = owner.get_window_extent(renderer) if owner is not None else None
        for ax, area in areas:
            if ax is owner or (own is not None and np.allclose(area.bounds, own.bounds)):
                continue  # its own axes, or a twin sharing the area
            if not _separated(shape, _rectangle(area)):
                found.append((text, f"[{_axes_name(ax)}] plotting area"))
    return found


def check_figure(fig) -> None:
    """Raise :class:`FigureOverlapError` naming the colliding texts of ``fig``, if any."""
    found = overlapping_text(fig)
    if found:
        names = [ax.get_title() or ax.get_ylabel() for ax in fig.axes if ax.get_visible()]
        shown = "; ".join(n for n in names if n) or "untitled"
        lines = "\n".join(f"  {a}  over  {b}" for a, b in found)
        raise FigureOverlapError(f"figure ({shown}): {len(found)} pairs of texts overlap:\n{lines}")


def check_open_figures() -> None:
    """:func:`check_figure` on every open pyplot figure; one error naming all the figures that fail."""
    import matplotlib.pyplot as plt

    errors = []
    for number in plt.get_fignums():
        try:
            check_figure(plt.figure(number))
        except FigureOverlapError as error:
            errors.append(str(error))
    if errors:
        raise FigureOverlapError("overlapping text in a figure of this cell\n" + "\n".join(errors))


def checking() -> bool:
    """True when ``$HYDRONET_NB_CHECK_FIGURES`` asks for the check."""
    return os.environ.get(CHECK_ENV, "") not in ("", "0")


#: the error found after the cell ran, reported when IPython builds the cell's result
_pending: list[FigureOverlapError] = []


def _after_execute() -> None:
    _pending.clear()  # a finding of a silent execution (no post_run_cell) is not the next cell's
    try:
        check_open_figures()
    except FigureOverlapError as error:
        _pending.append(error)


def _after_run_cell(result) -> None:
    if not _pending:
        return
    error = _pending.pop()
    _pending.clear()
    from IPython import get_ipython

    get_ipython().showtraceback((type(error), error, None))  # the message alone: the cell's code is not at fault
    if result is not None and result.error_in_exec is None and result.error_before_exec is None:
        result.error_in_exec = error  # the kernel then answers the cell with an error: nbclient stops there


def install_ipython_check() -> bool:
    """In IPython, check every open figure after each cell, before the inline backend shows and closes it.

    The inline backend shows figures in its own ``post_execute`` callback, so the check goes in front of
    it; a collision marks the cell as failed (``post_run_cell``). Returns False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    events = shell.events
    if _after_execute not in events.callbacks["post_execute"]:
        # events.register appends; the check must run before matplotlib_inline's flush_figures
        events.callbacks["post_execute"].insert(0, _after_execute)
    if _after_run_cell not in events.callbacks["post_run_cell"]:
        events.register("post_run_cell", _after_run_cell)
    return True
