"""Random structures for the basin-hopping walks: water molecules placed at liquid density, and rigid-body moves."""
from __future__ import annotations

import numpy as np

#: one liquid-water molecule per 29.9 cubic Angstrom (1 g/cm3): density of the random starts
WATER_DENSITY = 0.0334
#: random starts: closest allowed O-O distance and closest allowed pair of atoms of different molecules, Angstrom
START_MIN_OO, START_MIN_ATOMS = 2.5, 1.6
#: basin hopping: rigid-body step sizes (Angstrom, radian), walk temperature (kcal/mol), chance of a fresh random start
HOP_TRANSLATION, HOP_ROTATION, HOP_KT, HOP_RESTART = 0.35, 0.5, 1.5, 0.25


def _rotations(rng: np.random.Generator, n: int, scale: float | None = None):
    """``n`` rotations: uniformly random, or random axes with angles ~ N(0, scale)."""
    from scipy.spatial.transform import Rotation

    if scale is None:
        return Rotation.random(n, random_state=rng)
    return Rotation.from_rotvec(rng.normal(0.0, scale, size=(n, 3)))


def random_start(n_water: int, monomer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n_water`` copies of ``monomer`` [3, 3] at random positions and orientations in a sphere of liquid density.

    Molecules are added one at a time; a placement that comes closer than ``START_MIN_OO`` (O-O) or
    ``START_MIN_ATOMS`` (any two atoms) to a placed molecule is drawn again.
    """
    radius = (3 * n_water / (4 * np.pi * WATER_DENSITY)) ** (1 / 3)
    body = monomer - monomer[0]
    placed: list[np.ndarray] = []
    for _ in range(2000 * n_water):
        if len(placed) == n_water:
            return np.concatenate(placed)
        centre = rng.uniform(-radius, radius, 3)
        if centre @ centre > radius**2:
            continue
        mol = _rotations(rng, 1).apply(body) + centre
        if placed:
            others = np.concatenate(placed)
            if np.linalg.norm(others[0::3] - centre, axis=1).min() < START_MIN_OO:
                continue
            if np.linalg.norm(others[:, None] - mol[None], axis=-1).min() < START_MIN_ATOMS:
                continue
        placed.append(mol)
    raise RuntimeError(f"could not place {n_water} waters in a sphere of {radius:.2f} Angstrom")


def perturb(pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move every molecule of ``pos`` [3N, 3] rigidly: a random translation and a rotation about its oxygen."""
    n = len(pos) // 3
    mols = pos.reshape(n, 3, 3)
    rot = _rotations(rng, n, HOP_ROTATION)
    shift = rng.normal(0.0, HOP_TRANSLATION, size=(n, 1, 3))
    moved = np.stack([rot[i].apply(m - m[0]) + m[0] for i, m in enumerate(mols)]) + shift
    return moved.reshape(-1, 3)


