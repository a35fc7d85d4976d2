"""``hydronet-nb pretrain --config FILE``: pretrain SchNet on water-cluster minima.

The config (JSON, or YAML with PyYAML installed) has four sections; paths are relative to the
config file::

    data:
      source: pnnl                  # embedded | pnnl | hydronet-pyg
      path: data/min_data.hdf5      # pnnl: the HDF5 file; hydronet-pyg: the folder holding raw/
      split: data/split_00_min.npz  # optional; default: a random 0.8/0.1/0.1 split (training.seed)
      sizes: 3-25                   # hydronet-pyg only: cluster sizes in waters
      extrapolation: big.hdf5       # optional: larger minima to report errors on (embedded: its W26-W30)
    model: {hidden_channels: 100, num_interactions: 4}  # SchNetConfig fields; default: the paper's
    training: {epochs: 100, batch_size: 256, packed: false}  # TrainConfig fields; default: the paper's
    output: runs/pretrain

Run again with the same config to continue a stopped run. Data parallel::

    torchrun --nproc_per_node=4 -m hydronet_nb pretrain --config FILE

The output folder gets ``metrics.jsonl``, ``last.pt``, ``best.pt`` (see
:mod:`hydronet_nb.train.trainer`), ``config.json`` (the resolved config) and ``summary.json`` (the best
epoch and its validation and test metrics).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

# torch, PyG and the training modules are imported inside the functions: the command line imports
# this module to build its parser, and they take seconds to load.

DATA_SOURCES = ("embedded", "pnnl", "hydronet-pyg")
#: train, validation and test fractions of the random split used when no split file is given
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
#: HydroNet sizes of the paper's pretraining set (waters)
PRETRAINING_SIZES = "3-25"


@dataclasses.dataclass
class DataSettings:
    source: str = "embedded"
    path: str | None = None
    split: str | None = None
    sizes: str | None = None
    extrapolation: str | None = None  # an HDF5 file of larger minima, only to report errors on (embedded: its own)

    def __post_init__(self):
        if self.source not in DATA_SOURCES:
            raise ValueError(f"data.source must be one of {', '.join(DATA_SOURCES)}; got {self.source!r}")
        if self.source != "embedded" and not self.path:
            raise ValueError(f"data.source {self.source!r} needs data.path")
        if self.sizes is not None and self.source != "hydronet-pyg":
            raise ValueError("data.sizes applies only to data.source hydronet-pyg")


@dataclasses.dataclass
class PretrainConfig:
    data: DataSettings
    model: "SchNetConfig"  # noqa: F821 (hydronet_nb.model.schnet)
    training: "TrainConfig"  # noqa: F821 (hydronet_nb.train.trainer)
    output: Path

    def as_dict(self) -> dict:
        return {"data": dataclasses.asdict(self.data), "model": self.model.as_dict(),
                "training": self.training.as_dict(), "output": str(self.output)}


def _section(values: dict, cls, name: str, source: str) -> dict:
    if not isinstance(values, dict):
        raise ValueError(f"{source}: section '{name}' must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; known: {', '.join(sorted(known))}")
    return values


def read_config(path: str | Path) -> PretrainConfig:
    """A :class:`PretrainConfig` from a JSON or YAML file; errors name the file and the key."""
    from ..model.schnet import SchNetConfig
    from .trainer import TrainConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the config as JSON") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); YAML files must end in .yaml or .yml") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping with sections data, model, training, output")
    unknown = sorted(set(raw) - {"data", "model", "training", "output"})
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(unknown)}; known: data, model, training, output")
    if "output" not in raw:
        raise ValueError(f"{path}: 'output' (the folder for checkpoints and logs) is missing")
    here = path.parent

    def resolve(value):
        return None if value is None else str((here / Path(value).expanduser()))

    data = dict(_section(raw.get("data") or {}, DataSettings, "data", str(path)))
    for key in ("path", "split", "extrapolation"):
        data[key] = resolve(data.get(key))
    if isinstance(data.get("sizes"), list):
        data["sizes"] = ",".join(map(str, data["sizes"]))
    model = SchNetConfig(**_section(raw.get("model") or {}, SchNetConfig, "model", str(path)))
    training = TrainConfig.from_dict(_section(raw.get("training") or {}, TrainConfig, "training", str(path)), str(path))
    return PretrainConfig(DataSettings(**data), model, training, Path(resolve(raw["output"])))


def parse_sizes(text: str) -> list[int]:
    """``"3-25"`` or ``"3,5,10-12"`` as a list of waters (the reader of ``hydronet-nb generate --sizes``)."""
    from ..reference.generate import parse_sizes as parse

    try:
        return list(parse(str(text).replace(" ", "")))
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"data.sizes: {exc}") from None


def random_split(n: int, seed: int, fractions=SPLIT_FRACTIONS) -> dict[str, np.ndarray]:
    """A random train/val/test split of ``range(n)`` with ``fractions`` (:func:`hydronet_nb.reference.generate.split_indices`)."""
    from ..reference.generate import split_indices

    parts = split_indices(n, (*fractions, 0.0, 0.0), np.random.default_rng(seed))
    return {key: parts[key] for key in ("train_idx", "val_idx", "test_idx")}


def data_files(settings: DataSettings) -> list[Path]:
    """The files a run with these data settings reads (for the model card's checksums)."""
    from ..data.datasets import data_file, split_file

    if settings.source == "embedded":
        files = [data_file("min"), Path(settings.split) if settings.split else split_file("min"), data_file("min_extrapolation")]
    elif settings.source == "pnnl":
        files = [Path(settings.path), *([Path(settings.split)] if settings.split else [])]
    else:
        raw = Path(settings.path) / "raw"
        files = sorted(raw / f"W{n}_geoms_all.zip" for n in parse_sizes(settings.sizes or PRETRAINING_SIZES))
    if settings.extrapolation:
        files.append(Path(settings.extrapolation))
    return [f for f in dict.fromkeys(files) if f.is_file()]


def load_extrapolation(settings: DataSettings) -> list:
    """Minima outside the training sizes to report errors on: ``data.extrapolation``, or the embedded W26-W30."""
    from ..data.datasets import data_file
    from ..io.pnnl import read_pnnl_hdf5

    if settings.extrapolation:
        return read_pnnl_hdf5(settings.extrapolation)
    path = data_file("min_extrapolation")
    return read_pnnl_hdf5(path) if settings.source == "embedded" and path.is_file() else []


def load_data(settings: DataSettings, seed: int) -> dict[str, list]:
    """``{"train": [...], "val": [...], "test": [...]}`` from the configured source."""
    if settings.source == "hydronet-pyg":
        from ..io.hydronet import read_hydronet_raw

        clusters = read_hydronet_raw(settings.path, parse_sizes(settings.sizes or PRETRAINING_SIZES))
        split_path = settings.split
    else:
        from ..io.pnnl import read_pnnl_hdf5

        if settings.source == "embedded":
            from ..data.datasets import missing_data_error, data_file, split_file

            path = data_file("min")  # the package's own data set (hydronet_nb.data.datasets.EMBEDDED_DIR)
            if not path.is_file():
                raise missing_data_error(path, "the embedded minima")
            split_path = settings.split or str(split_file("min"))
        else:
            path, split_path = settings.path, settings.split
        clusters = read_pnnl_hdf5(path)
    if split_path:
        from ..io.pnnl import read_split

        sets = read_split(split_path, len(clusters))
    else:
        sets = random_split(len(clusters), seed)
    out = {name: [clusters[i] for i in sets[f"{name}_idx"]] for name in ("train", "val", "test")}
    for name in ("train", "val"):
        if not out[name]:
            raise ValueError(f"{split_path or 'the random split'}: the {name} set is empty ({len(clusters)} clusters in all)")
    return out


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
    ``export_to``: a folder to export the best epoch into (:func:`hydronet_nb.model.shipped.export`),
    with ``command`` the command line recorded in its card.
    """
    import torch.distributed as dist

    distributed = _init_distributed()
    try:
        return _train(config, device or distributed, callbacks, export_to, command)
    finally:  # after _train returned: its DistributedDataParallel must be gone before the group is
        if distributed is not None:
            dist.destroy_process_group()


def _train(config: PretrainConfig, device, callbacks, export_to: Path | None, command: str) -> dict:
    import torch.distributed as dist

    from .checkpoints import load_checkpoint
    from ..model.schnet import build_schnet
    from .trainer import Trainer, seed_everything

    data = load_data(config.data, config.training.seed)
    seed_everything(config.training.seed)
    model = build_schnet(config.model)
    trainer = Trainer(model, data["train"], data["val"], config.training, config.output,
                      model_config=config.model.as_dict(), device=device, callbacks=[_print_epoch, *callbacks])
    if trainer.is_main:
        config.output.mkdir(parents=True, exist_ok=True)
        (config.output / "config.json").write_text(json.dumps(config.as_dict(), indent=2) + "\n")
        sizes = {k: len(v) for k, v in data.items()}
        print(f"device {trainer.device}; {trainer.world} process(es); clusters {sizes}", flush=True)
        if config.training.packed:
            packer = trainer.train_split[1]
            print(f"packs: {packer.n_packs} of <= {packer.max_atoms} atoms, {packer.efficiency:.1%} full", flush=True)
    history = trainer.fit()
    if trainer.world > 1:
        dist.barrier()  # best.pt is complete
    best = load_checkpoint(config.output / "best.pt")
    trainer.model.load_state_dict(best["model"])
    summary = {"best_epoch": best["epoch"], "epochs_run": len(history), "world_size": trainer.world,
               "device": str(trainer.device), "val": trainer.evaluate(),
               "test": trainer.evaluate(data["test"]) if data["test"] else None,
               "packing_efficiency": trainer.train_split[1].efficiency if config.training.packed else None}
    if trainer.is_main:
        (config.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if summary["test"]:
            print(f"best epoch {summary['best_epoch']}: test MAE per water {summary['test']['mae_per_water']:.4f} kcal/mol")
        if export_to is not None:
            from ..model.shipped import export

            recorded = config.as_dict()
            recorded["output"] = os.path.relpath(recorded["output"])  # no home folders in a shipped card
            card = export(config.output, export_to, config=recorded, data_files=data_files(config.data),
                          test=data["test"], extrapolation=load_extrapolation(config.data), command=command)
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
