"""Geometry of water clusters: bond lengths, alignment, displacement."""
from __future__ import annotations

import numpy as np
from ase.build import minimize_rotation_and_translation

from ..model.calculator import to_atoms
from .clusters import Cluster


def oh_bond_lengths(cluster: Cluster) -> np.ndarray:
    """The ``2N`` O-H distances of each molecule, taking the file's ``O H H`` order as molecules."""
    p = cluster.pos.reshape(-1, 3, 3).astype(np.float64)
    return np.linalg.norm(p[:, 1:] - p[:, :1], axis=-1).ravel()


def aligned_rmsd(a: Cluster, b: Cluster) -> float:
    """RMSD (Angstrom) between two geometries of the same cluster after optimal superposition."""
    if not np.array_equal(a.z, b.z):
        raise ValueError(f"aligned_rmsd: {a.source!r} and {b.source!r} are not the same atoms")
    target, mobile = to_atoms(a), to_atoms(b)
    minimize_rotation_and_translation(target, mobile)
    return float(np.sqrt(((target.positions - mobile.positions) ** 2).sum(axis=1).mean()))
