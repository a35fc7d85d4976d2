"""Predictions for lists of clusters, as tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data.clusters import Cluster, collate
from ..model.schnet import energy_and_forces


def predict(model: torch.nn.Module, clusters: list[Cluster], batch_size: int = 64, device="cpu") -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Energies and forces of ``clusters``.

    Returns a table (one row per cluster: ``source, n_water, energy, energy_per_water,
    reference, error, error_per_water, max_force``; kcal/mol and kcal/mol/Angstrom) and the forces,
    one ``[atoms, 3]`` array per cluster.
    """
    model = model.to(device)
    rows, forces = [], []
    for start in range(0, len(clusters), batch_size):
        chunk = clusters[start:start + batch_size]
        z, pos, batch = collate(chunk, device=device)
        e, f = energy_and_forces(model, z, pos, batch)
        f = f.cpu().numpy()
        bounds = np.cumsum([0] + [c.n_atoms for c in chunk])
        for c, e_c, lo, hi in zip(chunk, e.cpu().tolist(), bounds[:-1], bounds[1:]):
            f_c = f[lo:hi]
            forces.append(f_c)
            ref = np.nan if c.energy is None else c.energy
            rows.append(
                {
                    "source": c.source,
                    "n_water": c.n_water,
                    "energy": e_c,
                    "energy_per_water": e_c / c.n_water,
                    "reference": ref,
                    "error": e_c - ref,
                    "error_per_water": (e_c - ref) / c.n_water,
                    "max_force": float(np.linalg.norm(f_c, axis=1).max()),
                }
            )
    return pd.DataFrame(rows), forces
