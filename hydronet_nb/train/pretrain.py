"""``hydronet-nb pretrain --config FILE``: pretrain SchNet on water-cluster minima.

The config (JSON, or YAML) has four sections; paths are relative to the config file::

    data:
      source: pnnl                  # embedded | pnnl | hydronet-pyg
      path: data/min_data.hdf5      # pnnl: the HDF5 file; hydronet-pyg: the folder holding raw/
      split: data/split_00_min.npz  # optional; default: a random 0.8/0.1/0.1 split (training.seed)
      sizes: 3-25                   # hydronet-pyg only: cluster sizes in waters
      extrapolation: big.hdf5       # optional: larger minima to report errors on (embedded: its W26-W30)
    model: {hidden_channels: 100, num_interactions: 4}  # SchNetConfig fields; default: the paper's
    training: {epochs: 100, batch_size: 256, packed: false}  # TrainConfig fields; default: the paper's
    output: runs/pretrain

Run again with the same config to continue a stopped run (on other data it refuses, naming what
changed). Data parallel::

    torchrun --nproc_per_node=4 -m hydronet_nb pretrain --config FILE

The output folder gets ``metrics.jsonl``, ``last.pt``, ``best.pt`` (see
:mod:`hydronet_nb.train.trainer`), ``config.json`` (the resolved config) and ``summary.json`` (the best
epoch and its validation and test metrics).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from contextlib import nullcontext
from pathlib import Path

from ..errors import ConfigError
from ..utils.config import format_sizes, from_mapping, parse_sizes, read_mapping, section_of, typed
from ..utils.schema import check_ranges, message, setting

# torch, PyG and the training modules are imported inside the functions: the command line imports
# this module to build its parser, and they take seconds to load.

DATA_SOURCES = ("embedded", "pnnl", "hydronet-pyg")
#: HydroNet sizes of the paper's pretraining set (waters)
PRETRAINING_SIZES = "3-25"
SECTIONS = ("data", "model", "training", "output")


@dataclasses.dataclass
class DataSettings:
    source: str = setting("embedded", choices=DATA_SOURCES)
    path: str | None = None
    split: str | None = None
    sizes: str | int | list[int] | None = None  # "3-25", "3,5,7", 10 or [3, 4, 5]; kept as the text form
    extrapolation: str | None = None  # an HDF5 file of larger minima, only to report errors on (embedded: its own)

    def __post_init__(self):
        check_ranges(self, "data")
        if self.sizes is not None:
            try:
                self.sizes = format_sizes(parse_sizes(self.sizes))
            except ValueError:
                raise ValueError(message(None, "data.sizes", "cluster sizes of 2 waters or more, e.g. '3-25' or "
                                         "[3, 4, 5]", self.sizes)) from None
        if self.source != "embedded" and not self.path:
            raise ValueError(f"data.source {self.source!r} needs data.path")
        if self.sizes is not None and self.source != "hydronet-pyg":
            raise ValueError("data.sizes applies only to data.source hydronet-pyg")


@dataclasses.dataclass
class PretrainConfig:
    data: DataSettings
    model: "SchNetConfig"  # noqa: F821 (hydronet_nb.model.schnet)
    training: "TrainConfig"  # noqa: F821 (hydronet_nb.train.config)
    output: Path

    def as_dict(self) -> dict:
        return {"data": dataclasses.asdict(self.data), "model": self.model.as_dict(),
                "training": self.training.as_dict(), "output": str(self.output)}


def read_config(path: str | Path) -> PretrainConfig:
    """A :class:`PretrainConfig` from a JSON or YAML file; errors name the file and the key."""
    from ..model.schnet import SchNetConfig
    from .config import TrainConfig

    path = Path(path)
    raw = read_mapping(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if "output" not in raw:
        raise ConfigError(f"{path}: 'output' (the folder for checkpoints and logs) is missing")
    here = path.parent

    def resolve(value):
        return None if value is None else str((here / Path(value).expanduser()))

    data = from_mapping(DataSettings, raw.get("data"), "data", str(path))  # types and ranges; then the paths
    data = dataclasses.replace(data, **{key: resolve(getattr(data, key)) for key in ("path", "split", "extrapolation")})
    model = from_mapping(SchNetConfig, raw.get("model"), "model", str(path))
    training = TrainConfig.from_dict(section_of(raw, "training", str(path)), str(path))
    return PretrainConfig(data, model, training, Path(resolve(typed(raw, "output", str, str(path)))))


def sizes_of(settings: DataSettings) -> list[int]:
    """The HydroNet sizes a ``hydronet-pyg`` source reads (``data.sizes``, default W3-W25)."""
    try:
        return list(parse_sizes(settings.sizes or PRETRAINING_SIZES))
    except ValueError as exc:
        raise ValueError(f"data.sizes: {exc}") from None


def load_minima(settings: DataSettings):
    """The configured minima as one :class:`~hydronet_nb.data.clusters.ClusterSet` (with its split, when there is a file)."""
    from ..data import datasets

    if settings.source == "hydronet-pyg":
        return datasets.load_hydronet(settings.path, sizes_of(settings), settings.split)
    if settings.source == "pnnl":
        return datasets.load_file(settings.path, settings.split, name="min")
    path = datasets.data_file("min")  # the package's own data set (hydronet_nb.utils.resources.EMBEDDED_DIR)
    if not path.is_file():
        raise datasets.missing_data_error(path, "the embedded minima")
    return datasets.load_file(path, settings.split or datasets.split_file("min"), name="min",
                              potential=datasets.potential_of("min"))


def load_extrapolation(settings: DataSettings):
    """Minima outside the training sizes to report errors on: ``data.extrapolation``, or the embedded W26-W30 (or None)."""
    from ..data import datasets

    if settings.extrapolation:
        return datasets.load_file(settings.extrapolation, name="min_extrapolation")
    path = datasets.data_file("min_extrapolation")
    return datasets.load_file(path, name="min_extrapolation") if settings.source == "embedded" and path.is_file() else None


def load_data(settings: DataSettings, seed: int) -> dict:
    """``{"train", "val", "test"}`` ClusterSets from the configured source (its split file, or a random split)."""
    from ..data.datasets import split_sets

    return split_sets(load_minima(settings), seed)


def _init_distributed():
    """Join the ``torchrun`` process group (gloo on CPU, nccl on CUDA) and return this rank's
    :class:`~hydronet_nb.device.DeviceChoice`; ``None`` outside torchrun."""
    import torch
    import torch.distributed as dist

    from ..device import DeviceChoice, select_device

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return DeviceChoice("cuda", torch.device("cuda", local), torch.cuda.get_device_name(local))
    dist.init_process_group("gloo")
    return select_device("cpu")


def _print_epoch(trainer, m: dict) -> None:
    if trainer.is_main:
        print(f"epoch {m['epoch']:4d}  train {m['train_loss']:.5g}  val {m['val_loss']:.5g}  "
              f"val MAE/water {m['val_mae_per_water']:.4f}  lr {m['lr']:.3g}  {m['clusters_per_s']:.0f} clusters/s"
              + ("  *" if m["best"] else ""), flush=True)


def run(config: PretrainConfig, *, device=None, callbacks=(), export_to: Path | None = None, command: str = "") -> dict:
    """Pretrain as configured (continuing a stopped run); returns the summary.

    ``device``: a :class:`~hydronet_nb.device.DeviceChoice` (default: ``training.device``).
    ``export_to``: a folder to export the best epoch into (:func:`hydronet_nb.train.export.export`),
    with ``command`` the command line recorded in its card.
    """
    import torch.distributed as dist

    from ..utils.runlock import run_folder
    from .checkpoints import kept_checkpoints

    # one writer per output folder: under torchrun, rank 0 holds it for its group (the others write nothing)
    lock = run_folder(config.output, kept_checkpoints) if int(os.environ.get("RANK", "0")) == 0 else nullcontext()
    with lock:
        distributed = _init_distributed()
        try:
            return _train(config, device or distributed, callbacks, export_to, command)
        finally:  # after _train returned: its DistributedDataParallel must be gone before the group is
            if distributed is not None:
                dist.destroy_process_group()


def _train(config: PretrainConfig, device, callbacks, export_to: Path | None, command: str) -> dict:
    import torch.distributed as dist

    from ..model.schnet import build_schnet
    from ..utils.files import atomic_write_json
    from .checkpoints import BEST, load_checkpoint
    from .config import seed_everything
    from .trainer import Trainer

    data = load_data(config.data, config.training.seed)
    seed_everything(config.training.seed)
    trainer = Trainer(build_schnet(config.model), data["train"], data["val"], config.training, config.output,
                      model_config=config.model.as_dict(), device=device, callbacks=[_print_epoch, *callbacks])
    packer = trainer.train_plan.packer
    if trainer.is_main:
        atomic_write_json(config.output / "config.json", config.as_dict())
        sizes = {k: len(v) for k, v in data.items()}
        print(f"device {trainer.device}; {trainer.world} process(es); clusters {sizes}", flush=True)
        if packer is not None:
            print(f"packs: {packer.n_packs} of <= {packer.max_atoms} atoms, {packer.efficiency:.1%} full", flush=True)
    history = trainer.fit()
    if trainer.world > 1:
        dist.barrier()  # best.pt is complete
    best = load_checkpoint(config.output / BEST)
    trainer.model.load_state_dict(best["model"])
    summary = {"best_epoch": best["epoch"], "epochs_run": len(history), "world_size": trainer.world,
               "device": str(trainer.device), "val": trainer.evaluate(),
               "test": trainer.evaluate(data["test"]) if len(data["test"]) else None,
               "packing_efficiency": packer.efficiency if packer is not None else None}
    if trainer.is_main:
        atomic_write_json(config.output / "summary.json", summary)
        if summary["test"]:
            print(f"best epoch {summary['best_epoch']}: test MAE per water {summary['test']['mae_per_water']:.4f} kcal/mol")
        if export_to is not None:
            from .export import export

            recorded = config.as_dict()
            recorded["output"] = os.path.relpath(recorded["output"])  # no home folders in a shipped card
            extrapolation = load_extrapolation(config.data)
            files = [*data["train"].files, *(extrapolation.files if extrapolation is not None else ())]
            card = export(config.output, export_to, config=recorded, data_files=files, test=data["test"],
                          extrapolation=extrapolation, command=command)
            print(f"exported the best epoch to {card.parent} (card: {card.name})")
    return summary


def cmd_pretrain(args: argparse.Namespace) -> int:
    command = "hydronet-nb pretrain --config " + args.config + (f" --export {args.export}" if args.export else "")
    run(read_config(args.config), export_to=Path(args.export) if args.export else None, command=command)
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb pretrain``."""
    p = subparsers.add_parser(
        "pretrain", help="pretrain SchNet on water-cluster minima (resumable; torchrun for several processes)",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog="Config sections: data (source embedded|pnnl|hydronet-pyg, path, split, sizes), model (SchNetConfig), "
               "training (TrainConfig), output. Rerun the same command to continue a stopped run.",
    )
    p.add_argument("--config", required=True, help="JSON or YAML config file")
    p.add_argument("--export", metavar="DIR", help="after training, write the best epoch's weights and a model card (MODEL.md) into DIR")
    p.set_defaults(func=cmd_pretrain)
