"""Fixed-size batches, the algorithm: water clusters bin-packed into packs of at most ``max_atoms`` atoms.

Graphcore's IPU code trains on *packs* -- several clusters sharing one fixed-size slab of atoms,
topped up with dummy atoms -- so that every step has the same tensor shapes (an IPU compiles one
program per shape) and little of the slab is wasted on padding. The package does the same:

* :func:`pack_histogram` (here) decides *which sizes* go together, from the histogram of cluster
  sizes (longest-pack-first histogram packing, after Krell et al., arXiv:2107.02027). Working on
  the histogram and not on the 2.7M clusters one by one makes it take milliseconds.
* :class:`Packer` (here) turns that strategy into packs of actual clusters, reshuffled every epoch.
* :mod:`hydronet_nb.train.packs` builds the tensors of a batch of packs and the kNN graph of a pack;
* :class:`hydronet_nb.train.losses.PackLoss` is the training loss on a batch of packs.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np
import torch


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


def efficiency_sweep(histogram: Mapping[int, int], limits) -> "pd.DataFrame":
    """``max_atoms, packing, padding``: how full the packs of each size in ``limits`` are, against padding each
    cluster to the largest (fractions of real atoms)."""
    import pandas as pd

    padding = padding_efficiency(histogram)
    return pd.DataFrame({"max_atoms": list(limits),
                         "packing": [packing_efficiency(pack_histogram(histogram, m), m) for m in limits],
                         "padding": padding})
