"""Water, in one place: atoms, the monomer, O-H bonds, and the checks that a structure is water.

Every structure in the package is stored molecule by molecule, ``O H H O H H ...``: the layout
HydroNet uses and that the water potentials need. :func:`as_water_cluster` checks (and, for files
that list hydrogens elsewhere, regroups) a structure into that order; :func:`check_water_order`
is the quick check of an order that must already hold. Nothing here drops a structure: a bad one
raises :class:`ClusterFormatError` naming its source and the offending atom.

:func:`check_structure` is the one check before a model sees a structure (``predict``, the ASE calculator,
the xyz reader): O and H only, two H per O, finite, and a geometry a water cluster can have -- no two atoms
closer than :data:`MIN_DISTANCE`, every H within :data:`MAX_OH_BOND` of an O, no atom of another molecule
closer than :data:`MIN_NONBONDED`, and coordinates in Angstrom (Bohr, nm and the like are recognised by the
O-H bond lengths and the span of the cluster, and named). The limits hold with room to spare on every data
set the book reads, hot MD non-minima included. ``geometry=False`` (``predict --no-structure-checks``) is
the expert's way past the geometry checks.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.distance import cdist

from ..errors import InputError

#: atomic numbers used throughout
Z_O, Z_H = 8, 1
SYMBOLS = {Z_O: "O", Z_H: "H"}
#: an O-H bond longer than this (Angstrom) is not a bond: the file does not list each H after its O,
#: or (in a generated structure) the water has dissociated
MAX_OH_BOND = 1.3
#: no two atoms closer than this (Angstrom); the shortest pair in the book's data is an O-H bond of 0.88
MIN_DISTANCE = 0.7
#: no atom closer than this (Angstrom) to an atom of another molecule, nor H to H; the book's data: 1.35
MIN_NONBONDED = 1.0
#: coordinates scaled by a unit mistake, recognised by the O-H bonds: factor over Angstrom -> what it means
UNIT_MISTAKES = {
    1 / 0.529177: "coordinates in Bohr (multiply by 0.529177 for Angstrom)",
    0.1: "coordinates in nm (multiply by 10 for Angstrom)",
    0.529177: "Angstrom coordinates converted as if they were Bohr (divide by 0.529177)",
    10.0: "Angstrom coordinates converted as if they were nm (divide by 10)",
    100.0: "coordinates in pm (divide by 100 for Angstrom)",
}
#: how to get past the geometry checks, named in every message about them
OVERRIDE = "experts can skip these checks: `predict --no-structure-checks`, or structure_checks=False in Python"
#: the gas-phase water molecule: O-H 0.9572 Angstrom, H-O-H 104.52 degrees
MONOMER_OH, MONOMER_ANGLE = 0.9572, 104.52
#: that molecule's positions (Angstrom), O at the origin, O H H, in the xy plane
MONOMER = MONOMER_OH * np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0],
                                 [np.cos(np.radians(MONOMER_ANGLE)), np.sin(np.radians(MONOMER_ANGLE)), 0.0]])


class ClusterFormatError(InputError):
    """A structure that is not a water cluster, or a file that is not in the expected format."""


class StructureError(ClusterFormatError):
    """A structure a model must not be given: not water, or a geometry no water cluster has."""


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


def _unit_mistake(ratio: float) -> str:
    """What a uniform scale of ``ratio`` over water's geometry most likely is."""
    factor = min(UNIT_MISTAKES, key=lambda f: abs(np.log(ratio / f)))
    if abs(np.log(ratio / factor)) < np.log(1.25):
        return UNIT_MISTAKES[factor]
    return "the coordinates do not look like Angstrom"


