"""3D views of clusters.

py3Dmol draws with 3Dmol.js and keeps working in the static HTML of the built book, so it is the
default for single clusters. nglview is the richer widget for a live Jupyter kernel (it draws nothing
in static HTML): trajectories use it live and py3Dmol in the built book (``engine="auto"``; the book's
build sets ``$HYDRONET_NB_STATIC``). ``$HYDRONET_NB_3DMOL_JS`` replaces the CDN address of 3Dmol.js:
`make book` points it at the book's local copy and `make lab` at the same file served by JupyterLab, so
views draw offline; a view whose 3Dmol.js does not load says so in one line instead of staying blank.
"""
from __future__ import annotations

import html
import os
import warnings

import numpy as np

from ..data.clusters import Cluster, to_atoms, xyz_block
from .notebook import live

JS_ENV = "HYDRONET_NB_3DMOL_JS"
CDN = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js"  # py3Dmol 2.5.5's own default
#: seconds a view waits for 3Dmol.js before it says why it is empty
LOAD_WAIT_S = 10


def _engine(engine: str, live_default: str) -> str:
    if engine == "auto":
        return live_default if live() else "py3dmol"
    if engine not in ("py3dmol", "nglview"):
        raise ValueError(f"engine must be 'auto', 'py3dmol' or 'nglview', got {engine!r}")
    return engine


def _nglview():
    with warnings.catch_warnings():  # nglview 3.1.4 imports pkg_resources, which warns about itself
        warnings.simplefilter("ignore", UserWarning)
        import nglview
    return nglview


class View:
    """A py3Dmol view that displays itself as HTML only (py3Dmol's own object also prints
    ``<py3Dmol.view at 0x...>``), with a line in place of the view when 3Dmol.js cannot be loaded
    (py3Dmol's loader has no error path: the box stays blank and every later view waits forever).
    Other attributes are the py3Dmol view's (``addArrow``, ``setStyle``, ...)."""

    def __init__(self, width: int, height: int):
        import py3Dmol

        self.js = os.environ.get(JS_ENV) or CDN
        self.view = py3Dmol.view(width=width, height=height, js=self.js)

    def __getattr__(self, name):
        return getattr(self.__dict__["view"], name)

    def _repr_mimebundle_(self, include=None, exclude=None):
        page = self.view._make_html()
        div = f"3dmolviewer_{self.view.uniqueid}"
        note = html.escape(f"This 3D view is empty: 3Dmol.js did not load from {self.js} (offline?). "
                           f"`make lab` and `make book` use the book's local copy (${JS_ENV}).")
        check = (f"<script>setTimeout(function() {{ if (typeof $3Dmol === 'undefined') {{"
                 f" var d = document.getElementById('{div}'); if (d) {{ d.style.height = 'auto';"
                 f" d.innerHTML = '<p class=\"view-failed\">{note}</p>'; }}"
                 f" window.$3Dmolpromise = undefined; }} }}, {LOAD_WAIT_S * 1000});</script>")
        return {"text/html": page + check}

    def show(self):
        """Display the view now (as a cell's last value does)."""
        from IPython.display import display

        display(self)


def show_cluster(cluster: Cluster, forces: np.ndarray | None = None, arrow_scale: float = 0.02, width=520, height=360,
                 engine="py3dmol"):
    """A ball-and-stick view of ``cluster``; ``forces`` (kcal/mol/Angstrom) drawn as arrows (py3Dmol only)."""
    if _engine(engine, "py3dmol") == "nglview":
        return _nglview().show_ase(to_atoms(cluster))
    view = View(width, height)
    view.addModel(xyz_block(cluster), "xyz")
    view.setStyle({"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}})
    if forces is not None:
        for p, f in zip(cluster.pos.astype(float), np.asarray(forces, dtype=float)):
            end = p + arrow_scale * f
            view.addArrow({"start": dict(zip("xyz", p)), "end": dict(zip("xyz", end)), "radius": 0.05, "color": "red"})
    view.zoomTo()
    return view


def show_trajectory(frames, width=520, height=360, interval_ms: int = 60, every: int = 1, engine="auto"):
    """An animated view of MD frames (``ase.Atoms``, ``O H H`` order), playing in a loop. Live (``auto``):
    nglview's trajectory widget with its player started. In the built book (``auto`` with
    ``$HYDRONET_NB_STATIC``, or ``py3dmol``): the frames inline in the page as one multi-model xyz, played by
    3Dmol.js."""
    frames = list(frames)[::every]
    if _engine(engine, "nglview") == "nglview":
        widget = _nglview().show_asetraj(frames)
        play = widget._iplayer.children[0]  # nglview's Play widget (its public API has no play())
        play.interval, play.repeat = interval_ms, True

        def start(change):  # ipywidgets' player starts on a change of `playing` it sees, not on its first state
            if change["new"]:
                play.playing = True

        widget.observe(start, names="loaded")  # nglview sets `loaded` when the page has drawn the stage
        return widget
    from ..md.runs import xyz_text

    view = View(width, height)
    view.addModelsAsFrames(xyz_text(frames), "xyz")
    view.setStyle({"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}})
    view.zoomTo()
    view.animate({"loop": "forward", "interval": interval_ms})
    return view
