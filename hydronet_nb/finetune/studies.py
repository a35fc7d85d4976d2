"""``hydronet-nb force-study --config FILE``: the three studies of chapter 3, each arm a finetuning run.

* **create_graph** -- the released code's first bug: the same finetuning with and without
  ``create_graph`` (``training.create_graph``), validation force error per epoch;
* **selection** -- the paper's rule against random picks at equal labelling budget (the random arm
  copies the number of additions per round of the active arm of the same seed), several seeds,
  validation errors per round and test errors at the end;
* **data_efficiency** -- test force MAE and E/water MAE against the number of training non-minima,
  pretrained against scratch, the same epochs for both at each size, several seeds at small sizes.

The config (YAML or JSON; paths relative to the file)::

    base: finetune_forces.yaml     # data, start, model and training settings of every arm
    val: 250                       # the first rows of the validation split (per-epoch cost)
    create_graph: {train: 1000, epochs: 12}
    selection: {seeds: [0, 1, 2], train: 500, examine: 500,
                schedule: {initial_epochs: 6, rounds: 4, epochs_per_round: 4, final_epochs: 4}}
    data_efficiency: {sizes: [250, 500, 1000, 2000], epochs: [40, 30, 20, 15], seeds: [3, 3, 1, 1]}
    output: ../build/force-studies

Every arm is a :func:`hydronet_nb.finetune.command.run` in ``<output>/<study>/<arm>`` on a part
of the data's split (training rows drawn with the arm's seed); an arm whose ``summary.json`` exists
is not run again and a stopped one continues, so rerunning the command resumes the study. The
tables (:data:`TABLES`) are rewritten after every arm; ``--export DIR`` copies them there with a
card (``STUDY.json`` rendered as ``STUDY.md``: command, config, hardware, wall time).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..utils.config import check_keys, from_mapping, read_mapping, typed
from ..utils.schema import check_fields, check_ranges, message, setting
from .command import variant

from ..utils.resources import RESOURCES_DIR

#: where the book's study tables are shipped (written by the command in configs/force_studies.yaml)
SHIPPED_DIR = RESOURCES_DIR / "studies" / "forces"
STUDIES = ("create_graph", "selection", "data_efficiency")
SECTIONS = ("base", "val") + STUDIES + ("output",)
#: the tables a study writes (into its output folder, and the export)
TABLES = {"summary": "summary.csv", "epochs": "create_graph_epochs.csv", "rounds": "selection_rounds.csv",
          "additions": "selection_additions.csv"}
#: columns of the summary table: one row per arm, its test metrics at the best epoch
SUMMARY_COLUMNS = ["study", "arm", "start", "rule", "create_graph", "seed", "n_train", "train_clusters", "epochs",
                   "best_epoch", "train_seconds", "mae_per_water", "rmse_per_water", "force_mae", "f_mag", "f_ang"]


@dataclasses.dataclass
class CreateGraphStudy:
    train: int = setting(1000, ge=1)
    epochs: int = setting(12, ge=1)
    seed: int = setting(0, ge=0)

    def __post_init__(self):
        check_ranges(self, "create_graph")


@dataclasses.dataclass
class SelectionStudy:
    seeds: list[int] = setting(factory=lambda: [0, 1, 2], ge=0)
    train: int = setting(500, ge=1)
    examine: int = setting(500, ge=1)
    # Schedule fields (hydronet_nb.finetune.rounds), checked as that section is
    schedule: dict = dataclasses.field(default_factory=lambda: {
        "initial_epochs": 6, "rounds": 4, "epochs_per_round": 4, "final_epochs": 4, "final_patience": None})

    def __post_init__(self):
        check_ranges(self, "selection")


@dataclasses.dataclass
class DataEfficiencyStudy:
    sizes: list[int] = setting(factory=lambda: [250, 500, 1000, 2000], ge=1)  # training non-minima
    epochs: list[int] = setting(factory=lambda: [40, 30, 20, 15], ge=1)
    seeds: list[int] = setting(factory=lambda: [3, 3, 1, 1], ge=1)  # how many seeds at each size

    def __post_init__(self):
        check_ranges(self, "data_efficiency")
        if not len(self.sizes) == len(self.epochs) == len(self.seeds):
            raise ValueError("data_efficiency.sizes, .epochs and .seeds must have one entry per size "
                             f"(got {len(self.sizes)}, {len(self.epochs)}, {len(self.seeds)})")


@dataclasses.dataclass
class StudyConfig:
    base: Path
    val: int
    create_graph: CreateGraphStudy | None
    selection: SelectionStudy | None
    data_efficiency: DataEfficiencyStudy | None
    output: Path
    source: Path

    def as_dict(self) -> dict:
        out = {"base": str(self.base), "val": self.val, "output": str(self.output)}
        for name in STUDIES:
            section = getattr(self, name)
            out[name] = None if section is None else dataclasses.asdict(section)
        return out


def read_study_config(path: str | Path) -> StudyConfig:
    """A :class:`StudyConfig` from a YAML or JSON file; a study left out (or null) is not run."""
    path = Path(path)
    raw = check_keys(read_mapping(path), SECTIONS, "config", str(path))
    for key in ("base", "output"):
        if key not in raw:
            raise ConfigError(f"{path}: '{key}' is missing")
    sections = {}
    for name, cls in zip(STUDIES, (CreateGraphStudy, SelectionStudy, DataEfficiencyStudy)):
        sections[name] = None if raw.get(name) is None else from_mapping(cls, raw[name], name, str(path))
    if sections["selection"] is not None:  # the schedule's fields, types and ranges, as in a finetuning config
        from .rounds import Schedule

        schedule = sections["selection"].schedule
        from_mapping(Schedule, schedule, "selection.schedule", str(path))
        sections["selection"].schedule = check_fields(Schedule, schedule, "selection.schedule", str(path))
    val = typed(raw, "val", int, str(path), 250)
    if val < 2:  # the selection rule needs a spread
        raise ConfigError(message(str(path), "val", "an integer >= 2", val))
    base, output = (Path(typed(raw, key, str, str(path))) for key in ("base", "output"))
    return StudyConfig(path.parent / base, val, output=path.parent / output, source=path, **sections)


# --- the arms ------------------------------------------------------------------------------------

def _plain_schedule(epochs: int) -> dict:
    return {"initial_epochs": epochs, "rounds": 0, "epochs_per_round": 0, "final_epochs": 0, "final_patience": None}


class StudyRunner:
    """Runs the arms of the configured studies one after the other and keeps the tables up to date."""

    def __init__(self, config: StudyConfig, log=print):
        from .command import load_nonminima, read_config, start_model

        self.config, self.log = config, log
        self.base = read_config(config.base)
        self.data = load_nonminima(self.base.data)
        self.split = {k: np.asarray(v, dtype=np.int64) for k, v in self.data.split.items()}
        # the architecture of the starting model, for the scratch arms (same model, random weights)
        self.scratch_model = start_model(self.base)[1]
        self.out = config.output
        self.rows: list[dict] = []

    def _split(self, n_train: int, seed: int, examine: int | None = None) -> dict:
        from ..data.splits import shrink

        try:
            return shrink(self.split, train=n_train, val=self.config.val, examine=examine, train_seed=seed)
        except ValueError as err:
            raise ValueError(f"{self.config.source}: {err}") from None

    def _arm(self, study: str, arm: str, config, split: dict, facts: dict) -> dict:
        from .command import run

        summary_path = config.output / "summary.json"
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
        else:
            self.log(f"{study}: {arm} ({len(split['train_idx'])} training clusters)")
            summary = run(config, split=split, log=lambda *a: None, epoch_callback=lambda trainer, m: None)
        metrics = pd.read_json(config.output / "metrics.jsonl", lines=True)
        start = config.start if config.start in ("pretrained", "published", "scratch") else Path(config.start).name
        row = {"study": study, "arm": arm, "start": start,
               "rule": config.active.rule, "create_graph": config.training.create_graph, **facts,
               "n_train": len(split["train_idx"]), "train_clusters": summary["train_clusters"],
               "epochs": summary["epochs_run"], "best_epoch": summary["best_epoch"],
               "train_seconds": float(metrics["epoch_time_s"].sum()), **summary["test"]}
        self.rows.append(row)
        self._write(TABLES["summary"], pd.DataFrame(self.rows, columns=SUMMARY_COLUMNS))
        return row

    def _write(self, name: str, table: pd.DataFrame) -> None:
        from ..utils.files import atomic_write_text

        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / name, table.to_csv(index=False, float_format="%.6g"))

    def create_graph(self, s: CreateGraphStudy) -> None:
        split = self._split(s.train, s.seed)
        epochs = []
        for flag in (True, False):
            arm = "with create_graph" if flag else "without create_graph (released code)"
            out = self.out / "create_graph" / ("with" if flag else "without")
            config = variant(self.base, out, training={"create_graph": flag, "seed": s.seed},
                                 schedule=_plain_schedule(s.epochs), active={"rule": "none"})
            self._arm("create_graph", arm, config, split, {"seed": s.seed})
            m = pd.read_json(out / "metrics.jsonl", lines=True)
            epochs.append(pd.DataFrame({"arm": arm, "create_graph": flag, "epoch": m["epoch"],
                                        "train_loss": m["train_loss"], "val_force_rmse": np.sqrt(m["val_force_mse"]),
                                        "val_mae_per_water": m["val_mae_per_water"]}))
        self._write(TABLES["epochs"], pd.concat(epochs, ignore_index=True))

    def selection(self, s: SelectionStudy) -> None:
        rounds, additions = [], []
        for seed in s.seeds:
            split = self._split(s.train, seed, examine=s.examine)
            active_out = self.out / "selection" / f"active-{seed}"
            for rule in ("active", "random"):
                out = self.out / "selection" / f"{rule}-{seed}"
                settings = {"rule": rule, "examine": s.examine, "seed": seed}
                if rule == "random":
                    settings["budget"] = str(active_out / "additions.csv")
                config = variant(self.base, out, training={"seed": seed}, schedule=s.schedule, active=settings)
                self._arm("selection", f"{rule} seed {seed}", config, split, {"seed": seed})
                m = pd.read_json(out / "metrics.jsonl", lines=True).set_index("epoch")
                added = pd.read_csv(out / "additions.csv")
                counts = added.groupby("round").size()
                for r in range(config.schedule.rounds + 1):
                    end = config.schedule.round_end(r)
                    rounds.append({"rule": rule, "seed": seed, "round": r, "epoch": end,
                                   "train_clusters": s.train + int(counts[counts.index <= r].sum()),
                                   "val_force_rmse": float(np.sqrt(m.loc[end, "val_force_mse"])),
                                   "val_mae_per_water": float(m.loc[end, "val_mae_per_water"])})
                additions.append(added.assign(seed=seed))
        self._write(TABLES["rounds"], pd.DataFrame(rounds))
        self._write(TABLES["additions"], pd.concat(additions, ignore_index=True))

    def data_efficiency(self, s: DataEfficiencyStudy) -> None:
        for size, epochs, seeds in zip(s.sizes, s.epochs, s.seeds):
            for seed in range(int(seeds)):
                split = self._split(int(size), seed)
                for start in ("base", "scratch"):  # base: the base config's start (the pretrained model)
                    out = self.out / "data_efficiency" / f"{start}-{size}-{seed}"
                    extra = {"start": "scratch", "model": self.scratch_model} if start == "scratch" else {}
                    config = variant(self.base, out, training={"seed": seed}, schedule=_plain_schedule(int(epochs)),
                                         active={"rule": "none"}, **extra)
                    self._arm("data_efficiency", f"{'scratch' if extra else 'pretrained'} {size} seed {seed}", config, split, {"seed": seed})

    def run(self) -> pd.DataFrame:
        from ..utils.runlock import run_folder, study_kept

        with run_folder(self.out, study_kept):
            for name in STUDIES:
                section = getattr(self.config, name)
                if section is not None:
                    getattr(self, name)(section)
        return pd.DataFrame(self.rows, columns=SUMMARY_COLUMNS)


def read_tables(folder: str | Path = SHIPPED_DIR) -> dict[str, pd.DataFrame]:
    """The study tables of ``folder`` by key of :data:`TABLES` (``summary``, ``epochs``, ``rounds``, ``additions``)."""
    folder = Path(folder)
    missing = [name for name in TABLES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}; made by hydronet-nb force-study --config "
                                f"configs/force_studies.yaml --export {folder}")
    return {key: pd.read_csv(folder / name) for key, name in TABLES.items()}


def efficiency_runs(summary: pd.DataFrame) -> pd.DataFrame:
    """The data-efficiency arms of a summary table, ``start`` as ``pretrained`` or ``scratch``."""
    runs = summary[summary["study"] == "data_efficiency"]
    return runs.assign(start=np.where(runs["start"] == "scratch", "scratch", "pretrained"))


def efficiency_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Test force MAE and E/water MAE per training-set size (rows) and start (columns), means over seeds,
    with ``pretrained_wins``: whether pretrained is below scratch on both."""
    means = efficiency_runs(summary).groupby(["n_train", "start"])[["force_mae", "mae_per_water"]].mean()
    table = means.unstack("start")
    wins = (table.xs("pretrained", axis=1, level="start") < table.xs("scratch", axis=1, level="start")).all(axis=1)
    table[("pretrained_wins", "")] = wins
    return table


