"""``hydronet-nb generate``: the book's water-cluster data sets, made from scratch with open potentials.

Four data sets, written in the PNNL release layout (:mod:`hydronet_nb.io.pnnl`) into ``--out``:

* ``min``: AMOEBA2018 local minima of W3-W25 (HydroNet's pretraining set, TTM2.1-F there);
* ``min_extrapolation``: minima of larger clusters (W26-W30), only for testing size extrapolation;
* ``nonmin``: snapshots of Langevin MD at 260 K and 300 K started from ``min`` minima, with forces,
  split into train / val / test / examine / reserve pools for active learning;
* ``gfn2xtb``: ``min`` minima re-evaluated with GFN2-xTB, the stand-in for the paper's MB-pol transfer set;

plus ``split_00_<name>.npz`` for each and a dataset card, ``DATASET.md``.

Minima come from short basin-hopping walks: a walk starts from rigid monomers placed at random in
a sphere of liquid-water density with random orientations (overlaps rejected), and continues from
rigid-body perturbations of the minima it finds (a Metropolis walk); every structure is minimized
with AMOEBA. Broken clusters (a molecule that flies off, a water that dissociates, a failed
minimization) are rejected and counted, duplicates (same energy and same sorted interatomic
distances) removed and counted; both appear in the card.

All work is cut into chunks, each a pure function of (seed, stage, size, chunk number), written
atomically into ``--work``; a killed run continues where it stopped, and the output does not
depend on ``--workers``. Heavy imports happen inside functions: the CLI imports this module to
build its parser.
"""
from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

