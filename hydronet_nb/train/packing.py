"""Fixed-size batches: water clusters bin-packed into packs of at most ``max_atoms`` atoms.

Graphcore's IPU code trains on *packs* -- several clusters sharing one fixed-size slab of atoms,
topped up with dummy atoms -- so that every step has the same tensor shapes (an IPU compiles one
program per shape) and little of the slab is wasted on padding. This module does the same:

* :func:`pack_histogram` decides *which sizes* go together, from the histogram of cluster sizes
  (longest-pack-first histogram packing, after Krell et al., arXiv:2107.02027). Working on the
  histogram and not on the 2.7M clusters one by one makes it take milliseconds.
* :class:`Packer` turns that strategy into packs of actual clusters, reshuffled every epoch.
* :func:`collate_packs` builds the tensors of a batch of packs (:class:`Pack`).
* :class:`PackedKNNGraph` is the kNN interaction graph with a fixed number of edges per pack.
* :class:`PackLoss` is the training loss on a batch of packs (the module PopTorch wraps).

Layout of a pack: ``max_atoms + 1`` atom rows and ``G + 1`` cluster *slots*; slots ``0..G-1`` hold
clusters, slot ``G`` holds the padding atoms (``z = 0``, position 0). The last atom row is always
padding (one spare atom), so every pack has a non-empty padding slot and SchNet's sum readout
always returns ``G + 1`` energies per pack: the shapes never change. Padding atoms are isolated --
no edge joins them to a real atom -- and the padding slot's energy is dropped, so packed and
unpacked energies and forces agree (``tests/test_packing.py``), and the loss sees no padding.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Mapping, NamedTuple

import numpy as np
import torch

from ..model.graph import KNNInteractionGraph
from .losses import loss_terms

#: cluster histogram of the paper's pretraining set (HydroNet W3-W25, 2,726,710 clusters), in atoms.
#: Read off the bar chart in Graphcore's ``experiments/hydronet_packing.ipynb`` (about 1,400
#: clusters per pixel); the W3-W8 bars are below one pixel, and their 682 clusters are the remainder
#: to the published total. Its 171.56M atoms are within 0.04% of the 171.62M that Graphcore's
#: packing figures imply (911,401 packs of 192 atoms, 3,371,007 of them padding).
HYDRONET_MEDIUM_HISTOGRAM: dict[int, int] = {
    3 * n: count
    for n, count in {
        3: 9, 4: 30, 5: 60, 6: 113, 7: 180, 8: 290, 9: 4110, 10: 12329, 11: 27397, 12: 42466,
        13: 58904, 14: 80822, 15: 95890, 16: 97260, 17: 106849, 18: 112329, 19: 106849, 20: 121918,
        21: 313699, 22: 394521, 23: 353425, 24: 315068, 25: 482192,
    }.items()
}


def pack_histogram(
    histogram: Mapping[int, int], max_atoms: int, max_clusters: int | None = None
) -> list[tuple[tuple[int, ...], int]]:
    """Longest-pack-first histogram packing: ``[(sizes in the pack, number of such packs), ...]``.

    ``histogram`` maps a cluster size (atoms) to the number of clusters of that size. A pack is
    built from the largest size down: the largest size still available that fits the remaining
    room is added, again and again, up to ``max_clusters`` clusters (``None``: no limit); then as
    many copies of that pack are made as the counts allow, those clusters are removed from the
    histogram, and the next pack is built from what is left. Every round uses up at least one
    size, so the work grows with the number of distinct sizes (23 for W3-W25), not of clusters.

    Hand-written: PyTorch and PyG have no bin packing, and the per-item bin packers on PyPI would
    loop over 2.7M clusters (this takes a millisecond).
    """
    if max_atoms < 1:
        raise ValueError(f"max_atoms must be positive, got {max_atoms}")
    if max_clusters is not None and max_clusters < 1:
        raise ValueError(f"max_clusters must be positive or None, got {max_clusters}")
    counts = {int(size): int(n) for size, n in histogram.items() if n}
    bad = [size for size, n in counts.items() if size < 1 or n < 0]
    if bad:
        raise ValueError(f"histogram entry {bad[0]}: {counts[bad[0]]} is not a positive size with a count >= 0")
    too_big = [size for size in counts if size > max_atoms]
    if too_big:
        raise ValueError(f"clusters of {max(too_big)} atoms do not fit in packs of max_atoms={max_atoms}")
    limit = max_clusters or max_atoms
    packs: Counter[tuple[int, ...]] = Counter()
    while counts:
        pack: list[int] = []
        room = max_atoms
        for size in sorted(counts, reverse=True):
            while size <= room and pack.count(size) < counts[size] and len(pack) < limit:
                pack.append(size)
                room -= size
        need = Counter(pack)
        copies = min(counts[size] // n for size, n in need.items())
        packs[tuple(pack)] += copies
        for size, n in need.items():
            counts[size] -= n * copies
            if not counts[size]:
                del counts[size]
    return sorted(packs.items(), key=lambda item: (-sum(item[0]), item[0]))


def packing_efficiency(strategy: list[tuple[tuple[int, ...], int]], max_atoms: int) -> float:
    """Fraction of the ``max_atoms`` slots of all packs that hold real atoms."""
    real = sum(sum(sizes) * count for sizes, count in strategy)
    return real / (max_atoms * sum(count for _, count in strategy))


def padding_efficiency(histogram: Mapping[int, int], pad_to: int | None = None) -> float:
    """Fraction of real atoms when every cluster is padded to ``pad_to`` atoms (default: the largest), one per slab."""
    counts = {int(size): int(n) for size, n in histogram.items() if n}
    pad = max(counts) if pad_to is None else int(pad_to)
    return sum(size * n for size, n in counts.items()) / (pad * sum(counts.values()))


class Packer:
    """Packs of cluster indices following one :func:`pack_histogram` strategy.

    ``n_atoms[i]`` is the size of cluster ``i``. The strategy is computed once; :meth:`packs`
    fills it with clusters drawn at random within each size, so the clusters that share a pack
    change from epoch to epoch while the pack shapes do not.
    """

    def __init__(self, n_atoms, max_atoms: int, max_clusters: int | None = None):
        self.n_atoms = np.asarray(n_atoms, dtype=np.int64)
        self.max_atoms = int(max_atoms)
        self.strategy = pack_histogram(Counter(self.n_atoms.tolist()), self.max_atoms, max_clusters)
        self.n_packs = sum(count for _, count in self.strategy)
        #: cluster slots per pack (the largest number of clusters in any pack)
        self.slots = max(len(sizes) for sizes, _ in self.strategy)
        self.efficiency = packing_efficiency(self.strategy, self.max_atoms)
        self._by_size = {size: np.flatnonzero(self.n_atoms == size) for size in np.unique(self.n_atoms).tolist()}

    def packs(self, generator: torch.Generator | None = None) -> np.ndarray:
        """``[n_packs, slots]`` cluster indices, ``-1`` for an empty slot; each cluster once.

        With a ``generator`` the clusters of each size and the order of the packs are shuffled;
        without one, clusters are taken in index order and packs listed as in the strategy.
        """
        def order(n: int) -> np.ndarray:
            return np.arange(n) if generator is None else torch.randperm(n, generator=generator).numpy()

        queues = {size: idx[order(len(idx))] for size, idx in self._by_size.items()}
        taken = dict.fromkeys(queues, 0)
        out = np.full((self.n_packs, self.slots), -1, dtype=np.int64)
        row = 0
        for sizes, count in self.strategy:
            for col, size in enumerate(sizes):
                out[row:row + count, col] = queues[size][taken[size]:taken[size] + count]
                taken[size] += count
            row += count
        return out[order(self.n_packs)]


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

    ``data`` is a :class:`hydronet_nb.train.trainer.ClusterData` (its ``offsets``, ``z``, ``pos``,
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


@contextmanager
def _interaction_graph(model: torch.nn.Module, graph: torch.nn.Module):
    """``model`` with ``graph`` as its interaction graph for the duration of the block."""
    original = model.interaction_graph
    model.interaction_graph = graph
    try:
        yield model
    finally:
        model.interaction_graph = original


def pack_energies(model: torch.nn.Module, pack: Pack, graph: PackedKNNGraph) -> torch.Tensor:
    """Total energy of each cluster slot, ``[P, G]`` (0 for an empty slot); ``pack.pos`` may require grad."""
    n_packs, width = pack.z.shape
    slots = pack.energy.size(1) + 1
    batch = (torch.arange(n_packs, device=pack.z.device).view(-1, 1) * slots + pack.slot).view(-1)
    with _interaction_graph(model, graph):
        out = model(pack.z.reshape(-1), pack.pos.reshape(-1, 3), batch)
    return out.view(n_packs, slots)[:, :-1]


class PackLoss(torch.nn.Module):
    """``c * MSE(E) + (1 - c) * MSE(F)`` on a batch of packs, padding excluded.

    ``forward`` takes the :class:`Pack` fields as separate tensors (as PopTorch wants them) and
    returns ``(loss, sum of squared energy errors, sum of |energy error| per water, sum of
    squared force errors)``. Means divide by the real clusters (and 3 x real atoms) of the pack
    batch, or by ``energy_norm`` / ``force_norm`` when given (data parallelism: the global counts
    divided by the number of ranks). Forces are differentiated with ``create_graph`` in training
    mode, so the force term trains the weights.
    """

    def __init__(self, model: torch.nn.Module, energy_weight: float, max_atoms: int, slots: int):
        super().__init__()
        graph = getattr(model, "interaction_graph", None)
        if not isinstance(graph, KNNInteractionGraph):
            raise ValueError(f"packing needs a SchNet with the kNN interaction graph, got {type(graph).__name__}")
        if not 0.0 <= energy_weight <= 1.0:
            raise ValueError(f"energy_weight must be in [0, 1], got {energy_weight}")
        self.model = model
        self.energy_weight = float(energy_weight)
        self.graph = PackedKNNGraph(graph.k, max_atoms + 1, slots + 1)

    def predict(self, pack: Pack, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Energies ``[P, G]`` and, unless the loss is energy-only, forces ``[P, W, 3]``."""
        if self.energy_weight >= 1.0:
            return pack_energies(self.model, pack, self.graph), None
        with torch.enable_grad():
            pos = pack.pos.detach().requires_grad_(True)
            energy = pack_energies(self.model, pack._replace(pos=pos), self.graph)
            (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
        return (energy if create_graph else energy.detach()), -grad

    def forward(self, z, pos, slot, energy, n_water, forces=None, energy_norm=None, force_norm=None):
        pack = Pack(z, pos, slot, energy, n_water, forces)
        e_pred, f_pred = self.predict(pack, create_graph=self.training)
        cluster_mask = n_water > 0
        atom_mask = (slot < energy.size(1)).unsqueeze(-1)
        if energy_norm is None:  # an all-padding micro-batch (IPU) must give 0, not 0/0
            energy_norm = cluster_mask.sum().clamp(min=1)
            force_norm = 3 * atom_mask.sum().clamp(min=1)
        return loss_terms(
            e_pred * cluster_mask, energy, n_water,
            None if f_pred is None else f_pred * atom_mask, forces,
            self.energy_weight, energy_norm, force_norm,
        )
