"""``hydronet-nb finetune --config FILE``: finetune SchNet on forces of non-minima, with active sampling.

The config (JSON or YAML; paths relative to the file)::

    data:
      source: embedded              # embedded | pnnl
      path: nonmin_data.hdf5        # pnnl: the HDF5 file (forces = -gradient)
      split: split_00_nonmin.npz    # train, val, test, examine, reserve (embedded: its own)
    start: pretrained               # a shipped model's name | published | scratch | an exported folder | a checkpoint file
    model: {}                       # SchNetConfig fields (scratch only; loaded weights bring theirs)
    training: {energy_weight: 0.05, batch_size: 32, lr: 5.0e-4}   # TrainConfig fields
    schedule: {initial_epochs: 50, rounds: 50, epochs_per_round: 10, final_epochs: 50, final_patience: 50}
    active: {rule: active, p_tol: 0.15, examine: 1000, seed: 0}     # rule: active | random | none
    output: runs/finetune

``rule: random`` needs ``budget``: the number of additions per round (a list), or the path of an
active run's ``additions.csv`` to copy them from (the baseline at equal labelling budget).
Rerun the same command to continue a stopped run. The output folder gets the trainer's files
(:mod:`hydronet_nb.train.trainer`) and the driver's (:mod:`hydronet_nb.finetune.rounds`),
``config.json`` and ``summary.json`` (test metrics of the best epoch).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import ConfigError
from ..utils.config import check_keys, from_mapping, read_mapping, section_of, typed
from ..utils.schema import check_ranges, message, setting

SECTIONS = ("data", "start", "model", "training", "schedule", "active", "output")
DATA_SOURCES = ("embedded", "pnnl")
RULES = ("active", "random", "none")
#: training settings of the finetuning when the config does not say: the paper's energy weight
DEFAULT_TRAINING = {"energy_weight": 0.05}


@dataclasses.dataclass
class DataSettings:
    source: str = setting("embedded", choices=DATA_SOURCES)
    path: str | None = None
    split: str | None = None

    def __post_init__(self):
        check_ranges(self, "data")
        if self.source == "pnnl" and not (self.path and self.split):
            raise ValueError("data.source pnnl needs data.path (the HDF5 file) and data.split (its split file)")


@dataclasses.dataclass
class ActiveSettings:
    rule: str = setting("active", choices=RULES)
    p_tol: float = setting(0.15, gt=0, lt=1)
    examine: int | None = setting(None, ge=1)  # pool size per round (default: the split's examine set)
    # random: additions per round (a list), or an active run's additions.csv
    budget: list[int] | str | None = None
    seed: int = setting(0, ge=0)

    def __post_init__(self):
        check_ranges(self, "active")
        if isinstance(self.budget, list) and any(isinstance(n, bool) or not isinstance(n, int) or n < 0
                                                 for n in self.budget):
            raise ValueError(message(None, "active.budget", "a list of integers >= 0 or a path", self.budget))
        if self.rule == "random" and self.budget is None:
            raise ValueError("active.rule random needs active.budget (a list, or an active run's additions.csv)")


@dataclasses.dataclass
class FinetuneConfig:
    data: DataSettings
    start: str
    model: "SchNetConfig"  # noqa: F821 (hydronet_nb.model.schnet)
    training: "TrainConfig"  # noqa: F821 (hydronet_nb.train.config)
    schedule: "Schedule"  # noqa: F821 (hydronet_nb.finetune.rounds)
    active: ActiveSettings
    output: Path

    def as_dict(self) -> dict:
        return {"data": dataclasses.asdict(self.data), "start": self.start, "model": self.model.as_dict(),
                "training": self.training.as_dict(), "schedule": dataclasses.asdict(self.schedule),
                "active": dataclasses.asdict(self.active), "output": str(self.output)}


def read_config(path: str | Path) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from a JSON or YAML file; errors name the file and the key."""
    path = Path(path)
    return config_from_mapping(read_mapping(path), str(path), path.parent)


