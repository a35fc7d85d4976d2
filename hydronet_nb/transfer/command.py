"""``hydronet-nb transfer --config FILE``: move SchNet to another potential energy surface, energy only.

The paper's second downstream task: finetune the pretrained model on minima re-evaluated with
another potential (MB-pol in the paper, GFN2-xTB in the book's embedded ``gfn2xtb`` set), with the
energy-only loss (``c = 1``) and early stopping. The config (JSON or YAML; paths relative to the file)::

    data:
      source: embedded              # embedded | pnnl
      name: gfn2xtb                 # embedded: the data set of the new surface
      path: mbpol_data.hdf5         # pnnl: the HDF5 file of the new surface
      split: split_00_mbpol.npz     # train, val, test
    start: pretrained               # a shipped model's name | published | scratch | an exported folder | a file
    model: {}                       # SchNetConfig fields (scratch only)
    training: {lr: 5.0e-4, epochs: 400, early_stopping_patience: 50}   # TrainConfig fields (also freeze, lr_scale)
    samples: 4000                   # training samples of the new surface (null: the whole training split)
    sample_seed: 0                  # which ones (null: the first ones)
    forgetting: embedded            # the old surface's test minima, to measure forgetting on: embedded (the
                                    # AMOEBA2018 minima) | {path: FILE.hdf5, split: FILE.npz} (PNNL) | null
    output: ../build/transfer

Rerun the same command to continue a stopped run. The output folder gets the trainer's files
(:mod:`hydronet_nb.train.trainer`), ``config.json`` and ``summary.json`` (test metrics of the
best epoch on the new surface and, with ``forgetting``, on the old one).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import ConfigError
from ..utils.config import check_keys, from_mapping, read_mapping, section_of, typed
from ..utils.schema import check_ranges, message, setting

SECTIONS = ("data", "start", "model", "training", "samples", "sample_seed", "forgetting", "output")
DATA_SOURCES = ("embedded", "pnnl")
#: training settings of the transfer when the config does not say: the paper's (energy only, early stopping)
DEFAULT_TRAINING = {"energy_weight": 1.0, "batch_size": 32, "lr": 5e-4, "epochs": 400, "early_stopping_patience": 50}
#: set names of the exported errors
NEW_TEST, OLD_TEST = "test minima, new surface", "test minima, old surface"


@dataclasses.dataclass
class DataSettings:
    source: str = setting("embedded", choices=DATA_SOURCES)
    name: str = "gfn2xtb"
    path: str | None = None
    split: str | None = None

    def __post_init__(self):
        check_ranges(self, "data")
        if self.source == "pnnl" and not (self.path and self.split):
            raise ValueError("data.source pnnl needs data.path (the HDF5 file) and data.split (its split file)")


@dataclasses.dataclass
class TransferConfig:
    data: DataSettings
    start: str
    model: "SchNetConfig"  # noqa: F821 (hydronet_nb.model.schnet)
    training: "TrainConfig"  # noqa: F821 (hydronet_nb.train.config)
    samples: int | None
    sample_seed: int | None
    forgetting: str | dict | None
    output: Path

    def __post_init__(self):
        if self.training.with_forces:
            raise ValueError(f"training.energy_weight must be 1 for a transfer (energy only), "
                             f"got {self.training.energy_weight}")
        if self.samples is not None and self.samples < 1:
            raise ValueError(message(None, "samples", "a number of training samples >= 1 or null", self.samples))

    def as_dict(self) -> dict:
        return {"data": dataclasses.asdict(self.data), "start": self.start, "model": self.model.as_dict(),
                "training": self.training.as_dict(), "samples": self.samples, "sample_seed": self.sample_seed,
                "forgetting": self.forgetting, "output": str(self.output)}


def read_config(path: str | Path) -> TransferConfig:
    """A :class:`TransferConfig` from a JSON or YAML file; errors name the file and the key."""
    path = Path(path)
    return config_from_mapping(read_mapping(path), str(path), path.parent)


def config_from_mapping(raw, source: str = "config", here: str | Path = ".") -> TransferConfig:
    """A :class:`TransferConfig` from a plain mapping; paths relative to ``here``, errors naming ``source``."""
    from ..model.catalog import shipped_names
    from ..model.schnet import SchNetConfig
    from ..train.config import TrainConfig

    here = Path(here)
    raw = check_keys(raw, SECTIONS, "config", source)
    if "output" not in raw:
        raise ConfigError(f"{source}: 'output' (the folder for checkpoints and logs) is missing")

    def resolve(value):
        return None if value is None else str(here / Path(value).expanduser())

    data = from_mapping(DataSettings, raw.get("data"), "data", source)  # types and ranges; then the paths
    data = dataclasses.replace(data, path=resolve(data.path), split=resolve(data.split))
    start = typed(raw, "start", str, source, "pretrained")
    if start not in ("published", "scratch", *shipped_names()):
        start = resolve(start)
    forgetting = typed(raw, "forgetting", str | dict[str, str] | None, source, "embedded")
    if isinstance(forgetting, dict):
        forgetting = {k: resolve(v) for k, v in check_keys(forgetting, ("path", "split"), "forgetting", source).items()}
        if set(forgetting) != {"path", "split"}:
            raise ConfigError(f"{source}: forgetting needs both path (a PNNL HDF5 file) and split (its split file)")
    elif forgetting not in (None, "embedded"):
        raise ConfigError(f"{source}: forgetting must be embedded, null or {{path: ..., split: ...}}; got {forgetting!r}")
    samples = typed(raw, "samples", int | None, source, None)
    seed = typed(raw, "sample_seed", int | None, source, 0)
    if seed is not None and seed < 0:
        raise ConfigError(message(source, "sample_seed", "an integer >= 0 or null", seed))
    try:
        return TransferConfig(
            data, start, from_mapping(SchNetConfig, raw.get("model"), "model", source),
            TrainConfig.from_dict({**DEFAULT_TRAINING, **section_of(raw, "training", source)}, source),
            samples, seed, forgetting, Path(resolve(typed(raw, "output", str, source))))
    except ConfigError:  # already names the file
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None


def load_surface(settings: DataSettings):
    """The new surface's minima with their train / val / test split."""
    from ..data import datasets

    if settings.source == "pnnl":
        data = datasets.load_file(settings.path, settings.split, name=Path(settings.path).stem.replace("_data", ""))
    else:
        data = datasets.load_dataset(settings.name)
    if data.split is None:
        raise ValueError(f"{data.name}: needs a split file with train, val and test indices")
    return data


