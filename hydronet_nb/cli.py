"""The ``hydronet-nb`` command (also ``python -m hydronet_nb``)."""
from __future__ import annotations

import argparse
import importlib
import platform
import sys
import warnings
from importlib import metadata
from pathlib import Path

from .io import reference_files
from .utils.resources import RESOURCES_DIR


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cmd_info(args) -> int:
    from .device import poptorch_module, select_device

    device = select_device()
    mirror = reference_files.mirror_dir()
    print(f"hydronet_nb      {_version('hydronet_nb')}")
    print(f"python           {platform.python_version()}")
    for dist in ("torch", "torch_geometric", "ase", "numpy", "pandas"):
        print(f"{dist:<16} {_version(dist)}")
    print(f"poptorch         {'importable' if poptorch_module() else 'not importable (no Poplar SDK)'}")
    print(f"device           {device}")
    print(f"package data     {RESOURCES_DIR}")
    print(f"cache            {reference_files.cache_dir()}  (${reference_files.CACHE_ENV})")
    print(f"mirror           {mirror if mirror else 'not set'}  (${reference_files.MIRROR_ENV})")
    return 0


def cmd_predict(args) -> int:
    import pandas as pd

    from .data.clusters import ClusterSet
    from .device import select_device
    from .evaluate.predict import predict
    from .io.xyz import read_xyz_clusters
    from .model.loading import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = not args.no_structure_checks
        clusters = ClusterSet.concat([read_xyz_clusters(path, structure_checks=checks) for path in args.files],
                                     name="structures")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    device = select_device(args.device)
    if device.kind == "ipu":  # inference on the host is quick; the IPU path is for training
        device = select_device("cpu")
    model = load_model(args.model)
    table, _ = predict(model, clusters, device=device.torch_device, structure_checks=checks)
    if args.csv:
        table.to_csv(sys.stdout, index=False, float_format="%.6f")
        return 0
    print(f"model: {args.model}   device: {device}   units: kcal/mol, kcal/mol/Å")
    shown = table.rename(
        columns={"n_water": "waters", "energy_per_water": "E/water", "reference": "E_ref",
                 "error_per_water": "err/water", "max_force": "max|F|", "energy": "E"}
    )
    shown["source"] = shown["source"].map(lambda s: Path(s).name)  # "w10_lowest.xyz", "traj.xyz frame 3"
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))
    if table["reference"].notna().any():
        known = table.dropna(subset=["reference"])
        print(f"MAE per water over {len(known)} structures with a reference: "
              f"{known['error_per_water'].abs().mean():.4f} kcal/mol")
    return 0


#: modules that each define ``add_parser(subparsers)`` for one more subcommand
COMMAND_MODULES: tuple[str, ...] = ("hydronet_nb.reference.cli", "hydronet_nb.train.pretrain", "hydronet_nb.finetune.command",
                                     "hydronet_nb.finetune.studies", "hydronet_nb.transfer.command",
                                     "hydronet_nb.transfer.studies", "hydronet_nb.md.command", "hydronet_nb.md.study",
                                     "hydronet_nb.model.catalog",
                                     "hydronet_nb.evaluate.bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hydronet-nb", description="Pretrained SchNet for water clusters (the HydroNet book).")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="versions, the device found, data and cache folders")
    info.set_defaults(func=cmd_info)
    pred = sub.add_parser("predict", help="energies and forces of the structures in xyz files")
    pred.add_argument("--model", default="published", help="'published' (the paper's IPU-pretrained weights), 'pretrained' (the book's own), "
                      "a folder from `pretrain --export`, or a checkpoint file")
    pred.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    pred.add_argument("--csv", action="store_true", help="machine-readable output")
    pred.add_argument("--no-structure-checks", action="store_true",
                      help="experts: skip the geometry checks (overlapping atoms, O-H bonds, units) before the model")
    pred.add_argument("files", nargs="+", help="xyz files; the reference energy from a comment line that is a number "
                      "alone or 'label number' (kcal/mol), or extended xyz energy= (eV)")
    pred.set_defaults(func=cmd_predict)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None) -> int:
    from .utils.runlock import Terminated, interrupted_line, sigterm_as_interrupt

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    with sigterm_as_interrupt():  # Ctrl-C and SIGTERM end alike: one line, what was saved, how to continue
        try:
            args = build_parser().parse_args(argv)
            return args.func(args)
        except KeyboardInterrupt as stop:
            print(interrupted_line(stop, argv), file=sys.stderr)
            return 143 if isinstance(stop, Terminated) else 130  # 128 + the signal's number, as a shell reports it
        except (OSError, ValueError, RuntimeError) as exc:  # OSError: missing files, full disks, network
            print("hydronet-nb: error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line
            return 2


if __name__ == "__main__":
    sys.exit(main())
