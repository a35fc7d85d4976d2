"""Water, in one place: atoms, the monomer, O-H bonds, and the checks that a structure is water.

Every structure in the package is stored molecule by molecule, ``O H H O H H ...``: the layout
HydroNet uses and that the water potentials need. :func:`as_water_cluster` checks (and, for files
that list hydrogens elsewhere, regroups) a structure into that order; :func:`check_water_order`
is the quick check of an order that must already hold. Nothing here drops a structure: a bad one
raises :class:`ClusterFormatError` naming its source and the offending atom.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import InputError

#: atomic numbers used throughout
Z_O, Z_H = 8, 1
SYMBOLS = {Z_O: "O", Z_H: "H"}
#: an O-H bond longer than this (Angstrom) is not a bond: the file does not list each H after its O,
#: or (in a generated structure) the water has dissociated
MAX_OH_BOND = 1.3
#: the gas-phase water molecule: O-H 0.9572 Angstrom, H-O-H 104.52 degrees
MONOMER_OH, MONOMER_ANGLE = 0.9572, 104.52
#: that molecule's positions (Angstrom), O at the origin, O H H, in the xy plane
MONOMER = MONOMER_OH * np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0],
                                 [np.cos(np.radians(MONOMER_ANGLE)), np.sin(np.radians(MONOMER_ANGLE)), 0.0]])


class ClusterFormatError(InputError):
    """A structure that is not a water cluster, or a file that is not in the expected format."""


class WaterOrderWarning(UserWarning):
    """The file listed hydrogens away from their oxygen; they were regrouped by distance."""


def water_numbers(n_water: int) -> np.ndarray:
    """Atomic numbers ``O H H`` repeated ``n_water`` times."""
    return np.tile(np.array([Z_O, Z_H, Z_H], dtype=np.int64), n_water)


def check_water_order(z: np.ndarray, source: str) -> int:
    """Number of waters in ``z``; a :class:`ValueError` naming ``source`` unless the atoms read ``O H H`` per molecule."""
    z = np.asarray(z)
    if len(z) == 0 or len(z) % 3 or not np.array_equal(z, water_numbers(len(z) // 3)):
        raise ValueError(f"{source or 'structure'}: atoms must be water listed O H H per molecule, got {z.tolist()[:12]}...")
    return len(z) // 3


def oh_bond_lengths(pos: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The ``2N`` O-H distances (Angstrom) of waters at ``pos`` [3N, 3] (or of a cluster), ``O H H`` per molecule.

    Computed in ``dtype`` (None: the positions' own).
    """
    pos = getattr(pos, "pos", pos)
    mol = np.asarray(pos, dtype=dtype).reshape(-1, 3, 3)
    return np.linalg.norm(mol[:, 1:] - mol[:, :1], axis=-1).ravel()


def oxygen_distances(pos: np.ndarray) -> np.ndarray:
    """The ``N (N - 1) / 2`` intermolecular O...O distances (Angstrom) of waters at ``pos`` (or of a cluster)."""
    pos = getattr(pos, "pos", pos)
    o = np.asarray(pos, dtype=np.float64).reshape(-1, 3, 3)[:, 0]
    d = np.linalg.norm(o[:, None] - o[None], axis=-1)
    return d[np.triu_indices(len(o), k=1)]


def aligned_rmsd(a, b) -> float:
    """RMSD (Angstrom) between two geometries of the same cluster after optimal superposition (ASE's Kabsch fit)."""
    from ase import Atoms
    from ase.build import minimize_rotation_and_translation

    if not np.array_equal(a.z, b.z):
        raise ValueError(f"aligned_rmsd: {a.source!r} and {b.source!r} are not the same atoms")
    target = Atoms(numbers=a.z, positions=np.asarray(a.pos, dtype=np.float64))
    mobile = Atoms(numbers=b.z, positions=np.asarray(b.pos, dtype=np.float64))
    minimize_rotation_and_translation(target, mobile)
    return float(np.sqrt(((target.positions - mobile.positions) ** 2).sum(axis=1).mean()))


def as_water_cluster(
    z: np.ndarray, pos: np.ndarray, source: str, atom_lines=None, *, regroup: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``z`` is water and return ``(z, pos)`` ordered ``O H H`` per molecule.

    ``atom_lines`` gives, for messages, the file line of each atom. Where the two H after an O
    are not that O's (some real HydroNet files are like that), every H is given to its nearest O
    and a :class:`WaterOrderWarning` says so. ``regroup=False`` keeps the file's ``O H H`` order
    as the molecules (for MD frames, where a broken molecule must stay visible as broken).
    """
    z = np.asarray(z, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.float64)
    atom_lines = list(atom_lines) if atom_lines is not None else None
    where = (lambda a: f"line {atom_lines[a]}") if atom_lines else (lambda a: f"atom {a + 1}")
    for a, zz in enumerate(z):
        if zz not in SYMBOLS:
            raise ClusterFormatError(f"{source}: {where(a)} has atomic number {zz}; only O and H (water) are allowed")
    if not np.all(np.isfinite(pos)):
        a = int(np.argwhere(~np.isfinite(pos))[0, 0])
        raise ClusterFormatError(f"{source}: {where(a)} has a non-finite coordinate {pos[a].tolist()}")
    n_o, n_h = int((z == Z_O).sum()), int((z == Z_H).sum())
    if len(z) % 3 or n_h != 2 * n_o:
        raise ClusterFormatError(
            f"{source}: {len(z)} atoms with {n_o} O and {n_h} H is not water (needs 3N atoms, N O and 2N H)"
        )
    if n_o == 0:
        raise ClusterFormatError(f"{source}: no atoms")
    in_order = np.array_equal(z, water_numbers(n_o))
    if not regroup:
        if not in_order:
            a = int(np.flatnonzero(z != water_numbers(n_o))[0])
            raise ClusterFormatError(f"{source}: {where(a)} breaks the O H H order that regroup=False requires")
        return z, pos.astype(np.float32)
    if in_order and oh_bond_lengths(pos).max() <= MAX_OH_BOND:
        return z, pos.astype(np.float32)
    # regroup: every H goes to its nearest O, and each O must end up with exactly two
    o_idx, h_idx = np.flatnonzero(z == Z_O), np.flatnonzero(z == Z_H)
    d = np.linalg.norm(pos[h_idx][:, None] - pos[o_idx][None], axis=-1)  # [H, O]
    owner = d.argmin(axis=1)
    counts = np.bincount(owner, minlength=n_o)
    if np.any(counts != 2):
        bad = int(np.flatnonzero(counts != 2)[0])
        raise ClusterFormatError(
            f"{source}: cannot group into molecules: the O at {where(int(o_idx[bad]))} is the nearest O of "
            f"{counts[bad]} hydrogens (expected 2)"
        )
    order = []
    for m, o in enumerate(o_idx):
        order += [o, *h_idx[owner == m]]
    order = np.asarray(order)
    warnings.warn(
        f"{source}: hydrogens were not listed after their own oxygen; regrouped each H with its nearest O",
        WaterOrderWarning,
        stacklevel=2,
    )
    return z[order], pos[order].astype(np.float32)