#: one liquid-water molecule per 29.9 cubic Angstrom (1 g/cm3): density of the random starts
WATER_DENSITY = 0.0334
#: random starts: closest allowed O-O distance and closest allowed pair of atoms of different molecules, Angstrom
START_MIN_OO, START_MIN_ATOMS = 2.5, 1.6
#: basin hopping: rigid-body step sizes (Angstrom, radian), walk temperature (kcal/mol), chance of a fresh random start
HOP_TRANSLATION, HOP_ROTATION, HOP_KT, HOP_RESTART = 0.35, 0.5, 1.5, 0.25
#: a cluster is broken when an O-H bond is longer than this (dissociated water) ...
BROKEN_OH = 1.3
#: ... or when its molecules do not form one connected graph with O-O edges up to this length (fragmented)
BROKEN_OO = 4.0
#: two minima of a size are the same when energies differ by at most this (kcal/mol) and sorted distances by at most that (Angstrom)
DUPLICATE_ENERGY, DUPLICATE_DISTANCE = 0.01, 0.02
#: more chunks are scheduled while a size has too few unique minima, up to this many attempts per wanted minimum
MAX_ATTEMPTS_PER_MINIMUM = 4
#: the split fractions, in the order train, val, test, examine, reserve (PNNL: 5,000 train and 1,000 examine non-minima)
SPLITS = {
    "min": (0.8, 0.1, 0.1, 0.0, 0.0),
    "min_extrapolation": (0.0, 0.0, 1.0, 0.0, 0.0),
    "nonmin": (0.5, 0.1, 0.1, 0.1, 0.2),
    "gfn2xtb": (0.8, 0.1, 0.1, 0.0, 0.0),
}
#: version of the chunk files and of what they mean; part of a work folder's settings.json
CHUNK_FORMAT = 1
#: codes that keep the random streams of the stages apart
_STAGE_CODE = {"min": 1, "min_extrapolation": 2, "nonmin": 3, "gfn2xtb": 4, "split": 5}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that determines the output (not ``--workers``, which only changes the speed)."""

    seed: int
    sizes: tuple[int, ...]
    minima: int
    extrapolation_sizes: tuple[int, ...]
    extrapolation_minima: int
    nonminima: int
    transfer: int
    chunk: int  # minimizations per chunk
    minimize_tolerance: float  # RMS force, kcal/mol/Angstrom
    temperatures: tuple[float, ...]
    md_equilibration_steps: int
    md_interval_steps: int
    md_frames: int  # frames per trajectory, one trajectory per chunk
    md_timestep_fs: float
    md_friction_per_ps: float
    xtb_chunk: int  # GFN2-xTB evaluations per chunk


#: the real data set (>= 10,000 minima W3-W25, >= 300 W26-W30, 10,000 non-minima, 5,000 GFN2-xTB)
FULL = dict(seed=0, sizes=tuple(range(3, 26)), minima=10000, extrapolation_sizes=tuple(range(26, 31)),
            extrapolation_minima=300, nonminima=10000, transfer=5000, chunk=10, minimize_tolerance=0.01,
            temperatures=(260.0, 300.0), md_equilibration_steps=1000, md_interval_steps=200, md_frames=10,
            md_timestep_fs=0.5, md_friction_per_ps=1.0, xtb_chunk=50)
#: seconds, for tests and a first look
TINY = dict(FULL, sizes=(3, 4, 5), minima=9, extrapolation_sizes=(6,), extrapolation_minima=2, nonminima=6,
            transfer=4, chunk=2, md_equilibration_steps=40, md_interval_steps=20, md_frames=2, xtb_chunk=2)


def allocate(total: int, sizes: tuple[int, ...]) -> dict[int, int]:
    """Wanted minima per size, proportional to the size (HydroNet, too, holds more large clusters), summing to ``total``."""
    weights = np.asarray(sizes, dtype=float)
    raw = total * weights / weights.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:  # largest remainders
        counts[i] += 1
    return dict(zip(sizes, counts.tolist()))


def _rng(settings: Settings, stage: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([settings.seed, _STAGE_CODE[stage], *keys])


# --- structures ----------------------------------------------------------------------------------


def _rotations(rng: np.random.Generator, n: int, scale: float | None = None):
    """``n`` rotations: uniformly random, or random axes with angles ~ N(0, scale)."""
    from scipy.spatial.transform import Rotation

    if scale is None:
        return Rotation.random(n, random_state=rng)
    return Rotation.from_rotvec(rng.normal(0.0, scale, size=(n, 3)))


def random_start(n_water: int, monomer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n_water`` copies of ``monomer`` [3, 3] at random positions and orientations in a sphere of liquid density.

    Molecules are added one at a time; a placement that comes closer than ``START_MIN_OO`` (O-O) or
    ``START_MIN_ATOMS`` (any two atoms) to a placed molecule is drawn again.
    """
    radius = (3 * n_water / (4 * np.pi * WATER_DENSITY)) ** (1 / 3)
    body = monomer - monomer[0]
    placed: list[np.ndarray] = []
    for _ in range(2000 * n_water):
        if len(placed) == n_water:
            return np.concatenate(placed)
        centre = rng.uniform(-radius, radius, 3)
        if centre @ centre > radius**2:
            continue
        mol = _rotations(rng, 1).apply(body) + centre
        if placed:
            others = np.concatenate(placed)
            if np.linalg.norm(others[0::3] - centre, axis=1).min() < START_MIN_OO:
                continue
            if np.linalg.norm(others[:, None] - mol[None], axis=-1).min() < START_MIN_ATOMS:
                continue
        placed.append(mol)
    raise RuntimeError(f"could not place {n_water} waters in a sphere of {radius:.2f} Angstrom")


