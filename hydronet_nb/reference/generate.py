"""``hydronet-nb generate``: the book's water-cluster data sets, made from scratch with open potentials.

Four data sets, written in the PNNL release layout (:mod:`hydronet_nb.io.pnnl`) into ``--out``:

* ``min``: AMOEBA2018 local minima of W3-W25 (HydroNet's pretraining set, TTM2.1-F there);
* ``min_extrapolation``: minima of larger clusters (W26-W30), only for testing size extrapolation;
* ``nonmin``: snapshots of Langevin MD at 260 K and 300 K started from ``min`` minima, with forces,
  split into train / val / test / examine / reserve pools for active learning;
* ``gfn2xtb``: ``min`` minima re-evaluated with GFN2-xTB, the stand-in for the paper's MB-pol transfer set;

plus ``split_00_<name>.npz`` for each and a data-set card, ``DATASET.json`` rendered as ``DATASET.md``.

Minima come from short basin-hopping walks (:mod:`~hydronet_nb.reference.sampling`): a walk starts
from rigid monomers placed at random in a sphere of liquid-water density with random orientations
(overlaps rejected), and continues from rigid-body perturbations of the minima it finds (a
Metropolis walk); every structure is minimized with AMOEBA. Broken clusters (a molecule that flies
off, a water that dissociates, a failed minimization) are rejected and counted, duplicates (same
energy and same sorted interatomic distances) removed and counted (:mod:`~hydronet_nb.reference.checks`);
both appear in the card (:mod:`~hydronet_nb.reference.card`).

All work is cut into chunks (:mod:`~hydronet_nb.reference.chunks`), each a pure function of (seed,
stage, size, chunk number), written atomically into ``--work`` by the runner
(:mod:`~hydronet_nb.reference.runner`); the stages (:mod:`~hydronet_nb.reference.stages`) schedule
them. A killed run continues where it stopped, and the output does not depend on ``--workers``.
This module puts the pieces together; the command line is :mod:`~hydronet_nb.reference.cli`.

``generate`` touches only folders it made: it writes a marker file (:data:`MARKER`) into ``--out`` and
``--work`` when it makes them (or finds them empty), refuses an existing non-empty folder without one,
and holds both folders' locks (:mod:`hydronet_nb.utils.runlock`) while it runs.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ..data.clusters import Cluster
from ..data.splits import split_file_name, split_indices
from ..data.water import water_numbers
from ..utils.config import differences
from ..utils.files import atomic_write_json, atomic_write_text, remove_stale_temporaries
from ..utils.runlock import run_folders
from .card import library_versions, potential_settings, write_dataset_card
from .runner import Runner
from .settings import CHUNK_FORMAT, SPLITS, STAGE_CODE, Settings, stage_rng
from .stages import Stage, minima_stage, nonminima_stage, transfer_stage

#: the file that says a folder was made by ``generate`` (which may then delete ``.*.tmp`` files and replace files in it)
MARKER = ".hydronet-nb-generate"


def _made_by_generate(folder: Path) -> bool:
    """Whether ``folder`` holds the marker, or is one that ``generate`` made before it wrote markers (a work
    folder's ``settings.json`` with a chunk format, an output folder's ``DATASET.json``)."""
    if (folder / MARKER).is_file() or (folder / "DATASET.json").is_file():
        return True
    try:
        return "chunk_format" in json.loads((folder / "settings.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def claim_folders(folders: dict[str, Path]) -> None:
    """Make the folders (``{"--out": path, ...}``) with the marker in them; an existing folder that is not empty
    and was not made by ``generate`` is refused, naming it, before anything is written anywhere."""
    for option, folder in folders.items():
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{option} {folder}: not a folder")
        if folder.is_dir() and any(folder.iterdir()) and not _made_by_generate(folder):
            raise ValueError(f"{option} {folder}: this folder is not empty and was not made by hydronet-nb generate "
                             f"(no {MARKER} in it); name a new or empty folder")
    for folder in folders.values():
        if not (folder / MARKER).is_file():
            atomic_write_text(folder / MARKER, "made by hydronet-nb generate, which may replace files here and "
                                               "delete its own temporary files (.*.tmp)\n")


#: how the clusters of each data set are named in the files' messages
LABELS = {"min": "AMOEBA2018 minimum", "min_extrapolation": "AMOEBA2018 minimum", "nonmin": "AMOEBA2018 MD snapshot",
          "gfn2xtb": "GFN2-xTB at an AMOEBA2018 minimum"}


def _clusters(stage: Stage, source: str) -> list[Cluster]:
    forces = stage.forces if stage.forces is not None else [None] * len(stage.pos)
    return [Cluster(z=water_numbers(len(p) // 3), pos=p, energy=float(e), forces=f, source=f"{source} #{i}")
            for i, (p, e, f) in enumerate(zip(stage.pos, stage.energy, forces))]


def write_outputs(out: Path, settings: Settings, stages: dict[str, Stage]) -> list[Path]:
    """The HDF5 file and the split file of each data set, in the PNNL layout; returns their paths."""
    from ..io.pnnl import write_pnnl_hdf5, write_split

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, stage in stages.items():
        data, split = out / f"{name}_data.hdf5", out / split_file_name(name)
        write_pnnl_hdf5(data, _clusters(stage, LABELS[name]))
        write_split(split, **split_indices(len(stage.pos), SPLITS[name], stage_rng(settings, "split", STAGE_CODE[name])))
        paths += [data, split]
    return paths


def _check_work(work: Path, settings: Settings) -> None:
    """Refuse a work folder made with other settings or library versions: its chunks would not fit together."""
    record = {"settings": dataclasses.asdict(settings), "potentials": potential_settings(), "versions": library_versions(),
              "chunk_format": CHUNK_FORMAT}
    record = json.loads(json.dumps(record))  # tuples as lists, as they come back from the file
    path = work / "settings.json"
    if path.exists():
        old = json.loads(path.read_text())
        changed = differences(old, record)
        if changed:
            def value(d, key):
                for part in key.split("."):
                    d = d.get(part) if isinstance(d, dict) else None
                return d

            diff = [f"{key}: {value(old, key)} -> {value(record, key)}" for key in changed]
            raise ValueError(f"{path}: this work folder was made with other settings ({'; '.join(diff)}); "
                             "use another --work folder or delete this one")
        return
    atomic_write_json(path, record, indent=1)


def _report(stages: dict[str, Stage]) -> None:
    """One line per data set and size: kept, attempts, rejections, duplicates."""
    for name, stage in stages.items():
        for n, t, kept in stage.table():
            line = f"{name:18s} {f'W{n}' if n else 'all':>4s}  kept {kept if n else '-':>6}"
            if t is not None:
                reasons = ", ".join(f"{k} {v}" for k, v in t.rejected.items() if v)
                line += (f"  attempts {t.attempts:6d}  rejected {sum(t.rejected.values()):5d}{f' ({reasons})' if reasons else ''}"
                         f"  duplicates {t.duplicates:5d}" + (f"  wanted {t.wanted}" if t.wanted else ""))
            print(line + "".join(f"\n    error: {e}" for e in (t.errors if t else [])))


def generate(settings: Settings, out: Path, work: Path, workers: int, command: str) -> Path:
    """Make all data sets (resuming from ``work``), write them into ``out`` and return the card's path (``DATASET.md``)."""
    started = time.perf_counter()
    claim_folders({"--out": out, "--work": work})
    with run_folders([out, work], lambda folder: f"the finished chunks are kept in {work}"):
        _check_work(work, settings)
        remove_stale_temporaries(work)  # left by a killed run
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
        _report(stages)
        files = write_outputs(out, settings, stages)
        return write_dataset_card(out, settings, stages, files, command=command,
                                  wall_seconds=time.perf_counter() - started, reused=run.reused)
