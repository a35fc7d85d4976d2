"""One MD run per seed, written as it goes and continued after a kill: frames, a per-frame table, a summary.

A run folder ``<out>/<model>-W<N>-seed<k>/`` holds

* ``frames.xyz`` -- extended xyz (``ase.io.read(path, ":")`` reads it), every ``every``-th step, with the
  driving model's energy (eV, ASE's unit in the file) and forces;
* ``frames.csv`` -- per frame: ``step, time_fs, energy`` (kcal/mol, the driving model), ``temperature``
  (K), the stability measures of :mod:`hydronet_nb.md.stability`, ``reference_energy`` (kcal/mol
  relative to relaxed monomers, AMOEBA2018 on the frame's structure, when asked) and ``intact``;
* ``state.npz`` -- step, positions, momenta, frames written, failure: replaced atomically after every
  frame; a rerun truncates the two frame files to what it records and continues from there, so a killed
  run ends with the same frames as an uninterrupted one;
* ``summary.json`` -- when the run is over: steps, failed step and reason, fraction of frames bound;
* ``settings.json`` -- what the run was started with, the engine (``ase`` or ``batched``) included: a rerun
  with other settings is refused, one with more steps continues it.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..units import ev_to_kcal_mol
from ..utils.files import atomic_write, atomic_write_json, atomic_write_text, writing
from .stability import MEASURES, Criteria, frame_measures

FRAMES_XYZ, FRAMES_CSV, STATE, SUMMARY, SETTINGS = "frames.xyz", "frames.csv", "state.npz", "summary.json", \
    "settings.json"
COLUMNS = ["step", "time_fs", "energy", "temperature", *MEASURES, "reference_energy", "intact"]


class RunRecord:
    """The files of one run: what was written, where to continue, and appending a frame."""

    def __init__(self, folder: str | Path, z, *, timestep_fs: float, reference=None, criteria: Criteria = Criteria(),
                 settings: dict | None = None):
        self.folder, self.z = Path(folder), np.asarray(z)
        self.timestep_fs, self.reference, self.criteria = timestep_fs, reference, criteria
        self.folder.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            self._check_settings(settings)
        self.state = self._load_state()
        self.rows = self._truncate()

    def _check_settings(self, settings: dict) -> None:
        """The run's settings are written once; a rerun with others (except more ``steps``) is refused, and
        one with more steps continues a finished run."""
        from ..errors import ConfigError

        path = self.folder / SETTINGS
        if not path.is_file():
            atomic_write_json(path, settings)
            return
        old = json.loads(path.read_text())
        if "engine" not in old and "engine" in settings:  # written before the engine was recorded: taken as asked
            old["engine"] = settings["engine"]
            atomic_write_json(path, old)
        changed = sorted(k for k in set(old) | set(settings) if k != "steps" and old.get(k) != settings.get(k))
        if changed:
            raise ConfigError(f"{self.folder}: this run was made with other settings ({', '.join(changed)}: "
                              f"{', '.join(f'{old.get(k)} -> {settings.get(k)}' for k in changed)}); "
                              "use another --out folder")
        if settings["steps"] < old["steps"]:
            raise ConfigError(f"{self.folder}: this run has {old['steps']} steps; {settings['steps']} asked")
        if settings["steps"] > old["steps"]:
            atomic_write_json(path, settings)
            if (self.folder / SUMMARY).is_file() and json.loads((self.folder / SUMMARY).read_text())["intact"]:
                (self.folder / SUMMARY).unlink()  # an intact finished run goes on to the new number of steps

    @property
    def done(self) -> bool:
        return (self.folder / SUMMARY).is_file()

    def _load_state(self) -> dict | None:
        path = self.folder / STATE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def _truncate(self) -> list[dict]:
        """Frames beyond what ``state.npz`` records (a kill between the append and the state) are dropped."""
        from ase.io import read, write

        keep = int(self.state["frames"]) if self.state is not None else 0
        csv = self.folder / FRAMES_CSV
        rows = pd.read_csv(csv).to_dict("records")[:keep] if csv.is_file() and keep else []
        xyz = self.folder / FRAMES_XYZ
        if xyz.is_file():
            frames = read(xyz, f":{keep}") if keep else []
            if len(frames) != keep:
                raise RuntimeError(f"{xyz}: {len(frames)} frames, but {self.folder / STATE} records {keep}")

            def rewrite(tmp: Path) -> None:
                write(tmp, frames, format="extxyz")
            if frames:
                atomic_write(xyz, rewrite)
            else:
                xyz.unlink()
        atomic_write_text(csv, pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
        return rows

    def start(self) -> tuple[int, np.ndarray, np.ndarray] | None:
        """``(step, positions, momenta)`` to continue from, or None for a fresh run."""
        if self.state is None:
            return None
        return int(self.state["step"]), self.state["positions"], self.state["momenta"]

    def failed(self) -> tuple[int, str] | None:
        if self.state is None or int(self.state["failed_step"]) < 0:
            return None
        return int(self.state["failed_step"]), str(self.state["reason"])

    def frame(self, step: int, positions, momenta, energy_ev: float, forces_ev, temperature: float) -> bool:
        """Append one frame and the state after it; returns whether the cluster is still intact."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.io import write

        m = frame_measures(positions, forces_ev)
        reason = self.criteria.broken(m) or (None if np.isfinite(energy_ev) else "energy not finite")
        reference = np.nan
        if self.reference is not None and m["finite"]:
            reference = float(self.reference.energy_forces(positions)[0])
        row = {"step": step, "time_fs": step * self.timestep_fs, "energy": float(ev_to_kcal_mol(energy_ev)),
               "temperature": float(temperature), **m, "reference_energy": reference, "intact": reason is None}
        atoms = Atoms(numbers=self.z, positions=np.nan_to_num(positions), momenta=np.nan_to_num(momenta))
        atoms.calc = SinglePointCalculator(atoms, energy=float(np.nan_to_num(energy_ev)),
                                           forces=np.nan_to_num(np.asarray(forces_ev)))
        kept = f"the frames before it are kept ({STATE}), and a rerun continues from them"
        with writing(self.folder / FRAMES_XYZ, kept), open(self.folder / FRAMES_XYZ, "a") as f:
            write(f, atoms, format="extxyz")
        with writing(self.folder / FRAMES_CSV, kept), open(self.folder / FRAMES_CSV, "a") as f:
            pd.DataFrame([row], columns=COLUMNS).to_csv(f, header=False, index=False)
        self.rows.append(row)
        failed = self.failed() or ((step, reason) if reason is not None else None)
        self._save_state(step, positions, momenta, failed)
        return reason is None

    def _save_state(self, step, positions, momenta, failed) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, step=step, positions=np.asarray(positions, dtype=np.float64),
                         momenta=np.asarray(momenta, dtype=np.float64), frames=len(self.rows),
                         failed_step=-1 if failed is None else failed[0], reason="" if failed is None else failed[1])
        atomic_write(self.folder / STATE, write)
        self.state = self._load_state()

    def finish(self, steps: int, facts: dict) -> dict:
        """Write ``summary.json``: steps asked, the failure, the fractions of intact and bound frames."""
        table = self.table()
        failed = self.failed()
        bound = table["reference_energy"] < 0
        summary = {**facts, "steps": steps, "frames": len(table), "intact": failed is None,
                   "failed_step": None if failed is None else failed[0], "reason": None if failed is None else failed[1],
                   "failed_fs": None if failed is None else failed[0] * self.timestep_fs,
                   "bound_fraction": float(bound.mean()) if table["reference_energy"].notna().any() else None}
        atomic_write_json(self.folder / SUMMARY, summary)
        return summary

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)

    def summary(self) -> dict:
        return json.loads((self.folder / SUMMARY).read_text())


def read_frames(folder: str | Path):
    """The frames of a run as ``ase.Atoms`` (energies and forces attached)."""
    from ase.io import read

    return read(Path(folder) / FRAMES_XYZ, ":")


def xyz_text(frames) -> str:
    """Frames as one multi-model xyz string (for 3D viewers)."""
    from ase.io import write

    buffer = io.StringIO()
    write(buffer, frames, format="xyz")
    return buffer.getvalue()