def check_structure(z: np.ndarray, pos: np.ndarray, source: str, atom_lines=None, *, geometry: bool = True) -> None:
    """Raise :class:`StructureError` naming ``source`` unless ``(z, pos)`` is a water cluster a model may see.

    Always: at least one atom, O and H only, finite coordinates, two H per O. With ``geometry`` (the
    default; ``False`` is the expert's override): coordinates in Angstrom (a cluster whose O-H bonds are all
    about 1.89x water's is in Bohr, 0.1x in nm, and is named so, with its span), every O the nearest O of
    two H, no two atoms closer than :data:`MIN_DISTANCE`, every H within :data:`MAX_OH_BOND` of its O, and no
    atom closer than :data:`MIN_NONBONDED` to another that is not its O-H partner. Atoms may be listed in any
    order; ``atom_lines`` (the file line of each atom) makes messages say "line N" instead of "atom N".
    """
    z = np.asarray(z).reshape(-1)
    pos = np.asarray(pos, dtype=np.float64)
    atom_lines = list(atom_lines) if atom_lines is not None else None
    where = (lambda a: f"line {atom_lines[a]}") if atom_lines else (lambda a: f"atom {a + 1}")
    if len(z) == 0:
        raise StructureError(f"{source}: no atoms (an empty structure)")
    if pos.shape != (len(z), 3):
        raise StructureError(f"{source}: {len(z)} atoms but positions of shape {tuple(pos.shape)}")
    unknown = np.flatnonzero(~np.isin(z, list(SYMBOLS)))
    if len(unknown):
        a = int(unknown[0])
        raise StructureError(f"{source}: {where(a)} has atomic number {z[a]}; only O and H (water) are allowed")
    if not np.all(np.isfinite(pos)):
        a = int(np.argwhere(~np.isfinite(pos))[0, 0])
        raise StructureError(f"{source}: {where(a)} has a non-finite coordinate {pos[a].tolist()}")
    n_o, n_h = int((z == Z_O).sum()), int((z == Z_H).sum())
    if len(z) % 3 or n_h != 2 * n_o:
        raise StructureError(
            f"{source}: {len(z)} atoms with {n_o} O and {n_h} H is not water (needs 3N atoms, N O and 2N H)"
        )
    if not geometry:
        return
    sym = lambda a: SYMBOLS[int(z[a])]  # noqa: E731
    d = cdist(pos, pos)
    np.fill_diagonal(d, np.inf)
    o_idx, h_idx = np.flatnonzero(z == Z_O), np.flatnonzero(z == Z_H)
    d_ho = d[np.ix_(h_idx, o_idx)]
    owner = d_ho.argmin(axis=1)
    bond = d_ho[np.arange(len(h_idx)), owner]
    # a unit mistake scales every bond alike: all O-H bonds far from water's, and close to one another
    ratio = bond / MONOMER_OH
    scale = float(np.median(ratio))
    if (scale < 0.75 or scale > 1.35) and ratio.min() > 0 and ratio.max() / ratio.min() < 1.6:
        raise StructureError(
            f"{source}: the O-H bonds are {np.median(bond):.3f} Angstrom (median; water's is {MONOMER_OH}), "
            f"{scale:.3g}x, and the cluster spans {np.ptp(pos, axis=0).max():.3g} Angstrom: {_unit_mistake(scale)}; "
            f"{OVERRIDE}"
        )
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    i, j = min(i, j), max(i, j)
    overlap = (f"{where(i)} ({sym(i)}) and {where(j)} ({sym(j)}) are {d[i, j]:.3f} Angstrom apart, "
               f"closer than {MIN_DISTANCE} (overlapping atoms)")
    counts = np.bincount(owner, minlength=n_o)
    if np.any(counts != 2):
        bad = int(np.flatnonzero(counts != 2)[0])
        raise StructureError(
            f"{source}: cannot group into molecules: the O at {where(int(o_idx[bad]))} is the nearest O of "
            f"{counts[bad]} hydrogens (expected 2)" + (f"; {overlap}" if d[i, j] < MIN_DISTANCE else "")
            + f"; {OVERRIDE}"
        )
    if d[i, j] < MIN_DISTANCE:
        raise StructureError(f"{source}: {overlap}; {OVERRIDE}")
    if bond.max() > MAX_OH_BOND:
        h = int(np.argmax(bond))
        raise StructureError(
            f"{source}: the H at {where(int(h_idx[h]))} is {bond[h]:.3f} Angstrom from its nearest O (at "
            f"{where(int(o_idx[owner[h]]))}), more than {MAX_OH_BOND}: a broken water molecule; {OVERRIDE}"
        )
    nonbonded = d.copy()
    nonbonded[h_idx, o_idx[owner]] = nonbonded[o_idx[owner], h_idx] = np.inf
    i, j = np.unravel_index(int(np.argmin(nonbonded)), d.shape)
    if nonbonded[i, j] < MIN_NONBONDED:
        i, j = min(i, j), max(i, j)
        raise StructureError(
            f"{source}: {where(i)} ({sym(i)}) and {where(j)} ({sym(j)}) are {d[i, j]:.3f} Angstrom apart, closer "
            f"than {MIN_NONBONDED} for atoms that are not an O-H bond; {OVERRIDE}"
        )


