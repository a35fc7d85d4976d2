"""Replica-steps per second: the batched integrator against one ASE ``NVTBerendsen`` run after another."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch


def replica_throughput(model, cluster, replicas=(1, 10), steps: int = 20, device: str = "cpu") -> pd.DataFrame:
    """``engine, replicas, seconds, replica_steps_per_s`` for both engines on ``cluster`` (one warm-up step each)."""
    from ase import units
    from ase.md.nvtberendsen import NVTBerendsen

    from ..model.calculator import SchNetCalculator
    from .batched import BatchedBerendsen
    from .command import initial_state

    model = model.to(device).eval()
    rows = []
    for n in replicas:
        starts = [initial_state(cluster, seed, 300.0, 0.01) for seed in range(n)]
        engine = BatchedBerendsen(model, starts[0].numbers, np.stack([a.positions for a in starts]),
                                  np.stack([a.get_momenta() for a in starts]), device=device)
        engine.run(1)
        _sync(device)
        t0 = time.perf_counter()
        engine.run(steps)
        _sync(device)
        rows.append({"engine": "batched", "replicas": n, "seconds": time.perf_counter() - t0})
        runs = []
        for atoms in starts:
            atoms.calc = SchNetCalculator(model, device=device)
            runs.append(NVTBerendsen(atoms, 0.1 * units.fs, temperature_K=300.0, taut=500 * units.fs))
            runs[-1].run(1)  # the warm-up step, as for the batched engine
        t0 = time.perf_counter()
        for dyn in runs:
            dyn.run(steps)
        rows.append({"engine": "ASE, one run after another", "replicas": n, "seconds": time.perf_counter() - t0})
    table = pd.DataFrame(rows)
    table["replica_steps_per_s"] = table["replicas"] * steps / table["seconds"]
    table.attrs.update(device=str(device), threads=torch.get_num_threads(), atoms=int(cluster.n_atoms), steps=steps)
    return table


def _sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
