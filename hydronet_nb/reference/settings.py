"""What a generated data set is made of: :class:`Settings` (everything that determines the output),
the presets (:data:`FULL`, the embedded set; :data:`TINY`, seconds), how minima are shared over
sizes, how data sets are split, and the seeds that keep the random streams of the stages apart.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..utils.schema import check_ranges, setting

#: more chunks are scheduled while a size has too few unique minima, up to this many attempts per wanted minimum
MAX_ATTEMPTS_PER_MINIMUM = 4
#: the split fractions, in the order of :data:`hydronet_nb.data.splits.SPLIT_PARTS` (PNNL: 5,000 train and 1,000 examine non-minima)
SPLITS = {
    "min": (0.8, 0.1, 0.1, 0.0, 0.0),
    "min_extrapolation": (0.0, 0.0, 1.0, 0.0, 0.0),
    "nonmin": (0.5, 0.1, 0.1, 0.1, 0.2),
    "gfn2xtb": (0.8, 0.1, 0.1, 0.0, 0.0),
}
#: version of the chunk files and of what they mean; part of a work folder's settings.json
CHUNK_FORMAT = 1
#: codes that keep the random streams of the stages apart
STAGE_CODE = {"min": 1, "min_extrapolation": 2, "nonmin": 3, "gfn2xtb": 4, "split": 5}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that determines the output (not ``--workers``, which only changes the speed)."""

    seed: int = setting(ge=0)
    sizes: tuple[int, ...] = setting(ge=2)
    minima: int = setting(ge=1)  # the other data sets start from the minima
    extrapolation_sizes: tuple[int, ...] = setting(ge=2)
    extrapolation_minima: int = setting(ge=0)
    nonminima: int = setting(ge=0)
    transfer: int = setting(ge=0)
    chunk: int = setting(ge=1)  # minimizations per chunk
    minimize_tolerance: float = setting(gt=0)  # RMS force, kcal/mol/Angstrom
    temperatures: tuple[float, ...] = setting(gt=0)
    md_equilibration_steps: int = setting(ge=0)
    md_interval_steps: int = setting(ge=1)
    md_frames: int = setting(ge=1)  # frames per trajectory, one trajectory per chunk
    md_timestep_fs: float = setting(gt=0)
    md_friction_per_ps: float = setting(gt=0)
    xtb_chunk: int = setting(ge=1)  # GFN2-xTB evaluations per chunk

    def __post_init__(self):
        check_ranges(self, "settings")
        if self.transfer > self.minima:
            raise ValueError(f"settings.transfer: expected at most minima ({self.minima}): it re-evaluates minima, "
                             f"got {self.transfer}")


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


def stage_rng(settings: Settings, stage: str, *keys: int) -> np.random.Generator:
    """The random stream of ``stage`` (and ``keys``: size, chunk) under ``settings.seed``: a pure function of its inputs."""
    return np.random.default_rng([settings.seed, STAGE_CODE[stage], *keys])
