"""Stages: the chunks each data set needs, scheduled until it has what it wants, and what happened to them.

``min`` and ``min_extrapolation`` are basin-hopping minima per size (:func:`minima_stage`),
``nonmin`` MD snapshots from those minima (:func:`nonminima_stage`), ``gfn2xtb`` minima re-evaluated
with GFN2-xTB (:func:`transfer_stage`). Every stage asks the runner for chunks, reads back what they
produced, and schedules more until its target is met or its attempts are used up.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .checks import unique_indices
from .chunks import Chunk, Task
from .runner import Runner
from .settings import MAX_ATTEMPTS_PER_MINIMUM, Settings, allocate, stage_rng


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
        rng = stage_rng(settings, "nonmin", 0, k)
        n = sizes[rng.integers(len(sizes))]
        start = minima.pos[by_size[n][rng.integers(len(by_size[n]))]]
        payload = (start, settings.temperatures[k % len(settings.temperatures)], int(rng.integers(1, 2**31 - 1)))
        return Task("nonmin", n, k, payload)

    max_chunks = math.ceil(MAX_ATTEMPTS_PER_MINIMUM * settings.nonminima / settings.md_frames)
    return _stream_stage("nonmin", settings.nonminima, make_task, max_chunks, settings.md_frames, run)


def transfer_stage(settings: Settings, minima: Stage, run: Runner) -> Stage:
    """GFN2-xTB energies and forces of ``settings.transfer`` minima drawn at random (without repeats) from ``minima``."""
    order = stage_rng(settings, "gfn2xtb", 0, 0).permutation(len(minima.pos))
    per = settings.xtb_chunk

    def make_task(k: int) -> Task:
        return Task("gfn2xtb", 0, k, tuple(minima.pos[i] for i in order[k * per:(k + 1) * per]))

    return _stream_stage("gfn2xtb", settings.transfer, make_task, math.ceil(len(order) / per), per, run)


