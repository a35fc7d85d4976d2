"""Chunks of work: what one is (:class:`Task`), what it produced (:class:`Chunk`), how it is computed and stored.

Each chunk is a pure function of (seed, stage, size, chunk number), computed in a worker process
(:mod:`hydronet_nb.reference.runner`) and written atomically into the work folder, so a killed run
continues where it stopped and the output does not depend on the number of workers.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..utils.files import atomic_write
from .checks import why_broken
from .sampling import HOP_KT, HOP_RESTART, perturb, random_start
from .settings import Settings, stage_rng

@dataclasses.dataclass(frozen=True)
class Task:
    """One chunk of work: ``stage`` (a data-set name), ``stream`` (cluster size, or 0) and its number."""

    stage: str
    stream: int
    index: int
    # start structures for the stages that continue from minima; a function of the other fields
    payload: tuple = dataclasses.field(default=(), compare=False, repr=False)

    def path(self, work: Path) -> Path:
        return work / self.stage / f"{self.stream:02d}_{self.index:05d}.npz"


@dataclasses.dataclass
class Chunk:
    """What a chunk produced: structures (positions, energies, forces or None), counts of what was rejected, and
    the messages of the errors behind ``failed`` rejections."""

    pos: list[np.ndarray]
    energy: np.ndarray
    forces: list[np.ndarray] | None
    rejected: dict[str, int]
    attempts: int
    seconds: float
    errors: list[str] = dataclasses.field(default_factory=list)


def save_chunk(path: Path, chunk: Chunk) -> None:
    """Write ``chunk`` to ``path`` atomically (:func:`~hydronet_nb.utils.files.atomic_write`)."""
    sizes = np.array([len(p) // 3 for p in chunk.pos], dtype=np.int64)
    arrays = {
        "sizes": sizes,
        "pos": np.concatenate(chunk.pos).astype(np.float32) if chunk.pos else np.zeros((0, 3), np.float32),
        "energy": np.asarray(chunk.energy, dtype=np.float64),
        "attempts": np.int64(chunk.attempts),
        "seconds": np.float64(chunk.seconds),
        "rejected_names": np.array(sorted(chunk.rejected), dtype=str),
        "rejected_counts": np.array([chunk.rejected[k] for k in sorted(chunk.rejected)], dtype=np.int64),
        "errors": np.array(chunk.errors, dtype=str),
    }
    if chunk.forces is not None:
        arrays["forces"] = np.concatenate(chunk.forces).astype(np.float32) if chunk.forces else np.zeros((0, 3), np.float32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to a name
            np.savez(fh, **arrays)

    atomic_write(path, write)


def load_chunk(path: Path) -> Chunk:
    """Read a chunk written by :func:`save_chunk`."""
    with np.load(path) as data:
        bounds = np.cumsum(3 * data["sizes"])[:-1]
        pos = np.split(data["pos"], bounds) if len(data["sizes"]) else []
        forces = (np.split(data["forces"], bounds) if len(data["sizes"]) else []) if "forces" in data else None
        rejected = dict(zip(data["rejected_names"].tolist(), data["rejected_counts"].tolist()))
        return Chunk(pos, data["energy"], forces, rejected, int(data["attempts"]), float(data["seconds"]),
                     data["errors"].tolist())


_POTENTIALS: dict = {}  # one of each kind per worker process


def shared_potential(kind: str):
    """One potential of each kind per process (AMOEBA caches its OpenMM Contexts per size)."""
    if kind not in _POTENTIALS:
        from .potentials import Amoeba, GFN2xTB

        _POTENTIALS[kind] = Amoeba() if kind == "amoeba" else GFN2xTB()
    return _POTENTIALS[kind]


def _minima_chunk(settings: Settings, task: Task) -> Chunk:
    """A basin-hopping walk of ``settings.chunk`` minimizations of W``task.stream``."""
    from openmm import OpenMMException

    amoeba = shared_potential("amoeba")
    rng = stage_rng(settings, task.stage, task.stream, task.index)
    pos_out, energies, rejected, errors = [], [], {"dissociated": 0, "fragmented": 0, "failed": 0}, []
    walker = None  # (positions, energy) of the walk's current minimum
    for _ in range(settings.chunk):
        if walker is None or rng.random() < HOP_RESTART:
            start = random_start(task.stream, amoeba.monomer.pos, rng)
        else:
            start = perturb(walker[0], rng)
        try:
            pos, _ = amoeba.minimize(start, tolerance=settings.minimize_tolerance)
        except OpenMMException as exc:  # e.g. induced dipoles that do not converge
            rejected["failed"] += 1
            errors.append(str(exc))
            continue
        reason = why_broken(pos)
        if reason:
            rejected[reason] += 1
            continue
        pos = pos.astype(np.float32)  # the label belongs to the stored (float32) geometry
        energy = amoeba.energy_forces(pos)[0]
        pos_out.append(pos)
        energies.append(energy)
        if walker is None or rng.random() < math.exp(min(0.0, (walker[1] - energy) / HOP_KT)):
            walker = (pos.astype(np.float64), energy)
    return Chunk(pos_out, np.asarray(energies), None, rejected, settings.chunk, 0.0, errors)


def _md_chunk(settings: Settings, task: Task) -> Chunk:
    """One MD trajectory from the minimum in ``task.payload``; frames labelled with AMOEBA energies and forces."""
    from openmm import OpenMMException

    start, temperature, md_seed = task.payload
    amoeba = shared_potential("amoeba")
    pos_out, energies, forces, rejected = [], [], [], {"dissociated": 0, "fragmented": 0, "failed": 0}
    try:
        frames = amoeba.run_md(np.asarray(start, dtype=np.float64), temperature=temperature, seed=md_seed,
                               equilibration_steps=settings.md_equilibration_steps,
                               interval_steps=settings.md_interval_steps, n_frames=settings.md_frames,
                               timestep_fs=settings.md_timestep_fs, friction_per_ps=settings.md_friction_per_ps)
    except OpenMMException as exc:  # e.g. a polarization catastrophe: the whole trajectory is lost
        rejected["failed"] = settings.md_frames
        return Chunk([], np.zeros(0), [], rejected, settings.md_frames, 0.0, [str(exc)])
    for frame in frames.astype(np.float32):
        reason = why_broken(frame)
        if reason:
            rejected[reason] += 1
            continue
        e, f = amoeba.energy_forces(frame)
        pos_out.append(frame)
        energies.append(e)
        forces.append(f)
    return Chunk(pos_out, np.asarray(energies), forces, rejected, len(frames), 0.0)


def _xtb_chunk(settings: Settings, task: Task) -> Chunk:
    """GFN2-xTB energies and forces of the minima in ``task.payload``."""
    from tblite.exceptions import TBLiteRuntimeError

    xtb = shared_potential("xtb")
    pos_out, energies, forces, rejected, errors = [], [], [], {"failed": 0}, []
    for pos in task.payload:
        try:
            e, f = xtb.energy_forces(pos)
        except TBLiteRuntimeError as exc:  # e.g. an SCF that does not converge
            rejected["failed"] += 1
            errors.append(str(exc))
            continue
        pos_out.append(np.asarray(pos, dtype=np.float32))
        energies.append(e)
        forces.append(f)
    return Chunk(pos_out, np.asarray(energies), forces, rejected, len(task.payload), 0.0, errors)


#: the function that computes a chunk of each stage
CHUNK_FUNCTIONS = {"min": _minima_chunk, "min_extrapolation": _minima_chunk, "nonmin": _md_chunk, "gfn2xtb": _xtb_chunk}