def perturb(pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move every molecule of ``pos`` [3N, 3] rigidly: a random translation and a rotation about its oxygen."""
    n = len(pos) // 3
    mols = pos.reshape(n, 3, 3)
    rot = _rotations(rng, n, HOP_ROTATION)
    shift = rng.normal(0.0, HOP_TRANSLATION, size=(n, 1, 3))
    moved = np.stack([rot[i].apply(m - m[0]) + m[0] for i, m in enumerate(mols)]) + shift
    return moved.reshape(-1, 3)


def why_broken(pos: np.ndarray) -> str | None:
    """``'dissociated'``, ``'fragmented'`` or None for a cluster at ``pos`` [3N, 3] (O H H order)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import pdist, squareform

    mols = pos.reshape(-1, 3, 3)
    if np.linalg.norm(mols[:, 1:] - mols[:, :1], axis=-1).max() > BROKEN_OH:
        return "dissociated"
    if len(mols) > 1:
        near = squareform(pdist(mols[:, 0])) <= BROKEN_OO
        if connected_components(near, directed=False)[0] > 1:
            return "fragmented"
    return None


def fingerprint(pos: np.ndarray) -> np.ndarray:
    """All interatomic distances, sorted: the same for any order of molecules or of a molecule's hydrogens, and any rigid motion."""
    from scipy.spatial.distance import pdist

    return np.sort(pdist(pos))


def unique_indices(energies: np.ndarray, positions: list[np.ndarray]) -> list[int]:
    """Indices of the structures (one size) that are not duplicates of an earlier one; the first of a group stays."""
    kept_e: list[float] = []  # sorted energies of kept structures, with their fingerprints alongside
    kept_fp: list[np.ndarray] = []
    keep = []
    for i, (e, pos) in enumerate(zip(energies, positions)):
        fp = fingerprint(pos)
        lo, hi = bisect.bisect_left(kept_e, e - DUPLICATE_ENERGY), bisect.bisect_right(kept_e, e + DUPLICATE_ENERGY)
        if any(np.abs(kept_fp[j] - fp).max() <= DUPLICATE_DISTANCE for j in range(lo, hi)):
            continue
        at = bisect.bisect(kept_e, e)
        kept_e.insert(at, e)
        kept_fp.insert(at, fp)
        keep.append(i)
    return keep


# --- chunks: computed in worker processes, stored atomically --------------------------------------


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
    """Write ``chunk`` to ``path`` atomically (a temporary file in the same folder, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_chunk(path: Path) -> Chunk:
    """Read a chunk written by :func:`save_chunk`."""
    with np.load(path) as data:
        bounds = np.cumsum(3 * data["sizes"])[:-1]
        pos = np.split(data["pos"], bounds) if len(data["sizes"]) else []
        forces = (np.split(data["forces"], bounds) if len(data["sizes"]) else []) if "forces" in data else None
        rejected = dict(zip(data["rejected_names"].tolist(), data["rejected_counts"].tolist()))
        return Chunk(pos, data["energy"], forces, rejected, int(data["attempts"]), float(data["seconds"]),
                     data["errors"].tolist())


_POTENTIALS: dict = {}


def _potential(kind: str):
    """One potential of each kind per process (AMOEBA caches its OpenMM Contexts per size)."""
    if kind not in _POTENTIALS:
        from .potentials import Amoeba, GFN2xTB

        _POTENTIALS[kind] = Amoeba() if kind == "amoeba" else GFN2xTB()
    return _POTENTIALS[kind]


def _minima_chunk(settings: Settings, task: Task) -> Chunk:
    """A basin-hopping walk of ``settings.chunk`` minimizations of W``task.stream``."""
    from openmm import OpenMMException

    amoeba = _potential("amoeba")
    rng = _rng(settings, task.stage, task.stream, task.index)
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
    amoeba = _potential("amoeba")
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

    xtb = _potential("xtb")
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


_CHUNK_FUNCTIONS = {"min": _minima_chunk, "min_extrapolation": _minima_chunk, "nonmin": _md_chunk, "gfn2xtb": _xtb_chunk}


def run_task(args: tuple[Settings, Task, str]) -> Task:
    """Compute one chunk and store it (the worker's entry point)."""
    settings, task, work = args
    started = time.process_time()
    chunk = _CHUNK_FUNCTIONS[task.stage](settings, task)
    chunk.seconds = time.process_time() - started
    save_chunk(task.path(Path(work)), chunk)
    return task


class Runner:
    """Runs tasks whose chunk files are missing, in a process pool, with a progress bar; counts reused chunks."""

    def __init__(self, settings: Settings, work: Path, workers: int):
        self.settings, self.work, self.workers = settings, work, workers
        self.reused = 0
        self._pool = None

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing

            # forkserver: workers forked from a clean process that has imported OpenMM but run nothing
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["hydronet_nb.reference.potentials"])
            self._pool = ctx.Pool(self.workers)
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def __call__(self, tasks: list[Task], desc: str) -> dict[Task, Chunk]:
        from tqdm import tqdm

        # largest clusters first, so that no long chunk starts last (the order does not change the results)
        todo = sorted((t for t in tasks if not t.path(self.work).exists()), key=lambda t: -t.stream)
        self.reused += len(tasks) - len(todo)
        jobs = [(self.settings, t, str(self.work)) for t in todo]
        with tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc, unit="chunk", file=sys.stderr) as bar:
            done = self._pool.imap_unordered(run_task, jobs) if self._pool else map(run_task, jobs)
            for _ in done:
                bar.update()
        return {t: load_chunk(t.path(self.work)) for t in tasks}


