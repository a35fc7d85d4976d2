"""``hydronet-nb transfer-study --config FILE``: chapter 4's studies, each arm a transfer run.

* **data_efficiency** -- test MAE per water on the new surface against the number of its training
  samples, the base config's start (the pretrained model) against scratch, several seeds;
* **strategies** -- at a few sample counts: full finetuning, a lower learning rate for the pretrained
  body than for the readout, and frozen interaction blocks; error on the new surface and on the old one
  (forgetting);
* **published** -- the same curve for the paper's IPU-pretrained TTM2.1-F weights moved to another data
  set (the book: the embedded AMOEBA2018 minima), against scratch.

The config (YAML or JSON; paths relative to the file)::

    base: transfer_gfn2xtb.yaml      # data, start, model, training of every arm
    val: 200                         # the first rows of the validation split
    epochs: {50: 100, 4000: 20}      # maximum epochs by sample count (early stopping as in base)
    data_efficiency: {sizes: [50, 250, 1000, 4000], seeds: [3, 3, 1, 1]}
    strategies:
      sizes: [250, 4000]
      use: {full: {}, body_lr: {lr_scale: {embedding: 0.1, interactions: 0.1}},
            frozen: {freeze: [embedding, interactions]}}
    published: {data: {source: embedded, name: min}, sizes: [50, 250, 1000], seeds: [3, 3, 1],
                training: {early_stopping_patience: 100}}   # changes for every arm of this curve
    output: ../build/transfer-studies

Every arm is a :func:`hydronet_nb.transfer.command.run` in ``<output>/<study>/<arm>``; an arm with a
``summary.json`` is not run again, a stopped one continues: rerunning the command resumes the study.
``summary.csv`` (one row per arm) is rewritten after every arm; ``--export DIR`` copies it with a card.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..utils.config import check_keys, field_names, from_mapping, read_mapping, typed
from ..utils.schema import check_fields, check_ranges, message, setting
from ..utils.resources import RESOURCES_DIR

SHIPPED_DIR = RESOURCES_DIR / "studies" / "transfer"
STUDIES = ("data_efficiency", "strategies", "published")
SECTIONS = ("base", "val", "epochs") + STUDIES + ("output",)
SUMMARY = "summary.csv"
SUMMARY_COLUMNS = ["study", "arm", "start", "strategy", "seed", "n_train", "epochs", "best_epoch", "train_seconds",
                   "mae_per_water", "rmse_per_water", "old_mae_per_water", "old_rmse_per_water"]


@dataclasses.dataclass
class Curve:
    sizes: list[int] = setting(factory=lambda: [50, 250, 1000, 4000], ge=1)  # training samples
    seeds: list[int] = setting(factory=lambda: [3, 3, 1, 1], ge=1)  # how many seeds at each size
    # another data set than the base's (published: the embedded AMOEBA2018 minima): transfer DataSettings fields
    data: dict | None = None
    training: dict | None = None  # changes to the base's training settings, for both starts of every arm

    def __post_init__(self):
        check_ranges(self, "curve")

    def check(self, name: str) -> None:
        """ValueError naming the study ``name`` when sizes and seeds have other lengths."""
        if len(self.sizes) != len(self.seeds):
            raise ValueError(message(None, f"{name}.seeds", f"one entry per size ({len(self.sizes)})", self.seeds))


@dataclasses.dataclass
class Strategies:
    sizes: list[int] = setting(factory=lambda: [250, 4000], ge=1)
    # strategy name: changes to the base's training settings
    use: dict[str, dict | None] = dataclasses.field(default_factory=lambda: {
        "full": {}, "body_lr": {"lr_scale": {"embedding": 0.1, "interactions": 0.1}},
        "frozen": {"freeze": ["embedding", "interactions"]}})

    def __post_init__(self):
        check_ranges(self, "strategies")


def check_training(changes: dict | None, what: str, source: str) -> dict:
    """Changes to the base's training settings with their names, types and ranges checked as a config's
    ``training`` section is (ConfigError naming ``source`` and ``what``), the values converted."""
    from ..train.config import TrainConfig

    changes = check_keys({} if changes is None else changes, field_names(TrainConfig), what, source)
    return check_fields(TrainConfig, changes, what, source)  # (checks across fields: when an arm is built)


@dataclasses.dataclass
class StudyConfig:
    base: Path
    val: int
    epochs: dict
    data_efficiency: Curve | None
    strategies: Strategies | None
    published: Curve | None
    output: Path
    source: Path

    def as_dict(self) -> dict:
        out = {"base": str(self.base), "val": self.val, "epochs": self.epochs, "output": str(self.output)}
        for name in STUDIES:
            section = getattr(self, name)
            out[name] = None if section is None else dataclasses.asdict(section)
        return out

    def max_epochs(self, n: int, default: int) -> int:
        """The epoch cap for ``n`` samples: interpolated in log(n) between the given counts."""
        import numpy as np

        if not self.epochs:
            return default
        points = sorted((int(k), int(v)) for k, v in self.epochs.items())
        xs, ys = np.log([p[0] for p in points]), [p[1] for p in points]
        return int(round(np.interp(np.log(n), xs, ys)))


def read_study_config(path: str | Path) -> StudyConfig:
    """A :class:`StudyConfig` from a YAML or JSON file; a study left out (or null) is not run."""
    path = Path(path)
    raw = check_keys(read_mapping(path), SECTIONS, "config", str(path))
    for key in ("base", "output"):
        if key not in raw:
            raise ConfigError(f"{path}: '{key}' is missing")
    source = str(path)
    sections = {}
    for name, cls in zip(STUDIES, (Curve, Strategies, Curve)):  # from_mapping's errors name file and study
        if raw.get(name) is None:
            sections[name] = None
            continue
        section = sections[name] = from_mapping(cls, raw[name], name, source)
        if isinstance(section, Curve):
            try:
                section.check(name)  # (one class holds two studies: the check names the study)
            except ValueError as err:
                raise ConfigError(f"{source}: {err}") from None
            if section.training is not None:
                section.training = check_training(section.training, f"{name}.training", source)
            if section.data is not None:  # checked as a transfer config's data section
                from .command import DataSettings

                from_mapping(DataSettings, section.data, f"{name}.data", source)
        else:
            section.use = {k: check_training(v, f"{name}.use.{k}", source) for k, v in section.use.items()}
    val = typed(raw, "val", int, source, 200)
    if val < 1:
        raise ConfigError(message(source, "val", "an integer >= 1", val))
    if isinstance(raw.get("epochs"), dict):  # JSON's keys are always text: "50" is the sample count 50
        raw["epochs"] = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in raw["epochs"].items()}
    epochs = typed(raw, "epochs", dict[int, int] | None, source, None) or {}
    if any(n < 1 or e < 1 for n, e in epochs.items()):
        raise ConfigError(message(source, "epochs", "a mapping of sample counts >= 1 to epochs >= 1", epochs))
    base, output = (Path(typed(raw, key, str, source)) for key in ("base", "output"))
    return StudyConfig(path.parent / base, val, epochs, output=path.parent / output, source=path, **sections)


class StudyRunner:
    """Runs the arms of the configured studies one after the other and keeps ``summary.csv`` up to date."""

    def __init__(self, config: StudyConfig, log=print):
        from .command import read_config, start_model

        self.config, self.log = config, log
        self.base = read_config(config.base)
        self.scratch_model = start_model(self.base)[1]
        self.rows: list[dict] = []

    def _arm(self, study: str, arm: str, out: Path, *, n: int, seed: int, start=None, model=None, data=None,
             training: dict | None = None, strategy: str = "full") -> None:
        from ..data.splits import shrink
        from .command import DataSettings, load_surface, run

        changes = {"output": out, "samples": n, "sample_seed": seed}
        if start is not None:
            changes.update(start=start, model=model or self.base.model)
        if data is not None:  # another data set: the base's old surface is no longer the one left behind
            changes.update(data=DataSettings(**data), forgetting=None)
        epochs = self.config.max_epochs(n, self.base.training.epochs)
        changes["training"] = dataclasses.replace(self.base.training, seed=seed, epochs=epochs, **(training or {}))
        config = dataclasses.replace(self.base, **changes)
        summary_path = out / "summary.json"
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
        else:
            self.log(f"{study}: {arm}")
            surface = load_surface(config.data)
            split = shrink(surface.split, val=min(self.config.val, len(surface.split["val_idx"])))
            summary = run(config, split=split, log=lambda *a: None, epoch_callback=lambda trainer, m: None)
        start_name = config.start if config.start in ("pretrained", "published", "scratch") else Path(config.start).name
        self.rows.append({"study": study, "arm": arm, "start": start_name, "strategy": strategy, "seed": seed,
                          "n_train": summary["train_clusters"], "epochs": summary["epochs_run"],
                          "best_epoch": summary["best_epoch"], "train_seconds": summary["train_seconds"],
                          **summary["test"], **{f"old_{k}": v for k, v in summary.get("old", {}).items()}})
        self._write()

    def _write(self) -> None:
        from ..utils.files import atomic_write_text

        self.config.output.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(self.rows, columns=SUMMARY_COLUMNS)
        atomic_write_text(self.config.output / SUMMARY, table.to_csv(index=False, float_format="%.6g"))

    def _curve(self, study: str, curve: Curve, start: str | None) -> None:
        for n, seeds in zip(curve.sizes, curve.seeds):
            for seed in range(int(seeds)):
                for scratch in (False, True):
                    kind = "scratch" if scratch else "pretrained"
                    out = self.config.output / study / f"{kind}-{n}-{seed}"
                    self._arm(study, f"{kind} {n} seed {seed}", out, n=int(n), seed=seed, data=curve.data,
                              start="scratch" if scratch else start, model=self.scratch_model if scratch else None,
                              training=curve.training)

    def run(self) -> pd.DataFrame:
        from ..utils.runlock import run_folder, study_kept

        c = self.config
        with run_folder(c.output, study_kept):
            if c.data_efficiency is not None:
                self._curve("data_efficiency", c.data_efficiency, None)
            if c.strategies is not None:
                for n in c.strategies.sizes:
                    for name, training in c.strategies.use.items():
                        self._arm("strategies", f"{name} {n}", c.output / "strategies" / f"{name}-{n}", n=int(n),
                                  seed=0, training=training, strategy=name)
            if c.published is not None:
                self._curve("published", c.published, "published")
        return pd.DataFrame(self.rows, columns=SUMMARY_COLUMNS)


def read_summary(folder: str | Path = SHIPPED_DIR) -> pd.DataFrame:
    """The shipped (or any) study's ``summary.csv``."""
    path = Path(folder) / SUMMARY
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; made by hydronet-nb transfer-study --config "
                                f"configs/transfer_studies.yaml --export {folder}")
    return pd.read_csv(path)


