"""The command line of ``hydronet-nb generate`` (see :mod:`hydronet_nb.reference.generate` for what it makes).

The CLI imports this module to build its parser: nothing heavy is imported here.
"""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from ..utils.cli_types import nonneg_int, positive_int
from ..utils.config import format_sizes
from ..utils.config import parse_sizes as _parse_sizes
from .settings import FULL, TINY, Settings


def parse_sizes(text: str) -> tuple[int, ...]:
    """``'3-25'`` or ``'3,5,7'`` (or a mix) as a tuple of sizes; an ``argparse`` error otherwise."""
    try:
        return _parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The preset (``--tiny`` or the full data set) with the options given on the command line on top."""
    values = dict(TINY if args.tiny else FULL)
    for key in ("seed", "sizes", "minima", "extrapolation_sizes", "extrapolation_minima", "nonminima", "transfer", "chunk"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    for key in ("minima", "extrapolation_minima", "nonminima", "transfer"):
        if values[key] < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be 0 or more, got {values[key]}")
    if values["minima"] < 1:
        raise ValueError("--minima must be at least 1: the other data sets start from the minima")
    if values["chunk"] < 1:
        raise ValueError(f"--chunk must be at least 1, got {values['chunk']}")
    if values["seed"] < 0:
        raise ValueError(f"--seed must be 0 or more, got {values['seed']}")
    if values["transfer"] > values["minima"]:
        raise ValueError(f"--transfer {values['transfer']} is more than --minima {values['minima']}: it re-evaluates minima")
    return Settings(**values)


def command_line(settings: Settings, tiny: bool, out: Path, work: Path, workers: int) -> str:
    """The command that makes exactly this data set, every option spelled out."""
    s = settings
    args = ["generate", *(["--tiny"] if tiny else []), "--seed", s.seed, "--sizes", format_sizes(s.sizes), "--minima", s.minima,
            "--extrapolation-sizes", format_sizes(s.extrapolation_sizes), "--extrapolation-minima", s.extrapolation_minima,
            "--nonminima", s.nonminima, "--transfer", s.transfer, "--chunk", s.chunk, "--out", out, "--work", work,
            "--workers", workers]
    return "hydronet-nb " + shlex.join(map(str, args))


def cmd_generate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    # one thread per process for tblite's OpenMP: the parallelism is the pool of workers (set before tblite loads)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_name(out.name + "-work")
    from .generate import generate  # OpenMM and the writers load only when the command runs

    card = generate(settings, out, work, args.workers, command_line(settings, args.tiny, out, work, args.workers))
    print(f"wrote {card.parent}: {', '.join(sorted(p.name for p in card.parent.iterdir() if p.name[0] != '.'))}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb generate``."""
    p = subparsers.add_parser(
        "generate", help="make the water-cluster data sets (AMOEBA2018 minima and MD, GFN2-xTB transfer set)",
        description="Generate minima, non-minima and a GFN2-xTB transfer set in the PNNL layout. Defaults make the "
                    "full data set (hours); --tiny makes a small one in seconds. Resumable: rerun the same command.",
    )
    p.add_argument("--out", required=True, help="folder for the data files and DATASET.md")
    p.add_argument("--work", help="folder for finished chunks (default: OUT-work beside OUT); keep it to resume")
    p.add_argument("--tiny", action="store_true", help="a data set that takes seconds (W3-W5), for tests")
    p.add_argument("--seed", type=nonneg_int, help="random seed (default 0); the same seed gives the same data")
    p.add_argument("--sizes", type=parse_sizes, help="cluster sizes of the minima, e.g. 3-25 (default)")
    p.add_argument("--minima", type=positive_int, help="minima wanted over --sizes, shared in proportion to size (default 10000)")
    p.add_argument("--extrapolation-sizes", type=parse_sizes, help="sizes of the extrapolation minima (default 26-30)")
    p.add_argument("--extrapolation-minima", type=nonneg_int, help="extrapolation minima wanted (default 300; 0 for none)")
    p.add_argument("--nonminima", type=nonneg_int, help="MD snapshots wanted (default 10000; 0 for none)")
    p.add_argument("--transfer", type=nonneg_int, help="minima re-evaluated with GFN2-xTB (default 5000; 0 for none)")
    p.add_argument("--chunk", type=positive_int, help="minimizations per chunk of work (default 10)")
    p.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1), help="worker processes (default: 2 or the CPU count)")
    p.set_defaults(func=cmd_generate)
