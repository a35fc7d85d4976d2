"""Quality checks of generated structures: broken clusters (dissociated, fragmented) and duplicate minima."""
from __future__ import annotations

import bisect

import numpy as np

from ..data.water import MAX_OH_BOND, oh_bond_lengths

#: a cluster is broken when an O-H bond is longer than this (dissociated water) ...
BROKEN_OH = MAX_OH_BOND
#: ... or when its molecules do not form one connected graph with O-O edges up to this length (fragmented)
BROKEN_OO = 4.0
#: two minima of a size are the same when energies differ by at most this (kcal/mol) and sorted distances by at most that (Angstrom)
DUPLICATE_ENERGY, DUPLICATE_DISTANCE = 0.01, 0.02


def why_broken(pos: np.ndarray) -> str | None:
    """``'dissociated'``, ``'fragmented'`` or None for a cluster at ``pos`` [3N, 3] (O H H order)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import pdist, squareform

    mols = pos.reshape(-1, 3, 3)
    if oh_bond_lengths(pos, dtype=None).max() > BROKEN_OH:
        return "dissociated"
    if len(mols) > 1:
        near = squareform(pdist(mols[:, 0])) <= BROKEN_OO
        if connected_components(near, directed=False)[0] > 1:
            return "fragmented"
    return None


def fingerprint(pos: np.ndarray) -> np.ndarray:
    """All interatomic distances, sorted: the same for any order of molecules or of a molecule's hydrogens, and any rigid motion."""
    from scipy.spatial.distance import pdist

    return np.sort(pdist(pos))


def unique_indices(energies: np.ndarray, positions: list[np.ndarray]) -> list[int]:
    """Indices of the structures (one size) that are not duplicates of an earlier one; the first of a group stays."""
    kept_e: list[float] = []  # sorted energies of kept structures, with their fingerprints alongside
    kept_fp: list[np.ndarray] = []
    keep = []
    for i, (e, pos) in enumerate(zip(energies, positions)):
        fp = fingerprint(pos)
        lo, hi = bisect.bisect_left(kept_e, e - DUPLICATE_ENERGY), bisect.bisect_right(kept_e, e + DUPLICATE_ENERGY)
        if any(np.abs(kept_fp[j] - fp).max() <= DUPLICATE_DISTANCE for j in range(lo, hi)):
            continue
        at = bisect.bisect(kept_e, e)
        kept_e.insert(at, e)
        kept_fp.insert(at, fp)
        keep.append(i)
    return keep


