"""``hydronet-nb bench``: speed and peak memory of a training step, the book's code against a PyG baseline.

Every variant starts from the same weights and trains on the same clusters, one optimizer step
per batch (loss, backward, gradient clamp, Adam):

* ``PyG SchNet with a dense kNN graph`` (:data:`BASELINE`) -- ``torch_geometric.nn.models.SchNet``
  with the kNN graph written the obvious way (one distance matrix over the whole batch, other
  clusters masked; PyG's own ``knn_graph`` needs ``pyg-lib``, which PyPI does not carry) and the
  loss written inline. It is not PyG as shipped: PyG's default graph is a radius graph;
* ``ours`` -- :class:`hydronet_nb.train.losses.ClusterLoss` on the package's SchNet (kNN graph from
  :mod:`hydronet_nb.model.graph`, one small distance matrix per cluster);
* ``ours packed`` -- :class:`hydronet_nb.train.losses.PackLoss` on the same clusters packed into
  fixed-size packs (the IPU layout).

Each in an energy-only step (pretraining) and an energy+force step (finetuning, ``create_graph``).
Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the increase of the peak
resident set size (Linux ``VmHWM``, reset before each variant through ``/proc/self/clear_refs``).
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import time
from functools import partial
from pathlib import Path

import numpy as np

# torch, PyG and the package's training modules are imported inside the functions: the command
# line imports this module to build its parser, and they take seconds to load.

#: the baseline every variant is compared with
BASELINE = "PyG SchNet with a dense kNN graph"
#: the variants, in the order of the table
VARIANTS = (BASELINE, "ours", "ours packed")
#: O-O distance of the lattice the bench clusters are cut from (Angstrom)
LATTICE = 2.9
#: the energy weight of the energy+force step (the paper's finetuning)
FORCE_ENERGY_WEIGHT = 0.05


def bench_clusters(n: int, min_water: int, max_water: int, seed: int = 0) -> list:
    """``n`` compact random water clusters, sizes cycling through ``min_water..max_water``.

    Oxygens sit on the lattice points nearest the centre of a jittered cubic lattice, molecules
    are randomly oriented; energies and forces are random (the bench times, it does not fit).
    """
    from scipy.spatial.transform import Rotation

    from ..data.clusters import Cluster
    from ..data.water import MONOMER, water_numbers

    if not 1 <= min_water <= max_water:
        raise ValueError(f"need 1 <= min_water <= max_water, got {min_water}, {max_water}")
    rng = np.random.default_rng(seed)
    side = int(np.ceil(max_water ** (1 / 3))) + 1
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3) * LATTICE
    grid = grid[np.argsort(np.linalg.norm(grid - grid.mean(0), axis=1), kind="stable")]
    out = []
    for i in range(n):
        w = min_water + i % (max_water - min_water + 1)
        oxygens = grid[:w] + rng.normal(scale=0.2, size=(w, 3))
        rot = Rotation.random(w, random_state=rng)
        pos = np.concatenate([rot[m].apply(MONOMER) + oxygens[m] for m in range(w)])
        out.append(Cluster(z=water_numbers(w), pos=pos.astype(np.float32), energy=float(-7.0 * w + rng.normal()),
                           forces=rng.normal(scale=5.0, size=pos.shape).astype(np.float32), source=f"bench W{w} #{i}"))
    return out


def dense_knn_graph(pos, batch, k: int):
    """The kNN graph the obvious way: all pairwise distances of the batch, other clusters masked."""
    import torch

    with torch.no_grad():
        dist = torch.cdist(pos, pos)
        dist = dist.masked_fill(batch.view(-1, 1) != batch.view(1, -1), float("inf")).fill_diagonal_(float("inf"))
        d, j = dist.topk(min(k, len(pos) - 1), dim=1, largest=False)
        i = torch.arange(len(pos), device=pos.device).view(-1, 1).expand_as(j)
        keep = torch.isfinite(d)
        edge_index = torch.stack([j[keep], i[keep]])
    return edge_index, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)


def dense_knn_schnet(config):
    """PyG's SchNet with ``config`` (a :class:`~hydronet_nb.model.schnet.SchNetConfig`) and :func:`dense_knn_graph`: the baseline."""
    from torch_geometric.nn.models import SchNet

    return SchNet(hidden_channels=config.hidden_channels, num_filters=config.num_filters,
                  num_interactions=config.num_interactions, num_gaussians=config.num_gaussians,
                  cutoff=config.cutoff, readout="add", interaction_graph=partial(dense_knn_graph, k=config.k))