def config_from_mapping(raw, source: str = "config", here: str | Path = ".") -> FinetuneConfig:
    """A :class:`FinetuneConfig` from a plain mapping (a chapter's settings); paths relative to ``here``,
    errors naming ``source`` and the key."""
    from ..model.schnet import SchNetConfig
    from ..train.config import TrainConfig
    from .rounds import Schedule

    path, here = source, Path(here)
    raw = check_keys(raw, SECTIONS, "config", source)
    if "output" not in raw:
        raise ConfigError(f"{source}: 'output' (the folder for checkpoints and logs) is missing")

    def resolve(value):
        return None if value is None else str(here / Path(value).expanduser())

    data = from_mapping(DataSettings, raw.get("data"), "data", source)  # types and ranges; then the paths
    data = dataclasses.replace(data, path=resolve(data.path), split=resolve(data.split))
    from ..model.catalog import shipped_names

    start = typed(raw, "start", str, source, "pretrained")
    if start not in ("published", "scratch", *shipped_names()):
        start = resolve(start)
    active = from_mapping(ActiveSettings, raw.get("active"), "active", str(path))
    if isinstance(active.budget, str):
        active.budget = resolve(active.budget)
    try:
        return FinetuneConfig(
            data, start, from_mapping(SchNetConfig, raw.get("model"), "model", str(path)),
            TrainConfig.from_dict({**DEFAULT_TRAINING, **section_of(raw, "training", source)}, str(path)),
            from_mapping(Schedule, raw.get("schedule"), "schedule", str(path)), active,
            Path(resolve(typed(raw, "output", str, source))))
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None


def variant(base: FinetuneConfig, output: str | Path, *, start=None, model=None, training: dict | None = None,
            schedule: dict | None = None, active: dict | None = None) -> FinetuneConfig:
    """``base`` with another output folder and the given changes (``training``: TrainConfig fields to
    change; ``schedule``, ``active``: whole sections as mappings), for the chapter's demo and the studies."""
    from .rounds import Schedule

    changes = {"output": Path(output)}
    if start is not None:
        changes["start"] = start
    if model is not None:
        changes["model"] = model
    if training:
        changes["training"] = dataclasses.replace(base.training, **training)
    if schedule is not None:
        changes["schedule"] = Schedule(**schedule)
    if active is not None:
        changes["active"] = ActiveSettings(**active)
    return dataclasses.replace(base, **changes)


def load_nonminima(settings: DataSettings):
    """The labelled non-minima with their five-part split, as one ClusterSet."""
    from ..data import datasets

    if settings.source == "pnnl":
        data = datasets.load_file(settings.path, settings.split, name="nonmin")
    else:
        data = datasets.load_dataset("nonmin")
    if data.split is None:
        raise ValueError(f"{data.name}: needs a split file with train, val, test, examine and reserve indices")
    return data


def start_model(config: FinetuneConfig):
    """The model finetuning starts from: shipped or published weights, a file or folder, or a seeded scratch SchNet."""
    from ..model.loading import load_model
    from ..model.schnet import build_schnet
    from ..train.config import seed_everything

    seed_everything(config.training.seed)
    if config.start == "scratch":
        return build_schnet(config.model), config.model
    from ..model.catalog import shipped_folder, shipped_names
    from ..model.shipped import model_config

    model = load_model(config.start)
    spec = Path(config.start)
    if config.start in shipped_names():
        spec = shipped_folder(config.start)
    model_cfg = model_config(spec) if spec.is_dir() else config.model
    return model.train(), model_cfg


def make_rule(settings: ActiveSettings):
    import pandas as pd

    from .active import ErfRule, RandomRule

    if settings.rule == "none":
        return None
    if settings.rule == "active":
        return ErfRule(settings.p_tol)
    budget = settings.budget
    if isinstance(budget, str):
        additions = pd.read_csv(budget)
        rounds = int(additions["round"].max()) if len(additions) else 0
        counts = additions.groupby("round").size()
        budget = [int(counts.get(r, 0)) for r in range(1, rounds + 1)]
    return RandomRule(tuple(int(n) for n in budget))


#: titles of the exported model card, by start
TITLES = {"scratch": "SchNet trained on forces from scratch",
          "pretrained": "The book's pretrained SchNet, finetuned on forces"}


