"""3D views of clusters.

py3Dmol draws with 3Dmol.js and keeps working in the static HTML of the built book, so it is the
default. nglview (``engine="nglview"``) is the richer widget for a live Jupyter kernel; its
widget does not render in static HTML. ``$HYDRONET_NB_3DMOL_JS`` replaces the CDN address of 3Dmol.js
(`make book` points it at the book's local copy, so the pages work offline).
"""
from __future__ import annotations

import os

import numpy as np

from ..data.clusters import Cluster, to_atoms, xyz_block


def show_cluster(cluster: Cluster, forces: np.ndarray | None = None, arrow_scale: float = 0.02, width=520, height=360, engine="py3dmol"):
    """A ball-and-stick view of ``cluster``; ``forces`` (kcal/mol/Angstrom) drawn as arrows."""
    if engine == "nglview":
        import nglview

        return nglview.show_ase(to_atoms(cluster))
    if engine != "py3dmol":
        raise ValueError(f"engine must be 'py3dmol' or 'nglview', got {engine!r}")
    import py3Dmol

    js = os.environ.get("HYDRONET_NB_3DMOL_JS")
    view = py3Dmol.view(width=width, height=height, **({"js": js} if js else {}))
    view.addModel(xyz_block(cluster), "xyz")
    view.setStyle({"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}})
    if forces is not None:
        for p, f in zip(cluster.pos.astype(float), np.asarray(forces, dtype=float)):
            end = p + arrow_scale * f
            view.addArrow({"start": dict(zip("xyz", p)), "end": dict(zip("xyz", end)), "radius": 0.05, "color": "red"})
    view.zoomTo()
    return view


def show_trajectory(frames, width=520, height=360, interval_ms: int = 60, every: int = 1, engine="py3dmol"):
    """An animated view of MD frames (``ase.Atoms``, ``O H H`` order) that plays in the built book too: the frames
    are inline in the page as one multi-model xyz, played by 3Dmol.js (the book's local copy under `make book`).
    ``engine="nglview"``: nglview's trajectory widget, for a live kernel (it draws nothing in a static page)."""
    if engine == "nglview":
        import nglview

        return nglview.show_asetraj(list(frames)[::every])
    if engine != "py3dmol":
        raise ValueError(f"engine must be 'py3dmol' or 'nglview', got {engine!r}")
    import py3Dmol

    from ..md.runs import xyz_text

    js = os.environ.get("HYDRONET_NB_3DMOL_JS")
    view = py3Dmol.view(width=width, height=height, **({"js": js} if js else {}))
    view.addModelsAsFrames(xyz_text(list(frames)[::every]), "xyz")
    view.setStyle({"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}})
    view.zoomTo()
    view.animate({"loop": "forward", "interval": interval_ms})
    return view
