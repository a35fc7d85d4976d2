"""``hydronet-nb md``: Berendsen NVT of a water cluster driven by a model, several seeds, resumable per run.

The paper's protocol by default: ASE's ``NVTBerendsen`` at 300 K, 0.1 fs steps, coupling 500 fs, 1000
steps, the start rattled by 0.01 Angstrom and Maxwell-Boltzmann momenta drawn per seed. ``--model``
takes a shipped model's name, ``published``, a folder or checkpoint file, or ``amoeba`` (the reference:
AMOEBA2018 through OpenMM behind an ASE calculator). ``--batched`` moves all seeds of a neural
network in one model call per step (:mod:`hydronet_nb.md.batched`). Every frame is checked
(:mod:`hydronet_nb.md.stability`) and, with ``--reference amoeba``, re-evaluated with AMOEBA2018; a run
stops at its first broken frame and the others go on. Files per run: :mod:`hydronet_nb.md.runs`.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.cli_types import nonneg_float, positive_float, positive_int, water_count
from ..utils.runlock import run_folder
from .runs import RunRecord
from .stability import Criteria

#: the paper's MD settings (Graphcore's script)
PAPER = {"temperature": 300.0, "dt": 0.1, "taut": 500.0, "steps": 1000, "rattle": 0.01, "row": 42}


def start_cluster(spec: str | None, size: int):
    """The starting structure: ``DATASET[:ROW]`` (the ROW-th cluster of ``size`` waters in an embedded data
    set, default the paper's row 42 of the minima, W26-W30 from the extrapolation set) or an xyz file."""
    from ..data import datasets
    from ..io.xyz import read_xyz_clusters

    spec = spec or ("min" if size <= 25 else "min_extrapolation")
    if spec.endswith(".xyz"):
        clusters = [c for c in read_xyz_clusters(spec) if c.n_atoms == 3 * size]
        if not clusters:
            raise ValueError(f"{spec}: no cluster of {size} waters")
        return clusters[0], f"{Path(spec).name}, first W{size}"
    name, _, row = spec.partition(":")
    data = datasets.load_dataset(name)
    rows = np.flatnonzero(data.n_water == size)
    if not len(rows):
        raise ValueError(f"data set {name!r} has no cluster of {size} waters")
    k = int(row) if row else min(PAPER["row"], len(rows) - 1)
    if not 0 <= k < len(rows):
        raise ValueError(f"data set {name!r} has {len(rows)} clusters of {size} waters; row {k} asked")
    return data.cluster(int(rows[k])), f"{name} W{size} #{k} (file row {int(rows[k])})"


def initial_state(cluster, seed: int, temperature: float, rattle: float):
    """Positions rattled by ``rattle`` Angstrom and Maxwell-Boltzmann momenta, both drawn from ``seed``."""
    from ase.md.velocitydistribution import thermalize_momenta

    from ..data.clusters import to_atoms

    atoms = to_atoms(cluster)
    rng = np.random.default_rng(seed)
    atoms.positions = atoms.positions + rng.normal(scale=rattle, size=atoms.positions.shape)
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    return atoms


def model_label(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(spec).stem if ("/" in spec or spec.endswith(".pt")) else spec)


def _ase_run(record: RunRecord, atoms, calculator, settings: dict) -> None:
    from ase import units
    from ase.md.nvtberendsen import NVTBerendsen
    from ase.md.verlet import VelocityVerlet

    begin = record.start()
    step = 0
    if begin is not None:
        step, pos, mom = begin
        atoms.set_positions(pos)
        atoms.set_momenta(mom)
    atoms.calc = calculator
    if settings["taut"] is None:  # NVE
        dyn = VelocityVerlet(atoms, settings["dt"] * units.fs)
    else:
        dyn = NVTBerendsen(atoms, settings["dt"] * units.fs, temperature_K=settings["temperature"],
                           taut=settings["taut"] * units.fs)

    def frame() -> bool:
        try:
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        except Exception:  # noqa: BLE001 -- a calculator failing on a broken structure: a non-finite frame
            energy, forces = float("nan"), np.full_like(atoms.positions, np.nan)
        return record.frame(step, atoms.positions, atoms.get_momenta(), energy, forces, atoms.get_temperature())

    if begin is None and not frame():
        return
    while step < settings["steps"] and record.failed() is None:
        n = min(settings["every"], settings["steps"] - step)
        try:
            dyn.run(n)
        except Exception:  # noqa: BLE001 -- recorded as a non-finite frame below
            atoms.positions[:] = np.nan
        step += n
        if not frame():
            return


def _batched_run(records: list[RunRecord], starts: list, model, settings: dict, device) -> None:
    from .batched import BatchedBerendsen

    groups: dict[int, list[int]] = {}
    states = []
    for i, (record, atoms) in enumerate(zip(records, starts)):
        begin = record.start()
        states.append((0, atoms.positions, atoms.get_momenta()) if begin is None else begin)
        groups.setdefault(states[-1][0], []).append(i)
    for step0, members in groups.items():
        engine = BatchedBerendsen(model, starts[members[0]].numbers, np.stack([states[i][1] for i in members]),
                                  np.stack([states[i][2] for i in members]), timestep_fs=settings["dt"],
                                  temperature_k=settings["temperature"], taut_fs=settings["taut"], device=device)
        engine.steps = step0

        def write_frames(eng) -> None:
            temps = eng.temperatures().cpu().numpy()
            for j, i in enumerate(members):
                if eng.alive[j] and not records[i].frame(eng.steps, eng.pos[j].cpu().numpy(), eng.p[j].cpu().numpy(),
                                                         float(eng.energy[j]), eng.forces[j].cpu().numpy(), temps[j]):
                    eng.alive[j] = False
                elif not eng.alive[j] and records[i].failed() is None:  # stopped by the integrator (not finite)
                    records[i].frame(eng.steps, eng.pos[j].cpu().numpy(), eng.p[j].cpu().numpy(), float("nan"),
                                     eng.forces[j].cpu().numpy(), temps[j])
        for j, i in enumerate(members):
            if records[i].failed() is not None:
                engine.alive[j] = False
        if step0 == 0:
            write_frames(engine)
        while engine.steps < settings["steps"] and bool(engine.alive.any()):
            engine.run(min(settings["every"], settings["steps"] - engine.steps))
            write_frames(engine)


def run_md(model: str, size: int, *, seeds=range(10), steps: int = PAPER["steps"], dt: float = PAPER["dt"],
           temperature: float = PAPER["temperature"], taut: float | None = PAPER["taut"],
           rattle: float = PAPER["rattle"],
           every: int = 10, start: str | None = None, out: str | Path = "md", batched: bool = False,
           reference: str | None = "amoeba", criteria: Criteria = Criteria(), device: str = "cpu",
           log=print) -> pd.DataFrame:
    """Run (or continue) one MD run per seed; returns one summary row per run. ``taut=None``: NVE (velocity
    Verlet from the same start, no thermostat)."""
    from ..model.calculator import SchNetCalculator
    from ..model.loading import load_model
    from ..reference.potentials import Amoeba

    cluster, where = start_cluster(start, size)
    settings = {"steps": int(steps), "dt": float(dt), "temperature": float(temperature),
                "taut": None if taut is None else float(taut), "every": int(every)}
    ref = Amoeba() if reference == "amoeba" else None
    label = model_label(model)
    engine = "batched" if batched and model != "amoeba" else "ase"  # part of the settings: a rerun keeps it
    with run_folder(out, lambda folder: f"the frames written so far are kept in {folder}"):
        records, starts = [], []
        for seed in seeds:
            record = RunRecord(Path(out) / f"{label}-W{size}-seed{seed}", cluster.z, timestep_fs=dt, reference=ref,
                               criteria=criteria, settings={**settings, "model": model, "start": where,
                                                            "rattle": float(rattle), "seed": int(seed),
                                                            "reference": reference, "engine": engine})
            records.append(record)
            starts.append(initial_state(cluster, seed, temperature, rattle))
        todo = [i for i, r in enumerate(records) if not r.done]
        t0 = time.perf_counter()
        if todo:
            log(f"{label}: W{size} from {where}, {len(todo)} run(s) of {steps} steps at {temperature:.0f} K")
        nnp = None if model == "amoeba" else load_model(model).to(device)
        if todo and engine == "batched":
            _batched_run([records[i] for i in todo], [starts[i] for i in todo], nnp, settings, device)
        else:
            for i in todo:
                calc = Amoeba().calculator() if nnp is None else SchNetCalculator(nnp, device=device)
                _ase_run(records[i], starts[i], calc, settings)
        seconds = time.perf_counter() - t0
        rows = []
        for seed, (i, record) in zip(seeds, enumerate(records)):
            if not record.done:
                record.finish(settings["steps"], {"model": model, "size": size, "seed": int(seed), "start": where,
                                                 "engine": engine, "seconds": seconds / max(len(todo), 1), **settings})
            rows.append(record.summary())
        return pd.DataFrame(rows)


def cmd_md(args: argparse.Namespace) -> int:
    table = run_md(args.model, args.size, seeds=range(args.seeds), steps=args.steps, dt=args.dt,
                   temperature=args.temperature, taut=None if args.nve else args.taut, rattle=args.rattle,
                   every=args.every,
                   start=args.start, out=args.out, batched=args.batched,
                   reference=None if args.reference == "none" else args.reference, device=args.device)
    columns = ["model", "size", "seed", "frames", "intact", "failed_fs", "reason", "bound_fraction"]
    print(table[columns].to_string(index=False))
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb md``."""
    p = subparsers.add_parser("md", help="Berendsen NVT driven by a model or AMOEBA2018, several seeds (resumable)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--model", default="finetuned", help="a shipped model's name, published, a folder or file, or amoeba")
    p.add_argument("--size", type=water_count, default=10, help="waters in the cluster (default 10)")
    p.add_argument("--start", help="DATASET[:ROW] of the embedded data (default: row 42 of the minima of that size) "
                                   "or an xyz file")
    p.add_argument("--seeds", type=positive_int, default=10, help="runs, seeds 0..N-1 (default 10)")
    p.add_argument("--steps", type=positive_int, default=PAPER["steps"], help="steps per run (default 1000)")
    p.add_argument("--dt", type=positive_float, default=PAPER["dt"], help="time step, fs (default 0.1)")
    p.add_argument("--temperature", type=positive_float, default=PAPER["temperature"], help="K (default 300)")
    p.add_argument("--taut", type=positive_float, default=PAPER["taut"], help="Berendsen coupling time, fs (default 500)")
    p.add_argument("--nve", action="store_true", help="no thermostat: velocity Verlet (energy conservation)")
    p.add_argument("--rattle", type=nonneg_float, default=PAPER["rattle"], help="start displacement, Angstrom (default 0.01)")
    p.add_argument("--every", type=positive_int, default=10, help="write a frame every N steps (default 10)")
    p.add_argument("--batched", action="store_true", help="all seeds of a neural network in one model call per step")
    p.add_argument("--reference", default="amoeba", choices=["amoeba", "none"],
                   help="re-evaluate every frame with AMOEBA2018 (default) or not")
    p.add_argument("--device", default="cpu", help="torch device of the model (cpu, cuda)")
    p.add_argument("--out", required=True, help="folder for the runs (one subfolder per seed)")
    p.set_defaults(func=cmd_md)