def _suspects(z: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Which of the clusters ``pos`` [B, n, 3] (all with atoms ``z``, O and H, 2 H per O) may fail the geometry
    checks of :func:`check_structure`: the vectorised screen that spares a data set one call per cluster."""
    pos = np.asarray(pos, dtype=np.float64)
    pos = pos - pos.mean(axis=1, keepdims=True)
    sq = (pos ** 2).sum(axis=2)
    d = np.sqrt(np.maximum(sq[:, :, None] + sq[:, None] - 2 * pos @ pos.transpose(0, 2, 1), 0.0))
    d[:, np.arange(len(z)), np.arange(len(z))] = np.inf
    o_idx, h_idx = np.flatnonzero(z == Z_O), np.flatnonzero(z == Z_H)
    d_ho = d[:, h_idx][:, :, o_idx]
    owner = d_ho.argmin(axis=2)
    bond = np.take_along_axis(d_ho, owner[..., None], axis=2)[..., 0]
    scale = np.median(bond, axis=1) / MONOMER_OH
    counts = (owner[:, :, None] == np.arange(len(o_idx))).sum(axis=1)
    rows = np.arange(len(pos))[:, None]
    d[rows, h_idx, o_idx[owner]] = d[rows, o_idx[owner], h_idx] = np.inf
    return ((scale < 0.75) | (scale > 1.35) | (counts != 2).any(axis=1) | (bond.max(axis=1) > MAX_OH_BOND)
            | (bond.min(axis=1) < MIN_DISTANCE) | (d.min(axis=(1, 2)) < MIN_NONBONDED))


def check_structures(z: np.ndarray, pos: np.ndarray, offsets: np.ndarray, label, *, geometry: bool = True) -> None:
    """:func:`check_structure` on every cluster of flat arrays (cluster ``i``: rows ``offsets[i]:offsets[i + 1]``),
    ``label(i)`` naming it; clusters of one layout are screened together, and only a suspect one is checked
    alone (the one that raises)."""
    n_atoms = np.diff(offsets)
    if len(n_atoms) == 0:
        raise StructureError("no structures")
    for i in np.flatnonzero(n_atoms % 3 != 0)[:1]:
        check_structure(z[offsets[i]:offsets[i + 1]], pos[offsets[i]:offsets[i + 1]], label(i), geometry=geometry)
    if not np.isin(z, list(SYMBOLS)).all() or not np.isfinite(pos).all() or not geometry:
        for i in range(len(n_atoms)):
            check_structure(z[offsets[i]:offsets[i + 1]], pos[offsets[i]:offsets[i + 1]], label(i), geometry=geometry)
        return
    for n in np.unique(n_atoms):
        rows = np.flatnonzero(n_atoms == n)
        atoms = offsets[rows][:, None] + np.arange(n)
        layouts = z[atoms]
        for layout in np.unique(layouts, axis=0):
            same = rows[(layouts == layout).all(axis=1)]
            if (layout == Z_H).sum() != 2 * (layout == Z_O).sum() or n == 0:
                suspects = same[:1]
            else:
                suspects = []
                for chunk in range(0, len(same), 256):  # about 256 x 90 x 90 distances at a time
                    part = same[chunk:chunk + 256]
                    suspects += list(part[_suspects(layout, pos[offsets[part][:, None] + np.arange(n)])])
            for i in suspects:
                check_structure(z[offsets[i]:offsets[i + 1]], pos[offsets[i]:offsets[i + 1]], label(i))


def as_water_cluster(
    z: np.ndarray, pos: np.ndarray, source: str, atom_lines=None, *, regroup: bool = True, geometry: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``z`` is water and return ``(z, pos)`` ordered ``O H H`` per molecule.

    ``atom_lines`` gives, for messages, the file line of each atom. Where the two H after an O
    are not that O's (some real HydroNet files are like that), every H is given to its nearest O
    and a :class:`WaterOrderWarning` says so. ``regroup=False`` keeps the file's ``O H H`` order
    as the molecules (for MD frames, where a broken molecule must stay visible as broken). ``geometry`` adds
    the geometry checks of :func:`check_structure` (before any regrouping: a cluster in Bohr is named, not
    regrouped); the others always run.
    """
    z = np.asarray(z, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.float64)
    atom_lines = list(atom_lines) if atom_lines is not None else None
    where = (lambda a: f"line {atom_lines[a]}") if atom_lines else (lambda a: f"atom {a + 1}")
    check_structure(z, pos, source, atom_lines, geometry=geometry)
    n_o = int((z == Z_O).sum())
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