def export_study(config: StudyConfig, dest: Path, command: str, seconds: float) -> Path:
    """Copy ``summary.csv`` into ``dest`` with a card (``STUDY.md``); returns the card's path."""
    import os

    from ..data.cards import export_study as write_study

    summary = pd.read_csv(config.output / SUMMARY)
    recorded = config.as_dict()
    for key in ("base", "output"):
        recorded[key] = os.path.relpath(recorded[key])
    return write_study(dest, {SUMMARY: config.output / SUMMARY}, {
        "title": "Chapter 4's studies: data efficiency, finetuning strategies, the published weights moved",
        "command": command, "config": recorded, "wall_seconds": seconds,
        "train_seconds": float(summary["train_seconds"].sum()), "arms": int(len(summary))})


def cmd_transfer_study(args: argparse.Namespace) -> int:
    config = read_study_config(args.config)
    command = "hydronet-nb transfer-study --config " + args.config + (f" --export {args.export}" if args.export else "")
    start = time.perf_counter()
    table = StudyRunner(config).run()
    if args.export:
        card = export_study(config, Path(args.export), command, time.perf_counter() - start)
        print(f"exported the table to {card.parent}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb transfer-study``."""
    p = subparsers.add_parser("transfer-study", help="chapter 4's studies: data efficiency, strategies, the published "
                                                     "weights moved (resumable)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--config", required=True, help="JSON or YAML study config")
    p.add_argument("--export", metavar="DIR", help="copy the table into DIR with a card (STUDY.md)")
    p.set_defaults(func=cmd_transfer_study)