def inline_loss(model, energy_weight: float):
    """The loss as one writes it inline around PyG's SchNet: ``loss(z, pos, batch, energy, n_water, forces)``."""
    import torch
    from torch.nn.functional import mse_loss

    def loss(z, pos, batch, energy, n_water, forces):
        c = energy_weight
        pos = pos.detach().requires_grad_(c < 1)
        e = model(z, pos, batch).view(-1)
        value = c * mse_loss(e, energy)
        if c < 1:
            (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=True)
            value = value + (1 - c) * mse_loss(-grad, forces)
        return (value,)

    return loss


class PeakMemory:
    """Peak memory of a block, in MiB: CUDA allocations, or the CPU's peak resident set increase."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.method = "torch.cuda.max_memory_allocated" if self.cuda else "peak RSS increase (Linux VmHWM)"
        self.mib = float("nan")

    @staticmethod
    def _status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise OSError(f"/proc/self/status has no {field}")

    def __enter__(self):
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back so the next peak starts low
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.base = self._status("VmRSS")
        except OSError:
            self.base = None
            self.method = "n/a (needs Linux /proc)"
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        elif self.base is not None:
            self.mib = (self._status("VmHWM") - self.base) / 2**20
        return False


def _steps(loss, model, optimizer, inputs: list) -> None:
    """One optimizer step per batch of inputs, as the trainer does it."""
    import torch

    model.train()
    for args in inputs:
        optimizer.zero_grad(set_to_none=True)
        loss(*args)[0].backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 200.0)
        optimizer.step()


def run_bench(n_clusters: int = 64, batch_size: int = 64, min_water: int = 3, max_water: int = 25, steps: int = 3,
              device: str = "auto", config=None, pack_atoms: int = 192, seed: int = 0):
    """Clusters per second and peak memory of each variant and step kind, with ratios to :data:`BASELINE`.

    A ``pandas.DataFrame``, one row per (step kind, variant); ``config`` is a
    :class:`~hydronet_nb.model.schnet.SchNetConfig` (default: the paper's).
    """
    import pandas as pd
    import torch

    from ..data.clusters import ClusterSet
    from ..device import select_device
    from ..model.schnet import PAPER_CONFIG, build_schnet
    from ..train.batching import collate_batch
    from ..train.losses import ClusterLoss, PackLoss
    from ..train.packing import Packer
    from ..train.packs import collate_packs

    config = config or PAPER_CONFIG
    torch_device = select_device(device).torch_device
    if torch_device.type not in ("cpu", "cuda"):
        raise ValueError(f"the bench runs on cpu or cuda, got {torch_device}")
    clusters = bench_clusters(n_clusters, min_water, max_water, seed)
    data = ClusterSet.from_clusters(clusters, name="bench clusters")
    batches = [list(range(i, min(i + batch_size, n_clusters))) for i in range(0, n_clusters, batch_size)]
    torch.manual_seed(seed)
    ours = build_schnet(config).to(torch_device)
    baseline = dense_knn_schnet(config).to(torch_device)
    baseline.load_state_dict(ours.state_dict())
    rows = []
    for kind, c in (("energy", 1.0), ("energy+forces", FORCE_ENERGY_WEIGHT)):
        plain = [collate_batch(data, True, b).to(torch_device) for b in batches]
        pack_rows = []
        for b in map(np.asarray, batches):  # each batch packed on its own; rows index the whole data set
            local = Packer(data.n_atoms[b], pack_atoms).packs()
            pack_rows.append(np.where(local >= 0, b[local], -1))
        slots = max(r.shape[1] for r in pack_rows)
        packs = [collate_packs(data, r, pack_atoms, slots, True).to(torch_device) for r in pack_rows]
        variants = {
            BASELINE: (lambda m: inline_loss(m, c), baseline, plain),
            "ours": (lambda m: ClusterLoss(m, c), ours, plain),
            "ours packed": (lambda m: PackLoss(m, c, pack_atoms, slots), ours, packs),
        }
        for name, (make_loss, base, inputs) in variants.items():
            model = copy.deepcopy(base)
            loss, optimizer = make_loss(model), torch.optim.Adam(model.parameters(), lr=1e-4)
            _steps(loss, model, optimizer, inputs[:1])  # warm-up, and Adam's state
            with PeakMemory(torch_device) as memory:
                start = time.perf_counter()
                for _ in range(steps):
                    _steps(loss, model, optimizer, inputs)
                if torch_device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
            rows.append({"step": kind, "variant": name, "clusters_per_s": steps * n_clusters / seconds,
                         "peak_mib": memory.mib, "memory": memory.method})
    table = pd.DataFrame(rows)
    base = table[table.variant == BASELINE].set_index("step")
    table["speed_vs_baseline"] = table.clusters_per_s / table.step.map(base.clusters_per_s)
    table["memory_vs_baseline"] = table.peak_mib / table.step.map(base.peak_mib)
    table.attrs.update(device=str(torch_device), threads=torch.get_num_threads(), clusters=n_clusters,
                       batch_size=batch_size, waters=f"{min_water}-{max_water}", config=config.as_dict())
    return table


def published_throughput():
    """Training throughput the paper and Graphcore published, one row per hardware and data set.

    Columns: ``hardware``, ``devices``, ``clusters`` (data-set size), ``epoch_s`` and
    ``clusters_per_s``; all published numbers (:mod:`hydronet_nb.book.published_numbers`), none measured here.
    """
    import pandas as pd

    from ..book import published_numbers as pub

    rows = [{"hardware": "Bow IPU", "devices": n, "clusters": size, "epoch_s": seconds}
            for size, by_ipus in pub.IPU_EPOCH_SECONDS.items() for n, seconds in by_ipus.items()]
    base = pub.GPU_BASELINE
    rows.append({"hardware": "V100 GPU", "devices": int(base["gpus"].split()[0]), "clusters": base["clusters"],
                 "epoch_s": 60.0 * base["minutes_per_epoch"]})
    table = pd.DataFrame(rows)
    table["clusters_per_s"] = table["clusters"] / table["epoch_s"]
    return table


def published_rate(table, hardware: str, devices: int | None = None, clusters: int | None = None) -> float:
    """Clusters per second of one row of :func:`published_throughput` (``hardware``, and ``devices``/``clusters`` if given)."""
    rows = table[table.hardware == hardware]
    if devices is not None:
        rows = rows[rows.devices == devices]
    if clusters is not None:
        rows = rows[rows.clusters == clusters]
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} published rows for {hardware}, {devices} devices, {clusters} clusters")
    return float(rows["clusters_per_s"].iloc[0])


def throughput_comparison(bench_table, clusters: int | None = None):
    """``hardware, clusters_per_s``: the published throughput on a data set of ``clusters`` (and the V100
    baseline, on its own 0.5M set) next to the unpacked variants of a :func:`run_bench` table measured here
    (default ``clusters``: the paper's pretraining set)."""
    import pandas as pd

    from ..book import published_numbers as pub

    clusters = pub.PRETRAIN_CLUSTERS if clusters is None else clusters
    published = published_throughput()
    ipus = published[published.clusters == clusters]
    v100 = published[published.hardware == "V100 GPU"]
    rows = [{"hardware": f"{r.devices} Bow IPUs (published)", "clusters_per_s": r.clusters_per_s} for r in ipus.itertuples()]
    rows += [{"hardware": f"{r.devices} V100 GPUs (published, {r.clusters / 1e6:.1f}M set)", "clusters_per_s": r.clusters_per_s}
             for r in v100.itertuples()]
    rows += [{"hardware": f"this machine ({r.variant}, {r.step})", "clusters_per_s": r.clusters_per_s}
             for r in bench_table.itertuples() if r.variant != "ours packed"]
    return pd.DataFrame(rows)


def format_table(table) -> str:
    """The :func:`run_bench` table for people, with a header saying what was run."""
    a = table.attrs
    head = (f"device {a['device']}, {a['threads']} threads; {a['clusters']} clusters W{a['waters']} in batches of "
            f"{a['batch_size']}; SchNet {a['config']}\nmemory: {table['memory'].iloc[0]}\n")
    shown = table.drop(columns="memory").rename(columns={"clusters_per_s": "clusters/s", "peak_mib": "peak MiB",
                                                         "speed_vs_baseline": "speed x", "memory_vs_baseline": "memory x"})
    return head + shown.to_string(index=False, float_format=lambda v: f"{v:.2f}")


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..model.schnet import PAPER_CONFIG, SchNetConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    config = PAPER_CONFIG if args.k is None else SchNetConfig(**{**PAPER_CONFIG.as_dict(), "k": args.k})
    table = run_bench(args.clusters, args.batch_size or args.clusters, args.min_water, args.max_water, args.steps,
                      args.device, config, args.pack_atoms)
    print(format_table(table))
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb bench``."""
    p = subparsers.add_parser("bench", help=f"training-step speed and peak memory: ours vs {BASELINE}",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--clusters", type=int, default=64, help="clusters per run (default 64)")
    p.add_argument("--batch-size", type=int, help="clusters per optimizer step (default: all)")
    p.add_argument("--min-water", type=int, default=3)
    p.add_argument("--max-water", type=int, default=25)
    p.add_argument("--steps", type=int, default=3, help="timed passes over the clusters (after one warm-up step)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--k", type=int, help="neighbours per atom (default: the paper's 28)")
    p.add_argument("--pack-atoms", type=int, default=192, help="atoms per pack for the packed variant")
    p.set_defaults(func=cmd_bench)
