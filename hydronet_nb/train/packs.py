"""Batches of packs: their tensors (:class:`Pack`, :func:`collate_packs`), their kNN graph and their energies.

Layout of a pack: ``max_atoms + 1`` atom rows and ``G + 1`` cluster *slots*; slots ``0..G-1`` hold
clusters, slot ``G`` holds the padding atoms (``z = 0``, position 0). The last atom row is always
padding (one spare atom), so every pack has a non-empty padding slot and SchNet's sum readout
always returns ``G + 1`` energies per pack: the shapes never change. Padding atoms are isolated --
no edge joins them to a real atom -- and the padding slot's energy is dropped, so packed and
unpacked energies and forces agree (``tests/test_packing.py``), and the loss sees no padding.
Which clusters share a pack is decided by :mod:`hydronet_nb.train.packing`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..model.schnet import interaction_graph


class Pack(NamedTuple):
    """A batch of ``P`` packs of ``W = max_atoms + 1`` atom rows and ``G`` cluster slots."""

    z: torch.Tensor  # [P, W] int64, 0 for padding
    pos: torch.Tensor  # [P, W, 3] float32, Angstrom, 0 for padding
    slot: torch.Tensor  # [P, W] int64: the cluster slot of each atom, G for padding
    energy: torch.Tensor  # [P, G] reference total energies, 0 for an empty slot
    n_water: torch.Tensor  # [P, G] waters per cluster, 0 for an empty slot
    forces: torch.Tensor | None  # [P, W, 3] reference forces, 0 for padding; None: energy only

    def to(self, device) -> "Pack":
        return Pack(*(None if t is None else t.to(device) for t in self))

    @property
    def n_clusters(self) -> int:
        return int((self.n_water > 0).sum())

    @property
    def n_atoms(self) -> int:
        return int((self.slot < self.energy.size(1)).sum())


def collate_packs(data, rows: np.ndarray, max_atoms: int, slots: int, with_forces: bool) -> Pack:
    """The :class:`Pack` tensors for ``rows`` (``[P, at most slots]`` indices into ``data``, ``-1`` empty).

    ``data`` is a :class:`~hydronet_nb.data.clusters.ClusterSet` (its ``offsets``, ``z``, ``pos``,
    ``energy``, ``n_atoms``, ``forces`` arrays).
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] > slots:
        raise ValueError(f"pack rows must be [packs, at most {slots} slots], got shape {rows.shape}")
    n_packs, width = rows.shape[0], max_atoms + 1
    z = np.zeros((n_packs, width), dtype=np.int64)
    pos = np.zeros((n_packs, width, 3), dtype=np.float32)
    slot = np.full((n_packs, width), slots, dtype=np.int64)
    energy = np.zeros((n_packs, slots), dtype=np.float32)
    n_water = np.zeros((n_packs, slots), dtype=np.int64)
    forces = np.zeros((n_packs, width, 3), dtype=np.float32) if with_forces else None
    for p, row in enumerate(rows):
        start = 0
        for s, i in enumerate(row):
            if i < 0:
                continue
            a, b, n = data.offsets[i], data.offsets[i + 1], int(data.n_atoms[i])
            if start + n > max_atoms:
                raise ValueError(f"pack {p}: clusters of {start + n} atoms exceed max_atoms={max_atoms}")
            z[p, start:start + n] = data.z[a:b]
            pos[p, start:start + n] = data.pos[a:b]
            slot[p, start:start + n] = s
            energy[p, s] = data.energy[i]
            n_water[p, s] = n // 3
            if with_forces:
                forces[p, start:start + n] = data.forces[a:b]
            start += n
    return Pack(*(None if a is None else torch.from_numpy(a) for a in (z, pos, slot, energy, n_water, forces)))


class PackedKNNGraph(torch.nn.Module):
    """kNN interaction graph of a batch of packs, ``k`` edges per atom row whatever the contents.

    The input is SchNet's ``(pos, batch)`` for packs flattened as :class:`PackLoss` does:
    ``width`` atom rows per pack, ``batch = pack * slots + slot``, the last slot being padding.
    Edges are the ``k`` nearest atoms of the same cluster (as :mod:`hydronet_nb.model.graph`), found in a
    dense ``[P, W, W]`` distance tensor. Where an atom has fewer than ``k`` (small clusters, and all
    padding atoms) the spare edges become self loops of the pack's spare padding atom (its last
    row) of constant length: no edge joins a padding atom to a real one, and the edge count is
    always ``P * W * k``.
    """

    def __init__(self, k: int, width: int, slots: int):
        super().__init__()
        if k < 1 or width < 2 or slots < 2:
            raise ValueError(f"PackedKNNGraph needs k >= 1, width >= 2 and slots >= 2; got k={k}, width={width}, slots={slots}")
        self.k, self.width, self.slots = k, width, slots

    def forward(self, pos: torch.Tensor, batch: torch.Tensor):
        n_rows = pos.size(0)
        if n_rows % self.width:
            raise ValueError(f"{n_rows} atom rows are not whole packs of width {self.width}")
        n_packs, width = n_rows // self.width, self.width
        k = min(self.k, width - 1)
        with torch.no_grad():
            group = batch.view(n_packs, width)
            real = group % self.slots != self.slots - 1
            same = (group.unsqueeze(2) == group.unsqueeze(1)) & real.unsqueeze(2)
            same &= ~torch.eye(width, dtype=torch.bool, device=pos.device)
            x = pos.detach().view(n_packs, width, 3)
            dist = torch.cdist(x, x).masked_fill(~same, float("inf"))
            d_k, j = dist.topk(k, dim=-1, largest=False)  # [P, W, k]
            valid = torch.isfinite(d_k)
            base = (torch.arange(n_packs, device=pos.device) * width).view(-1, 1, 1)
            spare = base + (width - 1)
            i = torch.arange(width, device=pos.device).view(1, width, 1) + base
            j_glob = torch.where(valid, j + base, spare)
            i_glob = torch.where(valid, i.expand_as(j), spare)
        j_glob, i_glob, valid = j_glob.reshape(-1), i_glob.reshape(-1), valid.reshape(-1, 1)
        # spare edges get a constant vector: a zero-length one would put norm's 0/0 into double backward
        vec = torch.where(valid, pos[j_glob] - pos[i_glob], torch.ones_like(pos[:1]))
        return torch.stack([j_glob, i_glob]), vec.norm(dim=-1)

    def extra_repr(self) -> str:
        return f"k={self.k}, width={self.width}, slots={self.slots}"


def pack_energies(model: torch.nn.Module, pack: Pack, graph: PackedKNNGraph) -> torch.Tensor:
    """Total energy of each cluster slot, ``[P, G]`` (0 for an empty slot); ``pack.pos`` may require grad."""
    n_packs, width = pack.z.shape
    slots = pack.energy.size(1) + 1
    batch = (torch.arange(n_packs, device=pack.z.device).view(-1, 1) * slots + pack.slot).view(-1)
    with interaction_graph(model, graph):
        out = model(pack.z.reshape(-1), pack.pos.reshape(-1, 3), batch)
    return out.view(n_packs, slots)[:, :-1]