def export_study(config: StudyConfig, dest: Path, command: str, seconds: float) -> Path:
    """Copy the tables into ``dest`` with a card; returns the card's path (``STUDY.md``)."""
    import os

    from ..data.cards import export_study as write_study

    summary = pd.read_csv(config.output / TABLES["summary"])
    recorded = config.as_dict()
    for key in ("base", "output"):
        recorded[key] = os.path.relpath(recorded[key])
    copies = {name: config.output / name for name in TABLES.values() if (config.output / name).is_file()}
    return write_study(dest, copies, {
        "title": "Chapter 3's studies: create_graph, active vs random selection, data efficiency",
        "command": command, "config": recorded, "wall_seconds": seconds,
        "train_seconds": float(summary["train_seconds"].sum()), "arms": int(len(summary))})


def cmd_force_study(args: argparse.Namespace) -> int:
    config = read_study_config(args.config)
    command = "hydronet-nb force-study --config " + args.config + (f" --export {args.export}" if args.export else "")
    start = time.perf_counter()
    table = StudyRunner(config).run()
    if args.export:
        card = export_study(config, Path(args.export), command, time.perf_counter() - start)
        print(f"exported the tables to {card.parent}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb force-study``."""
    p = subparsers.add_parser("force-study", help="chapter 3's studies: create_graph, selection rule, data efficiency "
                                                  "(resumable)", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--config", required=True, help="JSON or YAML study config")
    p.add_argument("--export", metavar="DIR", help="copy the tables into DIR with a card (STUDY.md)")
    p.set_defaults(func=cmd_force_study)
