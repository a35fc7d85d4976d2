"""The batch plan: how a :class:`~hydronet_nb.data.clusters.ClusterSet` becomes the steps of an epoch.

Batches are whole clusters in PyG layout (:class:`Batch`) or, with ``packed=True``, fixed-size
packs (:mod:`hydronet_nb.train.packs`, required on IPUs). :class:`BatchPlan` reshuffles the
training set every epoch with the trainer's data-order generator, cuts it into global batches,
and gives each rank its share (:class:`Step`) with the global counts the loss divides by, so that
several ranks compute what one process would on the whole batch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..data.clusters import ClusterSet
from .config import TrainConfig
from .packing import Packer
from .packs import Pack, collate_packs


class Batch(NamedTuple):
    """Whole clusters in PyG layout."""

    z: torch.Tensor  # [atoms] int64
    pos: torch.Tensor  # [atoms, 3] float32, Angstrom
    batch: torch.Tensor  # [atoms] cluster of each atom
    energy: torch.Tensor  # [clusters] float32, kcal/mol
    n_water: torch.Tensor  # [clusters] int64
    forces: torch.Tensor | None  # [atoms, 3] float32, kcal/mol/Angstrom; None: energy only

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in self))

    @property
    def n_clusters(self) -> int:
        return len(self.energy)

    @property
    def n_atoms(self) -> int:
        return len(self.z)


def collate_batch(clusters, with_forces: bool, rows=None) -> Batch:
    """A :class:`Batch` of clusters ``rows`` (default: all) of a ClusterSet or list (``forces`` only when ``with_forces``)."""
    data = ClusterSet.from_clusters(clusters)
    rows = np.arange(len(data)) if rows is None else np.asarray(rows, dtype=np.int64)
    z, pos, batch = data.collate(rows)
    energy = torch.tensor(data.energy[rows], dtype=torch.float32)
    n_water = torch.as_tensor(data.n_water[rows], dtype=torch.int64)
    forces = None
    if with_forces:
        forces = torch.from_numpy(np.concatenate([data.forces[data.offsets[i]:data.offsets[i + 1]] for i in rows]))
    return Batch(z, pos, batch, energy, n_water, forces)


class Step(NamedTuple):
    """One rank's share of a global batch and the global counts the loss divides by."""

    batch: Batch | Pack
    energy_norm: float
    force_norm: float


class BatchPlan:
    """The global batches of one data set: whole clusters, or packs of a :class:`~hydronet_nb.train.packing.Packer`.

    ``slots`` fixes the clusters per pack (the training set's, so every set has the same pack
    shapes); None takes ``config.pack_clusters`` and the packer's own maximum.
    """

    def __init__(self, data: ClusterSet, config: TrainConfig, *, slots: int | None = None):
        self.data, self.config = data, config
        self.packer = Packer(data.n_atoms, config.pack_atoms, slots or config.pack_clusters) if config.packed else None
        self.slots = None if self.packer is None else (slots or self.packer.slots)

    @property
    def packed(self) -> bool:
        return self.packer is not None

    def batches(self, generator: torch.Generator | None, *, world: int = 1, packs_per_call: int | None = None) -> list[np.ndarray]:
        """Index arrays of whole clusters, or ``[packs, slots]`` pack rows, one per global batch.

        With a ``generator`` (training) the order is shuffled and batches too small for every rank
        are dropped; ``packs_per_call`` (IPU) tops the last batch up with empty packs.
        """
        n = len(self.data)
        if self.packer is None:
            order = torch.randperm(n, generator=generator).numpy() if generator is not None else np.arange(n)
            size = self.config.batch_size
        else:
            order = self.packer.packs(generator)
            if packs_per_call:
                size = packs_per_call
                order = np.concatenate([order, np.full((-len(order) % size, order.shape[1]), -1)])
            else:
                size = max(1, round(self.config.batch_size * self.packer.n_packs / n))
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if generator is not None:  # DistributedDataParallel needs every rank in every step
            batches = [b for b in batches if len(b) >= world]
        return batches

    def collate(self, rows: np.ndarray, rank: int = 0, world: int = 1) -> Step | None:
        """Rank ``rank``'s share of a global batch (``None`` when it has none: the end of an evaluation)."""
        data = self.data
        valid = rows[rows >= 0]
        energy_norm = len(valid) / world
        force_norm = 3 * int(data.n_atoms[valid].sum()) / world
        local = rows[rank::world]
        if not len(local):
            return None
        if self.packer is not None:
            batch = collate_packs(data, local, self.config.pack_atoms, self.slots, self.config.with_forces)
        else:
            batch = collate_batch(data, self.config.with_forces, local)
        return Step(batch, energy_norm, force_norm)
