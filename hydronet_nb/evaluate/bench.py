"""``hydronet-nb bench``: the fast SchNet against PyG's own SchNet, the same clusters and weights.

One run times, for each variant,

* ``train energy``: an optimizer step on the energy loss (pretraining);
* ``train energy+force``: an optimizer step on ``0.05 MSE(E) + 0.95 MSE(F)``, forces with
  ``create_graph=True`` (finetuning: a double backward);
* ``inference``: energies without gradients;
* ``md W10``, ``md W20``, ``md W30``: one ASE ``NVTBerendsen`` step (0.1 fs, 300 K) with the model
  as calculator, energy and forces; the ``zero-cost`` variant is the same step with a calculator
  that returns zeros, the integrator's own cost.

Variants: ``pyg`` is :class:`torch_geometric.nn.models.SchNet` with the package's kNN graph
(:mod:`hydronet_nb.model.graph`); ``fast`` is :class:`hydronet_nb.model.fast.FastSchNet` with the
same weights. Both run through the same loss (:class:`hydronet_nb.train.losses.ClusterLoss`).
Clusters: embedded MD non-minima with forces, the same number of each size; MD starts from the
first embedded minimum of each size. Arithmetic: matrix-multiply FLOPs as the PyTorch profiler
counts them (nearly all of PyG's SchNet; the fast path's fused kernels add about 8 flops per
neighbour slot and channel, not counted), against the measured peak of one large float32 matrix
product on this machine.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..utils.cli_types import positive_int, water_count
from .bench_card import SHIPPED_TABLE, export_bench

# torch, PyG and ASE are imported inside the functions: the command line imports this module to
# build its parser, and they take seconds to load.

#: the energy weight of the energy+force step (the paper's finetuning)
FORCE_ENERGY_WEIGHT = 0.05
#: the variants, and what they are
BASELINE, FAST = "pyg", "fast"
VARIANT_NAMES = {BASELINE: "PyG's SchNet", FAST: "fast SchNet", "zero-cost": "zero-cost calculator"}
#: the tasks
TRAIN_ENERGY, TRAIN_FORCES, INFERENCE = "train energy", "train energy+force", "inference"
#: sizes of the MD steps (waters)
MD_SIZES = (10, 20, 30)
#: columns of ``hydronet-nb bench --csv``
CSV_COLUMNS = ["device", "threads", "variant", "task", "clusters", "atoms", "edges", "seconds",
               "clusters_per_s", "speed_vs_pyg"]


def bench_clusters(n: int, min_water: int = 3, max_water: int = 25, seed: int = 0) -> list:
    """``n`` embedded MD non-minima (energies and forces), sizes cycling through ``min_water..max_water``."""
    from ..data.datasets import load_dataset

    data = load_dataset("nonmin")
    rng = np.random.default_rng(seed)
    sizes = [w for w in range(min_water, max_water + 1) if (data.n_water == w).any()]
    if not sizes:
        raise ValueError(f"no embedded non-minima with {min_water}-{max_water} waters")
    rows = [int(rng.choice(np.flatnonzero(data.n_water == sizes[i % len(sizes)]))) for i in range(n)]
    return data.clusters(rows)


def md_start(n_water: int):
    """The first embedded minimum with ``n_water`` waters (W26-W30 from the extrapolation set)."""
    from ..data.datasets import load_dataset

    for name in ("min", "min_extrapolation"):
        data = load_dataset(name)
        rows = np.flatnonzero(data.n_water == n_water)
        if len(rows):
            return data.cluster(int(rows[0]))
    raise ValueError(f"no embedded minimum with {n_water} waters")


def models(config, seed: int = 0) -> dict:
    """``{"pyg": PyG's SchNet, "fast": FastSchNet}`` with the same random weights."""
    import torch

    from ..model.schnet import build_schnet

    torch.manual_seed(seed)
    pyg = build_schnet(config, fast=False)
    fast = build_schnet(config, fast=True)
    fast.load_state_dict(pyg.state_dict())
    return {BASELINE: pyg, FAST: fast}


def peak_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a ``size x size`` float32 matrix product, the best of ``repeats``."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _matmul_flops(fn) -> int:
    """FLOPs of the matrix products ``fn`` runs, as the PyTorch profiler estimates them.

    (:class:`torch.utils.flop_counter.FlopCounterMode` would be the natural choice, but its module
    hooks refuse ``autograd.grad`` inside, which the energy+force step needs.)
    """
    from torch.profiler import ProfilerActivity, profile

    with _without_kineto_lines():
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            fn()
    return int(sum(e.flops for e in prof.key_averages()))


@contextlib.contextmanager
def _without_kineto_lines():
    """Keep the profiler's own log lines (``USDT: ... profiler_start``, ``STAGE: ...``) out of stderr.

    Kineto writes them from C++ straight to file descriptor 2 on every profiler start and stop, and no
    setting turns them off (``KINETO_LOG_LEVEL`` leaves them), so the descriptor is pointed at a
    temporary file for the profiled call; whatever else was written there is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
                    if not line.startswith(("USDT:", "STAGE:"))]
            sys.stderr.write("".join(kept))


def _training_task(model, batches, energy_weight, device):
    import torch

    from ..train.losses import ClusterLoss

    model = copy.deepcopy(model).to(device)
    loss = ClusterLoss(model, energy_weight).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def run():
        for b in batches:
            optimizer.zero_grad(set_to_none=True)
            loss(b.z, b.pos, b.batch, b.energy, b.n_water, b.forces if energy_weight < 1 else None)[0].backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 200.0)
            optimizer.step()
    return run


def _inference_task(model, batches, device):
    import torch

    model = copy.deepcopy(model).to(device).eval()

    def run():
        with torch.no_grad():
            for b in batches:
                model(b.z, b.pos, b.batch)
    return run


def _md_task(calculator, cluster, steps: int):
    from ase import units
    from ase.md.nvtberendsen import NVTBerendsen
    from ase.md.velocitydistribution import thermalize_momenta

    from ..model.calculator import to_atoms

    atoms = to_atoms(cluster)
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = NVTBerendsen(atoms, 0.1 * units.fs, temperature_K=300, taut=500 * units.fs)
    dyn.run(1)  # warm-up: first forces, tables, caches
    return lambda: dyn.run(steps)


def _zero_calculator():
    from ase.calculators.calculator import Calculator, all_changes

    class ZeroCost(Calculator):
        """Zero energy and forces: what the integrator costs by itself."""

        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}
    return ZeroCost()


def run_bench(n_clusters: int = 64, batch_size: int = 64, min_water: int = 3, max_water: int = 25,
              repeats: int = 3, md_steps: int = 20, device: str = "auto", config=None, md_sizes=MD_SIZES,
              seed: int = 0, every_repeat: bool = False):
    """One row per (variant, task): seconds per pass (the fastest of ``repeats``), clusters per second, ratio to
    PyG, FLOPs. ``every_repeat``: one row per timed pass instead (a ``repeat`` column; the ratio to PyG of the
    same pass), so that a figure can show the spread of the repeats rather than one disturbed run.

    A ``pandas.DataFrame`` with :data:`CSV_COLUMNS` and ``gflop_per_cluster``, ``peak_fraction``;
    ``attrs`` hold the peak GFLOP/s measured and the settings.
    """
    import pandas as pd
    import torch

    from ..device import select_device
    from ..model.calculator import SchNetCalculator
    from ..model.graph import knn_edge_index
    from ..model.schnet import PAPER_CONFIG

    config = config or PAPER_CONFIG
    torch_device = select_device(device).torch_device
    if torch_device.type not in ("cpu", "cuda"):
        raise ValueError(f"the bench runs on cpu or cuda, got {torch_device}")
    threads = torch.get_num_threads()
    clusters = bench_clusters(n_clusters, min_water, max_water, seed)
    batches = [_batch(clusters[i:i + batch_size], torch_device) for i in range(0, n_clusters, batch_size)]
    atoms = sum(c.n_atoms for c in clusters)
    edges = sum(int(knn_edge_index(b.pos, b.batch, config.k).size(1)) for b in batches)
    peak = peak_gflops(threads) if torch_device.type == "cpu" else float("nan")
    nets = models(config, seed)
    rows = []

    def record(variant, task, fn, n, n_atoms, n_edges, passes, flops=None):
        fn()  # warm-up
        _sync(torch_device)
        timings = [_timed(lambda: (fn(), _sync(torch_device))) for _ in range(passes)]
        per_cluster = flops / n if flops else float("nan")
        for repeat, seconds in enumerate(timings if every_repeat else [min(timings)]):
            rows.append({"device": torch_device.type, "threads": threads, "variant": variant, "task": task,
                         "repeat": repeat, "clusters": n, "atoms": n_atoms, "edges": n_edges, "seconds": seconds,
                         "clusters_per_s": n / seconds, "gflop_per_cluster": per_cluster / 1e9,
                         "peak_fraction": per_cluster * n / seconds / 1e9 / peak if flops else float("nan")})

    for variant, net in nets.items():
        tasks = {TRAIN_ENERGY: _training_task(net, batches, 1.0, torch_device),
                 TRAIN_FORCES: _training_task(net, batches, FORCE_ENERGY_WEIGHT, torch_device),
                 INFERENCE: _inference_task(net, batches, torch_device)}
        for task, fn in tasks.items():
            record(variant, task, fn, n_clusters, atoms, edges, repeats, _matmul_flops(fn))
    for n_water in md_sizes:
        start = md_start(n_water)
        n_edges = int(knn_edge_index(torch.as_tensor(start.pos), None, config.k).size(1))
        calculators = {v: SchNetCalculator(copy.deepcopy(net), device=torch_device) for v, net in nets.items()}
        calculators["zero-cost"] = _zero_calculator()
        for variant, calc in calculators.items():
            fn = _md_task(calc, start, md_steps)
            flops = _matmul_flops(fn) if variant != "zero-cost" else None
            before = len(rows)
            record(variant, f"md W{n_water}", fn, md_steps, start.n_atoms, n_edges, repeats, flops)
            for row in rows[before:]:  # per step
                row["clusters"], row["seconds"] = 1, row["seconds"] / md_steps
                row["clusters_per_s"] = 1 / row["seconds"]
    table = pd.DataFrame(rows)
    pyg = table[table.variant == BASELINE].set_index(["task", "repeat"]).clusters_per_s
    table["speed_vs_pyg"] = table.clusters_per_s / pd.Series(list(zip(table.task, table.repeat))).map(pyg).to_numpy()
    if not every_repeat:
        table = table.drop(columns="repeat")
    table.attrs.update(device=str(torch_device), threads=threads, clusters=n_clusters, batch_size=batch_size,
                       waters=f"{min_water}-{max_water}", config=config.as_dict(), peak_gflops=peak,
                       md_steps=md_steps)
    return table


def _batch(clusters, device):
    from ..train.batching import collate_batch

    return collate_batch(clusters, with_forces=True).to(device)


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
    """``hardware, clusters_per_s``: the published training throughput on a data set of ``clusters`` (and the
    V100 baseline, on its own 0.5M set) next to the energy-only training steps of a :func:`run_bench` table
    measured here (default ``clusters``: the paper's pretraining set)."""
    import pandas as pd

    from ..book import published_numbers as pub

    clusters = pub.PRETRAIN_CLUSTERS if clusters is None else clusters
    published = published_throughput()
    ipus = published[published.clusters == clusters]
    v100 = published[published.hardware == "V100 GPU"]
    rows = [{"hardware": f"{r.devices} Bow IPUs (published)", "clusters_per_s": r.clusters_per_s} for r in ipus.itertuples()]
    rows += [{"hardware": f"{r.devices} V100 GPUs (published, {r.clusters / 1e6:.1f}M set)", "clusters_per_s": r.clusters_per_s}
             for r in v100.itertuples()]
    a = bench_table.attrs
    rows += [{"hardware": f"this machine, {a.get('device', '?')} x {a.get('threads', '?')} threads ({VARIANT_NAMES[r.variant]})",
              "clusters_per_s": r.clusters_per_s} for r in bench_table.itertuples() if r.task == TRAIN_ENERGY]
    return pd.DataFrame(rows)


def format_table(table) -> str:
    """The :func:`run_bench` table for people, with a header saying what was run."""
    a = table.attrs
    head = (f"device {a['device']}, {a['threads']} threads; {a['clusters']} embedded non-minima W{a['waters']} "
            f"in batches of {a['batch_size']}; MD: {a['md_steps']} steps per timing; SchNet {a['config']}; "
            f"measured peak {a['peak_gflops']:.1f} GFLOP/s (float32 matrix product)\n")
    shown = table.drop(columns=["device", "threads"]).rename(columns={
        "clusters_per_s": "clusters/s", "speed_vs_pyg": "speed x", "gflop_per_cluster": "GFLOP/cluster",
        "peak_fraction": "of peak"})
    return head + shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ..model.schnet import PAPER_CONFIG, SchNetConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    config = PAPER_CONFIG if args.k is None else SchNetConfig(**{**PAPER_CONFIG.as_dict(), "k": args.k})
    load, started = os.getloadavg(), time.time()
    table = run_bench(args.clusters, args.batch_size or args.clusters, args.min_water, args.max_water,
                      args.repeats, args.md_steps, args.device, config,
                      md_sizes=tuple(args.md_sizes), every_repeat=args.every_repeat or bool(args.export))
    if args.export:
        card = export_bench(table, args.export, " ".join(["hydronet-nb", *sys.argv[1:]]), load, started)
        print(f"wrote {Path(args.export) / SHIPPED_TABLE} and its card {card}")
        return 0
    if args.csv:
        columns = CSV_COLUMNS[:4] + (["repeat"] if args.every_repeat else []) + CSV_COLUMNS[4:]
        print(table[columns].to_csv(index=False, float_format="%.6g"), end="")
    else:
        print(format_table(table))
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb bench``."""
    p = subparsers.add_parser("bench", help="speed of training, inference and MD: the fast SchNet vs PyG's SchNet",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--clusters", type=positive_int, default=64, help="clusters per pass (default 64)")
    p.add_argument("--batch-size", type=positive_int, help="clusters per optimizer step (default: all)")
    p.add_argument("--min-water", type=water_count, default=3)
    p.add_argument("--max-water", type=water_count, default=25)
    p.add_argument("--repeats", type=positive_int, default=3, help="timed passes; the fastest counts (after a warm-up)")
    p.add_argument("--md-steps", type=positive_int, default=20, help="MD steps per timed pass")
    p.add_argument("--md-sizes", type=water_count, nargs="*", default=list(MD_SIZES), help="waters of the MD clusters")
    p.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--k", type=positive_int, help="neighbours per atom (default: the paper's 28)")
    p.add_argument("--csv", action="store_true", help="print CSV: " + ",".join(CSV_COLUMNS))
    p.add_argument("--export", metavar="DIR", help="write every repeat as DIR/bench.csv with a card (the book's "
                   "shipped bench: run it on a quiet machine)")
    p.add_argument("--every-repeat", action="store_true",
                   help="a row per timed pass (a 'repeat' column) instead of the fastest; with --csv")
    p.set_defaults(func=cmd_bench)


def fast_path_facts(model, clusters) -> dict:
    """The fast SchNet's table (``table_points``, ``table_spacing``, ``table_max``, Angstrom) and the largest
    difference of its energies per water from PyG's module with the same weights on ``clusters``
    (``fast_energy_difference``, kcal/mol)."""
    import torch

    from ..data.clusters import ClusterSet
    from ..model.schnet import SchNetConfig, build_schnet

    config = SchNetConfig(model.hidden_channels, model.num_filters, model.num_interactions, model.num_gaussians,
                          model.cutoff, model.interaction_graph.k)
    fast, pyg = build_schnet(config, fast=True), build_schnet(config, fast=False)
    for m in (fast, pyg):
        m.load_state_dict(model.state_dict())
        m.eval()
    data = ClusterSet.from_clusters(clusters)
    with torch.no_grad():
        args = data.collate()
        diff = (fast(*args) - pyg(*args)).view(-1).double().abs().numpy() / data.n_water
    return {"table_points": fast.points, "table_spacing": fast.r_max / (fast.points - 1), "table_max": fast.r_max,
            "fast_energy_difference": float(diff.max())}
