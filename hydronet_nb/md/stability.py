"""Is a water cluster still a water cluster? Per-frame measures and the first frame where a run broke.

Per frame (:func:`frame_measures`, positions in ``O H H`` order per molecule, Angstrom): the longest
O-H bond, the smallest and largest H-O-H angle, the shortest intermolecular O...O distance, the number
of pieces the cluster falls into (molecules linked when their oxygens are closer than
:attr:`Criteria.link`), and whether positions (and forces, when given) are finite. A run fails at the
first frame where one criterion of :class:`Criteria` breaks (:func:`first_failure`). The thresholds,
and why:

* ``max_oh = 1.5``: a water O-H bond is 0.96 Angstrom and vibrates by a few hundredths at 300 K; at 1.5
  it is half way to a hydroxide and a free proton, which no model of this book was trained on;
* ``hoh = (60, 150)`` degrees: the H-O-H bend is 104.5 +- about 10 degrees at 300 K;
* ``min_oo = 2.1``: the closest O...O contacts in the data are about 2.4 Angstrom; below 2.1 two
  molecules overlap;
* ``link = 4.5`` and ``pieces = 1``: hydrogen-bonded neighbours sit at 2.6-3.2 Angstrom, second
  neighbours at 4.5; a molecule with no oxygen within 4.5 Angstrom has left the cluster.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

#: the columns of a frame table
MEASURES = ("max_oh", "min_hoh", "max_hoh", "min_oo", "pieces", "finite")


@dataclass(frozen=True)
class Criteria:
    """Thresholds of an intact water cluster (Angstrom, degrees); see the module's text for the reasons."""

    max_oh: float = 1.5
    hoh: tuple = (60.0, 150.0)
    min_oo: float = 2.1
    link: float = 4.5
    pieces: int = 1

    def broken(self, m: dict) -> str | None:
        """Why the frame with measures ``m`` is broken, or None."""
        if not m["finite"]:
            return "positions or forces not finite"
        if m["max_oh"] > self.max_oh:
            return f"O-H bond {m['max_oh']:.2f} Å > {self.max_oh}"
        if m["min_hoh"] < self.hoh[0]:
            return f"H-O-H angle {m['min_hoh']:.0f}° < {self.hoh[0]:.0f}°"
        if m["max_hoh"] > self.hoh[1]:
            return f"H-O-H angle {m['max_hoh']:.0f}° > {self.hoh[1]:.0f}°"
        if m["min_oo"] < self.min_oo:
            return f"O...O distance {m['min_oo']:.2f} Å < {self.min_oo}"
        if m["pieces"] > self.pieces:
            return f"{m['pieces']} pieces (no O within {self.link} Å)"
        return None


def frame_measures(pos, forces=None, link: float = Criteria.link) -> dict:
    """The measures of one frame (positions ``[3N, 3]`` in ``O H H`` order, Angstrom)."""
    pos = np.asarray(pos, dtype=np.float64)
    finite = bool(np.isfinite(pos).all() and (forces is None or np.isfinite(np.asarray(forces)).all()))
    if not finite:
        return {"max_oh": np.nan, "min_hoh": np.nan, "max_hoh": np.nan, "min_oo": np.nan, "pieces": -1,
                "finite": False}
    mol = pos.reshape(-1, 3, 3)
    bonds = mol[:, 1:] - mol[:, :1]
    lengths = np.linalg.norm(bonds, axis=-1)
    cos = np.einsum("ij,ij->i", bonds[:, 0], bonds[:, 1]) / np.maximum(lengths.prod(axis=1), 1e-12)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    o = mol[:, 0]
    d = np.linalg.norm(o[:, None] - o[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    pieces = connected_components(csr_matrix(d < link), directed=False)[0] if len(o) > 1 else 1
    return {"max_oh": float(lengths.max()), "min_hoh": float(angles.min()), "max_hoh": float(angles.max()),
            "min_oo": float(d.min()) if len(o) > 1 else np.inf, "pieces": int(pieces), "finite": True}


def first_failure(frames, criteria: Criteria = Criteria()) -> tuple[int | None, str | None]:
    """``(index, reason)`` of the first broken frame of a sequence of measure dicts, or ``(None, None)``."""
    for k, m in enumerate(frames):
        reason = criteria.broken(m)
        if reason is not None:
            return k, reason
    return None, None