def old_surface_test(config: TransferConfig):
    """The old surface's test minima (for forgetting), or None."""
    from ..data import datasets

    if config.forgetting is None:
        return None
    if config.forgetting == "embedded":
        minima = datasets.load_dataset("min")
    else:
        minima = datasets.load_file(config.forgetting["path"], config.forgetting["split"], name="old surface")
    return minima.subset(minima.split["test_idx"], name="old surface test")


def start_model(config: TransferConfig):
    """The model the transfer starts from (shipped or published weights, a file or folder, or seeded scratch)."""
    from ..finetune.command import start_model as finetune_start

    return finetune_start(config)


def run(config: TransferConfig, *, device=None, log=print, export_to: Path | None = None, command: str = "",
        split: dict | None = None, epoch_callback=None) -> dict:
    """Transfer as configured (continuing a stopped run); returns the summary.

    ``split``: row indices replacing the data's own split before ``samples`` is applied (studies).
    """
    from ..data.splits import shrink
    from ..evaluate.static import static_errors, static_summary
    from ..finetune.command import print_epoch
    from ..train.checkpoints import BEST, kept_checkpoints, load_checkpoint
    from ..train.trainer import Trainer
    from ..utils.files import atomic_write_json
    from ..utils.runlock import run_folder

    with run_folder(config.output, kept_checkpoints):
        data = load_surface(config.data)
        split = shrink(data.split if split is None else split, train=config.samples, train_seed=config.sample_seed)
        train, val = data.subset(split["train_idx"], name="train"), data.subset(split["val_idx"], name="val")
        model, model_cfg = start_model(config)
        config.output.mkdir(parents=True, exist_ok=True)
        atomic_write_json(config.output / "config.json", config.as_dict())
        trainer = Trainer(model, train, val, config.training, config.output, model_config=model_cfg.as_dict(),
                          device=device, callbacks=[epoch_callback or print_epoch])
        history = trainer.fit()
        trainer.model.load_state_dict(load_checkpoint(config.output / BEST)["model"])
        trainer.model.eval()
        sets = {NEW_TEST: data.subset(split["test_idx"], name="test")}
        old = old_surface_test(config)
        if old is not None:
            sets[OLD_TEST] = old
        summary_table = static_summary(static_errors({"model": trainer.model}, sets)).droplevel("model")
        best = load_checkpoint(config.output / BEST)
        summary = {"best_epoch": int(best["epoch"]), "epochs_run": len(history), "train_clusters": len(train),
                   "train_seconds": float(history["epoch_time_s"].sum()) if len(history) else 0.0,
                   "device": str(trainer.device),
                   **{("test" if name == NEW_TEST else "old"): {k: float(row[k])
                                                                for k in ("mae_per_water", "rmse_per_water")}
                      for name, row in summary_table.iterrows()}}
        atomic_write_json(config.output / "summary.json", summary)
        if export_to is not None:
            _export(config, model_cfg, data, sets, export_to, command, log, len(train))
        log(f"best epoch {summary['best_epoch']}: test MAE per water {summary['test']['mae_per_water']:.4f} kcal/mol "
            f"on {data.potential}"
            + (f", {summary['old']['mae_per_water']:.4f} on the old surface" if "old" in summary else ""))
        return summary


#: titles of the exported model card, by start
TITLES = {"scratch": "SchNet trained from scratch on minima of another surface",
          "pretrained": "The book's pretrained SchNet, transferred to another surface",
          "published": "The paper's published SchNet, transferred to another surface"}


def _export(config: TransferConfig, model_cfg, data, sets: dict, dest: Path, command: str, log, n_train: int) -> None:
    import os

    from ..finetune.export import export

    files = list(data.files)
    recorded = config.as_dict()
    recorded["output"] = os.path.relpath(recorded["output"])  # no home folders in a shipped card
    title = TITLES.get(config.start, f"SchNet transferred to another surface from {Path(config.start).name}")
    description = (f"{title}: energies of {n_train:,} training minima of {data.potential} (energy-only loss, "
                   "early stopping). Energies in kcal/mol.")
    card = export(config.output, dest, config=recorded, model_cfg=model_cfg.as_dict(), data_files=files, sets=sets,
                  command=command, title=title, description=description, test_set=NEW_TEST)
    log(f"exported the best epoch to {card.parent} (card: {card.name})")


def cmd_transfer(args: argparse.Namespace) -> int:
    command = "hydronet-nb transfer --config " + args.config + (f" --export {args.export}" if args.export else "")
    run(read_config(args.config), export_to=Path(args.export) if args.export else None, command=command)
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb transfer``."""
    p = subparsers.add_parser("transfer", help="finetune SchNet on energies of another potential (resumable)",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--config", required=True, help="JSON or YAML config file")
    p.add_argument("--export", metavar="DIR", help="after training, write the best epoch's weights, tables and a "
                                                   "model card (MODEL.md) into DIR")
    p.set_defaults(func=cmd_transfer)
