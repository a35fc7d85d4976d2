"""Water clusters in memory: one small record per structure, checks that it is water, batching.

A cluster is stored molecule by molecule, ``O H H O H H ...``: the layout HydroNet uses and that
the water potentials need. Nothing here drops a structure: a bad one raises an error that names
its source and the offending atom.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

#: atomic numbers used throughout
Z_O, Z_H = 8, 1
SYMBOLS = {Z_O: "O", Z_H: "H"}
#: an O-H bond longer than this (Angstrom) means the file does not list each H after its O
MAX_OH_BOND = 1.3


class ClusterFormatError(ValueError):
    """A structure that is not a water cluster, or a file that is not in the expected format."""


@dataclass
class Cluster:
    z: np.ndarray  # [atoms] int64 atomic numbers
    pos: np.ndarray  # [atoms, 3] float32, Angstrom
    energy: float | None = None  # reference total energy, kcal/mol, if known
    forces: np.ndarray | None = None  # [atoms, 3] reference forces -dE/dx, kcal/mol/Angstrom, if known
    source: str = ""  # where it came from, for messages ("file.xyz frame 3")
    info: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])

    @property
    def n_water(self) -> int:
        return self.n_atoms // 3


class WaterOrderWarning(UserWarning):
    """The file listed hydrogens away from their oxygen; they were regrouped by distance."""


def as_water_cluster(
    z: np.ndarray, pos: np.ndarray, source: str, atom_lines: list[int] | None = None, *, regroup: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``z`` is water and return ``(z, pos)`` ordered ``O H H`` per molecule.

    ``atom_lines`` gives, for messages, the file line of each atom. Where the two H after an O
    are not that O's (some real HydroNet files are like that), every H is given to its nearest O
    and a :class:`WaterOrderWarning` says so. ``regroup=False`` keeps the file's ``O H H`` order
    as the molecules (for MD frames, where a broken molecule must stay visible as broken).
    """
    z = np.asarray(z, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.float64)
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
    in_order = np.array_equal(z, np.tile([Z_O, Z_H, Z_H], n_o))
    if not regroup:
        if not in_order:
            a = int(np.flatnonzero(z != np.tile([Z_O, Z_H, Z_H], n_o))[0])
            raise ClusterFormatError(f"{source}: {where(a)} breaks the O H H order that regroup=False requires")
        return z, pos.astype(np.float32)
    if in_order:
        o = pos[0::3]
        bonds = np.linalg.norm(pos.reshape(n_o, 3, 3)[:, 1:] - o[:, None], axis=-1)
        if bonds.max() <= MAX_OH_BOND:
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


def collate(clusters: list[Cluster], device: torch.device | str = "cpu", dtype=torch.float32):
    """``(z, pos, batch)`` tensors for a list of clusters, in the PyG layout."""
    z = torch.as_tensor(np.concatenate([c.z for c in clusters]), dtype=torch.long, device=device)
    pos = torch.as_tensor(np.concatenate([c.pos for c in clusters]), dtype=dtype, device=device)
    sizes = torch.as_tensor([c.n_atoms for c in clusters], device=device)
    batch = torch.repeat_interleave(torch.arange(len(clusters), device=device), sizes)
    return z, pos, batch
