"""``hydronet-nb md-study --config FILE``: chapter 5's MD study, every run a :func:`hydronet_nb.md.command.run_md`.

The config (YAML or JSON; paths relative to the file)::

    grid:                         # the paper's Figure 2 (centre, right)
      models: [pretrained, scratch-forces, finetuned, amoeba]
      sizes: [10, 20, 30]
      seeds: 10
      steps: 1000                 # dt, temperature, taut, rattle, every: the paper's unless given
    published:                    # the paper's own weights from the real TTM2.1-F W10 minimum
      model: published
      start: ttm21f               # the shipped reference file of the real minima
      size: 10
      seeds: 4
    long: {model: finetuned, size: 20, seeds: 1, dt: 0.5, steps: 20000, every: 100}
    batched: true                 # the neural networks' seeds in one model call per step
    output: ../build/md-study

Rerunning continues: finished runs are kept, a stopped one resumes. The tables (:data:`TABLES`):
one row per run (``runs.csv``) and one per frame (``frames.csv``: ``part, model, size, seed, step,
time_fs, energy, reference_energy, max_oh, min_oo, pieces, intact``); ``--export DIR`` copies them there
with a card and the frames of a few runs for viewing (``trajectories/``).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..utils.config import check_keys, read_mapping, typed
from ..utils.resources import RESOURCES_DIR
from ..utils.schema import check_fields, setting
from .command import PAPER

SHIPPED_DIR = RESOURCES_DIR / "studies" / "md"
SECTIONS = ("grid", "published", "long", "batched", "output", "keep")
TABLES = {"runs": "runs.csv", "frames": "frames.csv"}
FRAME_COLUMNS = ["step", "time_fs", "energy", "reference_energy", "max_oh", "min_oo", "pieces", "intact"]


@dataclasses.dataclass
class RunPart:
    """The keys of a part of the study (``grid`` takes ``models`` and ``sizes``, the others ``model`` and
    ``size``); a key left out takes :func:`hydronet_nb.md.command.run_md`'s default, the paper's."""

    model: str = "finetuned"
    models: list[str] = dataclasses.field(
        default_factory=lambda: ["pretrained", "scratch-forces", "finetuned", "amoeba"])
    size: int = setting(10, ge=1)  # waters
    sizes: list[int] = setting(factory=lambda: [10, 20, 30], ge=1)
    seeds: int = setting(10, ge=1)  # runs, seeds 0..N-1
    steps: int = setting(PAPER["steps"], ge=1)
    dt: float = setting(PAPER["dt"], gt=0)  # fs
    temperature: float = setting(PAPER["temperature"], gt=0)  # K
    taut: float | None = setting(PAPER["taut"], gt=0)  # fs; null: no thermostat (NVE)
    rattle: float = setting(PAPER["rattle"], ge=0)  # Angstrom
    every: int = setting(10, ge=1)  # a frame every N steps
    start: str | None = None  # DATASET[:ROW], an xyz file, or ttm21f (the real TTM2.1-F minimum)


RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunPart))
#: the keys each part takes: the grid's models and sizes, one model and size in the others
PART_KEYS = {"grid": [k for k in RUN_KEYS if k not in ("model", "size")],
             "published": [k for k in RUN_KEYS if k not in ("models", "sizes")]}
PART_KEYS["long"] = PART_KEYS["published"]


def read_study_config(path: str | Path) -> dict:
    """The study config as plain dicts (a part left out is not run); each value's type and range checked
    (:class:`RunPart`), errors naming the file and the key."""
    path = Path(path)
    source = str(path)
    raw = check_keys(read_mapping(path), SECTIONS, "config", source)
    if "output" not in raw:
        raise ConfigError(f"{path}: 'output' is missing")
    for part in ("grid", "published", "long"):
        if raw.get(part) is not None:
            # each value's type and range (RunPart's annotations and bounds), kept as the plain dict run_md takes
            raw[part] = check_fields(RunPart, check_keys(raw[part], PART_KEYS[part], part, source), part, source)
    for key, hint in (("batched", bool), ("keep", list[str] | None)):
        if key in raw:
            raw[key] = typed(raw, key, hint, source)
    raw["output"] = path.parent / typed(raw, "output", str, source)
    raw["source"] = path
    return raw


def _start(spec: str | None, size: int) -> str | None:
    """``ttm21f``: the real TTM2.1-F minimum of ``size`` waters (a published file); else as ``run_md`` takes it."""
    if spec == "ttm21f":
        from ..io.reference_files import ttm21f_minima_paths

        return str(ttm21f_minima_paths([size])[0])
    return spec


def _jobs(config: dict):
    """``(part, model, size, settings)`` of every group of seeds the config asks for."""
    grid = config.get("grid")
    if grid:
        for size in grid.get("sizes", [10, 20, 30]):
            for model in grid.get("models", ["pretrained", "scratch-forces", "finetuned", "amoeba"]):
                yield "grid", model, int(size), {k: v for k, v in grid.items() if k not in ("sizes", "models")}
    for part in ("published", "long"):
        section = config.get(part)
        if section:
            size = int(section.get("size", 10))
            settings = {k: v for k, v in section.items() if k not in ("model", "size")}
            settings["start"] = _start(settings.get("start"), size)
            yield part, section.get("model", "finetuned"), size, settings


def run_study(config: dict, log=print) -> dict[str, pd.DataFrame]:
    from ..utils.runlock import run_folder, study_kept
    from .command import model_label, run_md
    from .runs import FRAMES_CSV

    runs, frames = [], []
    out = Path(config["output"])
    with run_folder(out, study_kept):
        for part, model, size, settings in _jobs(config):
            seeds = range(int(settings.pop("seeds", 10)))
            folder = out / part
            table = run_md(model, size, seeds=seeds, out=folder, batched=bool(config.get("batched", True)) and
                           model != "amoeba", log=log, **settings)
            runs.append(table.assign(part=part))
            for seed in seeds:
                run = pd.read_csv(folder / f"{model_label(model)}-W{size}-seed{seed}" / FRAMES_CSV)
                frames.append(run[FRAME_COLUMNS].assign(part=part, model=model, size=size, seed=seed))
            _write(out, pd.concat(runs, ignore_index=True), pd.concat(frames, ignore_index=True))
    return {"runs": pd.concat(runs, ignore_index=True), "frames": pd.concat(frames, ignore_index=True)}


def _write(out: Path, runs: pd.DataFrame, frames: pd.DataFrame) -> None:
    from ..utils.files import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / TABLES["runs"], runs.to_csv(index=False, float_format="%.6g"))
    columns = ["part", "model", "size", "seed", *FRAME_COLUMNS]
    atomic_write_text(out / TABLES["frames"], frames[columns].to_csv(index=False, float_format="%.5g"))


def read_tables(folder: str | Path = SHIPPED_DIR) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    missing = [n for n in TABLES.values() if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}; made by hydronet-nb md-study --config "
                                f"configs/md_study.yaml --export {folder}")
    return {key: pd.read_csv(folder / name) for key, name in TABLES.items()}


def export_study(config: dict, dest: Path, command: str, seconds: float) -> Path:
    """Copy the tables and the trajectories named in ``keep`` (``part/run-folder`` names) into ``dest`` with a card."""
    import os

    from ..data.cards import export_study as write_study
    from .runs import FRAMES_XYZ

    out = Path(config["output"])
    copies = {name: out / name for name in TABLES.values()}
    copies |= {f"trajectories/{run.replace('/', '-')}.xyz": out / run / FRAMES_XYZ for run in config.get("keep") or []}
    runs = pd.read_csv(out / TABLES["runs"])
    recorded = {k: v for k, v in config.items() if k not in ("output", "source")}
    recorded["output"] = os.path.relpath(config["output"])
    return write_study(dest, copies, {
        "title": "Chapter 5's MD study: NVT runs driven by the models, checked against AMOEBA2018",
        "command": command, "config": recorded, "wall_seconds": seconds,
        "train_seconds": float(runs["seconds"].sum()), "arms": int(len(runs))})


def cmd_md_study(args: argparse.Namespace) -> int:
    config = read_study_config(args.config)
    command = "hydronet-nb md-study --config " + args.config + (f" --export {args.export}" if args.export else "")
    start = time.perf_counter()
    tables = run_study(config)
    if args.export:
        card = export_study(config, Path(args.export), command, time.perf_counter() - start)
        print(f"exported the tables to {card.parent}")
    runs = tables["runs"]
    print(runs.groupby(["part", "model", "size"])[["intact", "bound_fraction"]].mean().to_string())
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb md-study``."""
    p = subparsers.add_parser("md-study", help="chapter 5's MD study: models x sizes x seeds, the published model, "
                                               "a long run (resumable)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--config", required=True, help="JSON or YAML study config")
    p.add_argument("--export", metavar="DIR", help="copy the tables (and kept trajectories) into DIR with a card")
    p.set_defaults(func=cmd_md_study)
