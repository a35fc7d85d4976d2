"""What the MD runs show: survival, distance distributions, energy conservation and the kNN graph's switches.

Inputs are the tables and frames of :mod:`hydronet_nb.md.runs` (per-frame tables, ``ase.Atoms`` frames).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from ase import units

from ..units import ev_to_kcal_mol


def survival(runs: pd.DataFrame, times_fs, by=("model", "size")) -> pd.DataFrame:
    """Fraction of runs still intact at each time, per group: ``<by>, time_fs, intact_fraction``.

    ``runs``: one row per run with ``failed_fs`` (empty when the run stayed intact) and ``steps`` / ``dt``.
    """
    rows = []
    for key, group in runs.groupby(list(by)):
        failed = group["failed_fs"].astype(float).fillna(np.inf).to_numpy()
        for t in times_fs:
            rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "time_fs": float(t),
                         "intact_fraction": float((failed > t).mean())})
    return pd.DataFrame(rows)


def distances(frames, kind: str = "O-H") -> np.ndarray:
    """All O-H bond lengths (``"O-H"``) or intermolecular O...O distances (``"O...O"``) of ``frames``, Angstrom."""
    out = []
    for atoms in frames:
        mol = atoms.positions.reshape(-1, 3, 3)
        if kind == "O-H":
            out.append(np.linalg.norm(mol[:, 1:] - mol[:, :1], axis=-1).ravel())
        elif kind == "O...O":
            o = mol[:, 0]
            d = np.linalg.norm(o[:, None] - o[None], axis=-1)
            out.append(d[np.triu_indices(len(o), k=1)])
        else:
            raise ValueError(f"kind must be 'O-H' or 'O...O', got {kind!r}")
    return np.concatenate(out) if out else np.zeros(0)


def total_energy(table: pd.DataFrame, n_atoms: int) -> pd.Series:
    """Potential plus kinetic energy per frame (kcal/mol), the kinetic from the table's temperature (3N degrees of
    freedom, as ASE counts them)."""
    kinetic_ev = 1.5 * n_atoms * units.kB * table["temperature"]
    return table["energy"] + ev_to_kcal_mol(kinetic_ev)


def drift(table: pd.DataFrame, n_atoms: int) -> dict:
    """Energy conservation of an NVE run: the total energy's change from the first frame, its largest
    excursion and its linear drift per ps (kcal/mol)."""
    e = total_energy(table, n_atoms).to_numpy()
    t_ps = table["time_fs"].to_numpy() / 1000.0
    slope = float(np.polyfit(t_ps, e, 1)[0]) if len(e) > 1 else 0.0
    return {"change": float(e[-1] - e[0]), "max_excursion": float(np.abs(e - e[0]).max()),
            "drift_per_ps": slope}


def knn_switches(frames, k: int) -> np.ndarray:
    """For each step between consecutive frames, how many (atom, neighbour) pairs left the kNN graph
    (:func:`hydronet_nb.model.graph.knn_neighbours`, the model's own graph)."""
    import torch

    from ..model.graph import knn_neighbours

    def neighbour_sets(atoms):
        pos = torch.as_tensor(atoms.positions, dtype=torch.float32)
        table, valid = knn_neighbours(pos, torch.zeros(len(pos), dtype=torch.long), k)
        return {(i, int(j)) for i, (row, ok) in enumerate(zip(table.numpy(), valid.numpy())) for j in row[ok]}

    sets = [neighbour_sets(a) for a in frames]
    return np.array([len(a - b) for a, b in zip(sets[:-1], sets[1:])], dtype=np.int64)