def run(config: FinetuneConfig, *, device=None, log=print, export_to: Path | None = None, command: str = "",
        split: dict | None = None, epoch_callback=None) -> dict:
    """Finetune as configured (continuing a stopped run); returns the summary.

    ``export_to``: a folder to export the best epoch into (:mod:`hydronet_nb.finetune.export`), with
    ``command`` recorded in its card. ``split``: row indices replacing the data's own split (the
    studies train on parts of it); ``epoch_callback(trainer, metrics)`` replaces the printed line.
    """
    import numpy as np

    from ..evaluate.metrics import cluster_metrics, set_metrics
    from ..evaluate.predict import predict
    from ..train.checkpoints import BEST, kept_checkpoints, load_checkpoint
    from ..train.trainer import Trainer
    from ..utils.files import atomic_write_json
    from ..utils.runlock import run_folder
    from .rounds import ActiveSampler

    with run_folder(config.output, kept_checkpoints):
        data = load_nonminima(config.data)
        split = data.split if split is None else split
        val = data.subset(split["val_idx"], name="val")
        model, model_cfg = start_model(config)
        config.output.mkdir(parents=True, exist_ok=True)
        atomic_write_json(config.output / "config.json", config.as_dict())

        def make_trainer(train_set):
            return Trainer(model, train_set, val, config.training, config.output, model_config=model_cfg.as_dict(),
                           device=device, callbacks=[epoch_callback or print_epoch])

        sampler = ActiveSampler(make_trainer, data, split, config.schedule, config.output,
                                rule=make_rule(config.active), energy_weight=config.training.energy_weight,
                                examine_size=config.active.examine, seed=config.active.seed, log=log)
        history = sampler.run()
        trainer = sampler.trainer
        best = load_checkpoint(config.output / BEST)
        trainer.model.load_state_dict(best["model"])
        trainer.model.eval()
        test = data.subset(split["test_idx"], name="test")
        table, forces = predict(trainer.model, test, structure_checks=False)  # the run's own data, trained on as is
        metrics = cluster_metrics(table["energy"], test.energy, test.n_water, np.concatenate(forces), test.forces,
                                  test.n_atoms).assign(set="test")
        row = set_metrics(metrics).loc["test"]
        summary = {"best_epoch": int(best["epoch"]), "epochs_run": len(history), "train_clusters": len(trainer.train),
                   "added": int(len(sampler.additions())), "device": str(trainer.device),
                   "test": {k: float(row[k])
                            for k in ("mae_per_water", "rmse_per_water", "force_mae", "f_mag", "f_ang")}}
        atomic_write_json(config.output / "summary.json", summary)
        if export_to is not None:
            _export(config, model_cfg, data, test, export_to, command, log)
        log(f"best epoch {summary['best_epoch']}: test E/water MAE {row.mae_per_water:.4f}, force MAE "
            f"{row.force_mae:.3f}, F_mag {row.f_mag:.3f}, F_ang {row.f_ang:.4f}")
        return summary


def _export(config: FinetuneConfig, model_cfg, data, test, dest: Path, command: str, log) -> None:
    import os

    from ..data import datasets
    from .export import MINIMA_TEST, NONMIN_TEST, export

    sets = {NONMIN_TEST: test}
    files = list(data.files)
    if config.data.source == "embedded":
        minima = datasets.load_dataset("min")
        sets[MINIMA_TEST] = minima.subset(minima.split["test_idx"], name="test minima")
        files += list(minima.files)
    recorded = config.as_dict()
    recorded["output"] = os.path.relpath(recorded["output"])  # no home folders in a shipped card
    title = TITLES.get(config.start, f"SchNet finetuned on forces from {Path(config.start).name}")
    description = (f"{title}: energies and forces of the non-minima ({data.potential}; loss "
                   f"{config.training.energy_weight} MSE(E) + {1 - config.training.energy_weight:.2f} MSE(F)), "
                   f"active sampling rule {config.active.rule}. Energies in kcal/mol, forces in kcal/mol/A.")
    card = export(config.output, dest, config=recorded, model_cfg=model_cfg.as_dict(), data_files=files, sets=sets,
                  command=command, title=title, description=description)
    log(f"exported the best epoch to {card.parent} (card: {card.name})")


def print_epoch(trainer, m: dict) -> None:
    """The trainer callback of the finetuning commands: one line per epoch (force RMSE when the loss has forces)."""
    force = m.get("val_force_mse") if trainer.config.with_forces else None
    print(f"epoch {m['epoch']:4d}  train {m['train_loss']:.5g}  val {m['val_loss']:.5g}  "
          + (f"val force RMSE {force ** 0.5:.3f}  " if force is not None else "")
          + f"val MAE/water {m['val_mae_per_water']:.4f}  lr {m['lr']:.3g}  {m['clusters_per_s']:.0f} clusters/s"
          + ("  *" if m["best"] else ""), flush=True)


def cmd_finetune(args: argparse.Namespace) -> int:
    command = "hydronet-nb finetune --config " + args.config + (f" --export {args.export}" if args.export else "")
    run(read_config(args.config), export_to=Path(args.export) if args.export else None, command=command)
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb finetune``."""
    p = subparsers.add_parser("finetune", help="finetune SchNet on forces of non-minima with active sampling (resumable)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--config", required=True, help="JSON or YAML config file")
    p.add_argument("--export", metavar="DIR", help="after training, write the best epoch's weights, tables and a "
                                                   "model card (MODEL.md) into DIR")
    p.set_defaults(func=cmd_finetune)
