"""Small water-cluster training sets for the training, packing, DDP, IPU and bench tests.

Rattled copies of the real TTM2.1-F global minima W3-W15, labelled by a toy potential (harmonic
O-H bonds plus a Gaussian O-O attraction, kcal/mol), forces by autograd. Deterministic.
"""
from __future__ import annotations

import numpy as np
import torch

from hydronet_nb.data.clusters import Cluster
from hydronet_nb.model.schnet import SchNetConfig
from hydronet_nb.io.reference_files import ttm21f_minima_paths
from hydronet_nb.io.xyz import read_xyz_clusters

#: a small SchNet that trains in a fraction of a second per epoch
TINY_MODEL = SchNetConfig(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=10, cutoff=6.0, k=8)


def toy_energy(pos: torch.Tensor) -> torch.Tensor:
    """Energy of one cluster (``O H H`` per molecule), differentiable in ``pos`` (float64)."""
    mol = pos.view(-1, 3, 3)
    bonds = (mol[:, 1:] - mol[:, :1]).norm(dim=-1)
    o = mol[:, 0]
    r = torch.cdist(o, o)[torch.triu_indices(len(o), len(o), 1).unbind()]
    return 50.0 * (bonds - 0.96).square().sum() - 5.0 * torch.exp(-(r - 2.8).square()).sum()


def clusters(copies: int = 3, rattle: float = 0.03, seed: int = 0, sizes=range(3, 16)) -> list[Cluster]:
    """``copies`` rattled versions of each minimum in ``sizes``, with toy energies and forces."""
    rng = np.random.default_rng(seed)
    minima = [c for p in ttm21f_minima_paths(list(sizes)) for c in read_xyz_clusters(p)]
    out = []
    for k in range(copies):
        for m in minima:
            pos = torch.tensor(m.pos + rng.normal(scale=rattle, size=m.pos.shape), dtype=torch.float64, requires_grad=True)
            e = toy_energy(pos)
            (grad,) = torch.autograd.grad(e, pos)
            out.append(Cluster(z=m.z, pos=pos.detach().numpy().astype(np.float32), energy=float(e.detach()),
                               forces=(-grad).numpy().astype(np.float32), source=f"{m.source} copy {k}"))
    return out