# --- stages -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    """What happened to the structures of one stage and size."""

    attempts: int = 0
    rejected: dict = dataclasses.field(default_factory=dict)
    duplicates: int = 0
    unique: int = 0
    wanted: int = 0
    cpu_seconds: float = 0.0
    errors: list = dataclasses.field(default_factory=list)  # the first few distinct error messages

    def add(self, chunk: Chunk) -> None:
        self.attempts += chunk.attempts
        self.cpu_seconds += chunk.seconds
        self.errors += [e for e in dict.fromkeys(chunk.errors) if e not in self.errors][: 3 - len(self.errors)]
        for k, v in chunk.rejected.items():
            self.rejected[k] = self.rejected.get(k, 0) + v


@dataclasses.dataclass
class Stage:
    """A finished stage: kept structures (positions, energies, forces or None) and tallies per size (0: all sizes)."""

    pos: list[np.ndarray]
    energy: np.ndarray
    forces: list[np.ndarray] | None
    tallies: dict[int, Tally]

    def table(self) -> list[tuple[int, Tally | None, int]]:
        """Rows ``(size, tally or None, kept)`` by size, the all-sizes tally (size 0) first."""
        kept = np.bincount([len(p) // 3 for p in self.pos], minlength=1)
        sizes = sorted(set(self.tallies) | set(np.flatnonzero(kept).tolist()))
        return [(n, self.tallies.get(n), int(kept[n]) if n and n < len(kept) else 0) for n in sizes]


def _schedule(n_done: int, have: int, want: int, attempts: int, per_chunk: int, max_chunks: int) -> int:
    """How many more chunks a stream needs to reach ``want`` kept structures, judging from its yield so far."""
    if have >= want or n_done >= max_chunks:
        return 0
    rate = max(have / attempts, 0.2) if attempts else 1.0
    return min(math.ceil((want - have) / (per_chunk * rate)), max_chunks - n_done)


def minima_stage(stage: str, sizes: tuple[int, ...], total: int, settings: Settings, run: Runner) -> Stage:
    """``total`` unique, unbroken minima, shared over ``sizes`` by :func:`allocate`.

    A size gets more chunks until it has its share or has used ``MAX_ATTEMPTS_PER_MINIMUM`` attempts
    per wanted minimum (small clusters have only a few distinct minima: the walks find one for W3); the
    shortfall of such sizes is then shared among the others, so the total is met when it can be.
    """
    wanted = allocate(total, sizes)
    chunks: dict[int, list[Chunk]] = {n: [] for n in sizes}
    keep: dict[int, list[int]] = {n: [] for n in sizes}
    while True:
        tasks = []
        for n in sizes:
            max_chunks = math.ceil(MAX_ATTEMPTS_PER_MINIMUM * wanted[n] / settings.chunk)
            more = _schedule(len(chunks[n]), len(keep[n]), wanted[n], len(chunks[n]) * settings.chunk, settings.chunk, max_chunks)
            tasks += [Task(stage, n, len(chunks[n]) + i) for i in range(more)]
        if tasks:
            results = run(tasks, f"{stage} W{tasks[0].stream}-W{tasks[-1].stream}")
            for t in tasks:
                chunks[t.stream].append(results[t])
            for n in {t.stream for t in tasks}:
                pos = [p for c in chunks[n] for p in c.pos]
                keep[n] = unique_indices(np.concatenate([c.energy for c in chunks[n]]), pos)
            continue
        short = {n: wanted[n] - len(keep[n]) for n in sizes if len(keep[n]) < wanted[n]}  # out of attempts
        others = tuple(n for n in sizes if n not in short)
        if not short or not others:
            break
        for n in short:
            wanted[n] = len(keep[n])
        for n, extra in allocate(sum(short.values()), others).items():
            wanted[n] += extra
    out_pos, out_e, tallies = [], [], {}
    for n in sizes:
        tally = Tally(wanted=wanted[n])
        for c in chunks[n]:
            tally.add(c)
        pos = [p for c in chunks[n] for p in c.pos]
        energy = np.concatenate([c.energy for c in chunks[n]]) if chunks[n] else np.zeros(0)
        tally.unique, tally.duplicates = len(keep[n]), len(pos) - len(keep[n])
        chosen = keep[n][: wanted[n]]
        out_pos += [pos[i] for i in chosen]
        out_e.append(energy[chosen])
        tallies[n] = tally
    return Stage(out_pos, np.concatenate(out_e), None, tallies)


def _stream_stage(stage: str, want: int, make_task, max_chunks: int, per_chunk: int, run: Runner) -> Stage:
    """A stage whose chunk ``k`` is ``make_task(k)``: chunks are added until ``want`` structures are kept.

    Attempts and rejections are tallied per task stream (the start's size for MD, 0 = all sizes for
    GFN2-xTB, whose chunks mix sizes); kept structures per size.
    """
    done: list[tuple[Task, Chunk]] = []
    while True:
        have = sum(len(c.pos) for _, c in done)
        more = _schedule(len(done), have, want, sum(c.attempts for _, c in done), per_chunk, max_chunks)
        if not more:
            break
        tasks = [make_task(len(done) + i) for i in range(more)]
        results = run(tasks, stage)
        done += [(t, results[t]) for t in tasks]
    tallies: dict[int, Tally] = {}
    for t, c in done:
        tallies.setdefault(t.stream, Tally()).add(c)
    pos = [p for _, c in done for p in c.pos][:want]
    energy = np.concatenate([c.energy for _, c in done])[:want] if done else np.zeros(0)
    forces = [f for _, c in done for f in c.forces][:want]
    return Stage(pos, energy, forces, tallies)


def nonminima_stage(settings: Settings, minima: Stage, run: Runner) -> Stage:
    """MD snapshots: trajectory ``k`` starts from a minimum drawn at random, at ``temperatures[k % len]``."""
    by_size: dict[int, list[int]] = {}
    for i, p in enumerate(minima.pos):
        by_size.setdefault(len(p) // 3, []).append(i)
    sizes = sorted(by_size)

    def make_task(k: int) -> Task:
        rng = _rng(settings, "nonmin", 0, k)
        n = sizes[rng.integers(len(sizes))]
        start = minima.pos[by_size[n][rng.integers(len(by_size[n]))]]
        payload = (start, settings.temperatures[k % len(settings.temperatures)], int(rng.integers(1, 2**31 - 1)))
        return Task("nonmin", n, k, payload)

    max_chunks = math.ceil(MAX_ATTEMPTS_PER_MINIMUM * settings.nonminima / settings.md_frames)
    return _stream_stage("nonmin", settings.nonminima, make_task, max_chunks, settings.md_frames, run)


def transfer_stage(settings: Settings, minima: Stage, run: Runner) -> Stage:
    """GFN2-xTB energies and forces of ``settings.transfer`` minima drawn at random (without repeats) from ``minima``."""
    order = _rng(settings, "gfn2xtb", 0, 0).permutation(len(minima.pos))
    per = settings.xtb_chunk

    def make_task(k: int) -> Task:
        return Task("gfn2xtb", 0, k, tuple(minima.pos[i] for i in order[k * per:(k + 1) * per]))

    return _stream_stage("gfn2xtb", settings.transfer, make_task, math.ceil(len(order) / per), per, run)


# --- output -------------------------------------------------------------------------------------


def _clusters(stage: Stage, source: str):
    from ..data.clusters import Cluster
    from .potentials import water_numbers

    forces = stage.forces if stage.forces is not None else [None] * len(stage.pos)
    return [Cluster(z=water_numbers(len(p) // 3), pos=p, energy=float(e), forces=f, source=f"{source} #{i}")
            for i, (p, e, f) in enumerate(zip(stage.pos, stage.energy, forces))]


def split_indices(n: int, fractions: tuple[float, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random partition of ``range(n)`` into train, val, test, examine and reserve with the given fractions (rounded)."""
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    bounds[-1] = n
    parts = np.split(rng.permutation(n), bounds[:-1])
    return {name: np.sort(p) for name, p in zip(("train_idx", "val_idx", "test_idx", "examine_idx", "reserve_idx"), parts)}


def write_outputs(out: Path, settings: Settings, stages: dict[str, Stage]) -> list[Path]:
    """The HDF5 file and the split file of each data set, in the PNNL layout; returns their paths."""
    from ..io.pnnl import write_pnnl_hdf5, write_split

    label = {"min": "AMOEBA2018 minimum", "min_extrapolation": "AMOEBA2018 minimum", "nonmin": "AMOEBA2018 MD snapshot",
             "gfn2xtb": "GFN2-xTB at an AMOEBA2018 minimum"}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, stage in stages.items():
        data, split = out / f"{name}_data.hdf5", out / f"split_00_{name}.npz"
        write_pnnl_hdf5(data, _clusters(stage, label[name]))
        write_split(split, **split_indices(len(stage.pos), SPLITS[name], _rng(settings, "split", _STAGE_CODE[name])))
        paths += [data, split]
    return paths


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    from .. import __version__

    return {"hydronet_nb": __version__, "python": platform.python_version(),
            **{d: version(d) for d in ("openmm", "tblite", "ase", "numpy", "scipy", "h5py")}}


def potential_settings() -> dict:
    return {"amoeba": _potential("amoeba").settings(), "xtb": _potential("xtb").settings()}


def write_card(out: Path, settings: Settings, stages: dict[str, Stage], files: list[Path], *, command: str,
               wall_seconds: float, reused: int) -> Path:
    """``DATASET.md``: how the data were made, what is in them, and checksums."""
    from ..io.reference_files import sha256_of

    amoeba, xtb = _potential("amoeba"), _potential("xtb")
    cpu = sum(t.cpu_seconds for s in stages.values() for t in s.tallies.values())
    lines = [
        "# Generated water-cluster data (HydroNet book)", "",
        "Made by `hydronet-nb generate` from open potentials standing in for the paper's: AMOEBA2018 (OpenMM) for "
        "TTM2.1-F, GFN2-xTB (tblite) for MB-pol. Energies in kcal/mol relative to N relaxed isolated monomers of the "
        "same potential; `f` holds the energy gradient dE/dx in kcal/mol/Angstrom (PNNL layout). Users who built "
        "PNNL's TTM library can evaluate TTM2.1-F itself with `hydronet_nb.reference.potentials.TTM21F`.", "",
        "## Command", "", "```", command, "```", "",
        f"Wall time of this invocation: {wall_seconds:.1f} s ({reused} chunks reused from the work folder). "
        f"CPU time summed over all chunks: {cpu:.1f} s.", "",
        "## Potentials", "",
        f"- AMOEBA2018: {json.dumps(amoeba.settings())}; relaxed monomer {amoeba.monomer_energy:.6f} kcal/mol",
        f"- GFN2-xTB: {json.dumps(xtb.settings())}; relaxed monomer {xtb.monomer_energy:.6f} kcal/mol",
        f"- Minimization: OpenMM LocalEnergyMinimizer (L-BFGS) to an RMS force of {settings.minimize_tolerance} kcal/mol/Angstrom",
        f"- MD: OpenMM LangevinMiddleIntegrator, {settings.md_timestep_fs} fs steps, friction {settings.md_friction_per_ps}/ps, "
        f"temperatures {list(settings.temperatures)} K, {settings.md_equilibration_steps} steps of equilibration, then "
        f"{settings.md_frames} frames {settings.md_interval_steps} steps apart per trajectory", "",
        "## Libraries", "", *[f"- {k} {v}" for k, v in library_versions().items()], "",
        "## Settings", "", *[f"- {k}: {v}" for k, v in dataclasses.asdict(settings).items()], "",
        "## Contents", "",
        "Rejected structures are broken (`fragmented`: molecules not connected by O-O distances up to "
        f"{BROKEN_OO} Angstrom; `dissociated`: an O-H bond over {BROKEN_OH} Angstrom) or failed (OpenMM or tblite "
        f"error); duplicates are minima within {DUPLICATE_ENERGY} kcal/mol and {DUPLICATE_DISTANCE} Angstrom "
        "(sorted interatomic distances) of an earlier one. `wanted` is a size's share of the minima after the "
        "shortfall of sizes with too few distinct minima was moved to the others. For `nonmin`, attempts and "
        "rejections are counted by the size of the trajectory's start; for `gfn2xtb` over all sizes.", "",
    ]
    for name, stage in stages.items():
        lines += [f"### {name}: {len(stage.pos)} clusters", "",
                  "| waters | wanted | attempts | rejected | duplicates | unique | kept | CPU s |", "|---|---|---|---|---|---|---|---|"]
        for n, t, kept in stage.table():
            if t is None:
                lines.append(f"| {n} | - | - | - | - | - | {kept} | - |")
                continue
            rej = ", ".join(f"{k} {v}" for k, v in t.rejected.items() if v) or "0"
            lines.append(f"| {n or 'all'} | {t.wanted or '-'} | {t.attempts} | {rej} | {t.duplicates} | {t.unique or '-'} | "
                         f"{kept if n else '-'} | {t.cpu_seconds:.1f} |")
        errors = [f"- W{n}: {e}" if n else f"- {e}" for n, t, _ in stage.table() if t for e in t.errors]
        lines += ["", "Errors behind `failed` (first of each size):", *errors] if errors else []
        lines.append("")
    lines += ["## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| {p.name} | {p.stat().st_size} | `{sha256_of(p)}` |" for p in files]
    card = out / "DATASET.md"
    tmp = card.with_name(".DATASET.md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, card)
    return card


def _check_work(work: Path, settings: Settings) -> None:
    """Refuse a work folder made with other settings or library versions: its chunks would not fit together."""
    record = {"settings": dataclasses.asdict(settings), "potentials": potential_settings(), "versions": library_versions(),
              "chunk_format": CHUNK_FORMAT}
    record = json.loads(json.dumps(record))  # tuples as lists, as they come back from the file
    path = work / "settings.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != record:
            diff = []
            for group, new in record.items():
                was = old.get(group)
                if isinstance(new, dict) and isinstance(was, dict):
                    diff += [f"{group}.{k}: {was.get(k)} -> {v}" for k, v in new.items() if was.get(k) != v]
                elif was != new:
                    diff.append(f"{group}: {was} -> {new}")
            raise ValueError(f"{path}: this work folder was made with other settings ({'; '.join(diff)}); "
                             "use another --work folder or delete this one")
        return
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".settings.json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def generate(settings: Settings, out: Path, work: Path, workers: int, command: str) -> Path:
    """Make all data sets (resuming from ``work``), write them into ``out`` and return the card's path."""
    started = time.perf_counter()
    _check_work(work, settings)
    for stale in work.rglob(".*.tmp"):  # left by a killed run
        stale.unlink()
    with Runner(settings, work, workers) as run:
        minima = minima_stage("min", settings.sizes, settings.minima, settings, run)
        stages = {"min": minima}
        if settings.extrapolation_minima:
            stages["min_extrapolation"] = minima_stage("min_extrapolation", settings.extrapolation_sizes,
                                                       settings.extrapolation_minima, settings, run)
        if settings.nonminima:
            stages["nonmin"] = nonminima_stage(settings, minima, run)
        if settings.transfer:
            stages["gfn2xtb"] = transfer_stage(settings, minima, run)
    for name, stage in stages.items():
        for n, t, kept in stage.table():
            line = f"{name:18s} {f'W{n}' if n else 'all':>4s}  kept {kept if n else '-':>6}"
            if t is not None:
                reasons = ", ".join(f"{k} {v}" for k, v in t.rejected.items() if v)
                line += (f"  attempts {t.attempts:6d}  rejected {sum(t.rejected.values()):5d}{f' ({reasons})' if reasons else ''}"
                         f"  duplicates {t.duplicates:5d}" + (f"  wanted {t.wanted}" if t.wanted else ""))
            print(line + "".join(f"\n    error: {e}" for e in (t.errors if t else [])))
    files = write_outputs(out, settings, stages)
    return write_card(out, settings, stages, files, command=command, wall_seconds=time.perf_counter() - started,
                      reused=run.reused)


# --- command line -------------------------------------------------------------------------------


def parse_sizes(text: str) -> tuple[int, ...]:
    """``'3-25'`` or ``'3,5,7'`` (or a mix) as a tuple of sizes; a clear error otherwise."""
    sizes: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            sizes += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes {text!r}: expected e.g. '3-25' or '3,4,5'") from None
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"sizes {text!r}: need at least one size, each of 2 waters or more")
    return tuple(sorted(set(sizes)))


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The preset (``--tiny`` or the full data set) with the options given on the command line on top."""
    values = dict(TINY if args.tiny else FULL)
    for key in ("seed", "sizes", "minima", "extrapolation_sizes", "extrapolation_minima", "nonminima", "transfer", "chunk"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    for key in ("minima", "extrapolation_minima", "nonminima", "transfer"):
        if values[key] < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be 0 or more, got {values[key]}")
    if values["minima"] < 1:
        raise ValueError("--minima must be at least 1: the other data sets start from the minima")
    if values["chunk"] < 1:
        raise ValueError(f"--chunk must be at least 1, got {values['chunk']}")
    if values["seed"] < 0:
        raise ValueError(f"--seed must be 0 or more, got {values['seed']}")
    if values["transfer"] > values["minima"]:
        raise ValueError(f"--transfer {values['transfer']} is more than --minima {values['minima']}: it re-evaluates minima")
    return Settings(**values)


def _ranges(sizes: tuple[int, ...]) -> str:
    """(3, 4, 5, 8) as '3-5,8', the form --sizes reads."""
    runs: list[list[int]] = []
    for n in sizes:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def command_line(settings: Settings, tiny: bool, out: Path, work: Path, workers: int) -> str:
    """The command that makes exactly this data set, every option spelled out."""
    s = settings
    args = ["generate", *(["--tiny"] if tiny else []), "--seed", s.seed, "--sizes", _ranges(s.sizes), "--minima", s.minima,
            "--extrapolation-sizes", _ranges(s.extrapolation_sizes), "--extrapolation-minima", s.extrapolation_minima,
            "--nonminima", s.nonminima, "--transfer", s.transfer, "--chunk", s.chunk, "--out", out, "--work", work,
            "--workers", workers]
    return "hydronet-nb " + shlex.join(map(str, args))


def cmd_generate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    # one thread per process for tblite's OpenMP: the parallelism is the pool of workers (set before tblite loads)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_name(out.name + "-work")
    card = generate(settings, out, work, args.workers, command_line(settings, args.tiny, out, work, args.workers))
    print(f"wrote {card.parent}: {', '.join(sorted(p.name for p in card.parent.iterdir()))}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb generate``."""
    p = subparsers.add_parser(
        "generate", help="make the water-cluster data sets (AMOEBA2018 minima and MD, GFN2-xTB transfer set)",
        description="Generate minima, non-minima and a GFN2-xTB transfer set in the PNNL layout. Defaults make the "
                    "full data set (hours); --tiny makes a small one in seconds. Resumable: rerun the same command.",
    )
    p.add_argument("--out", required=True, help="folder for the data files and DATASET.md")
    p.add_argument("--work", help="folder for finished chunks (default: OUT-work beside OUT); keep it to resume")
    p.add_argument("--tiny", action="store_true", help="a data set that takes seconds (W3-W5), for tests")
    p.add_argument("--seed", type=int, help="random seed (default 0); the same seed gives the same data")
    p.add_argument("--sizes", type=parse_sizes, help="cluster sizes of the minima, e.g. 3-25 (default)")
    p.add_argument("--minima", type=int, help="minima wanted over --sizes, shared in proportion to size (default 10000)")
    p.add_argument("--extrapolation-sizes", type=parse_sizes, help="sizes of the extrapolation minima (default 26-30)")
    p.add_argument("--extrapolation-minima", type=int, help="extrapolation minima wanted (default 300; 0 for none)")
    p.add_argument("--nonminima", type=int, help="MD snapshots wanted (default 10000; 0 for none)")
    p.add_argument("--transfer", type=int, help="minima re-evaluated with GFN2-xTB (default 5000; 0 for none)")
    p.add_argument("--chunk", type=int, help="minimizations per chunk of work (default 10)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default: 2 or the CPU count)")
    p.set_defaults(func=cmd_generate)
