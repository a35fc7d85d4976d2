"""The book's data sets: the catalog, and the one loader every chapter and command uses.

The book ships an **embedded** data set made by ``hydronet-nb generate`` (AMOEBA2018 and GFN2-xTB
standing in for the paper's TTM2.1-F and MB-pol) in ``hydronet_nb/resources/embedded/``:

=====================  ====================================================================
``min``                AMOEBA2018 minima W3-W25 (HydroNet's pretraining set)
``min_extrapolation``  AMOEBA2018 minima of larger clusters (W26-W30), for testing only
``nonmin``             snapshots of AMOEBA2018 MD at 260 K and 300 K, with forces
``gfn2xtb``            ``min`` minima re-evaluated with GFN2-xTB (the second PES)
=====================  ====================================================================

each as ``<name>_data.hdf5`` and ``split_00_<name>.npz`` in the PNNL layout
(:mod:`hydronet_nb.io.pnnl` reads both; nothing here parses a file itself), plus the card
``DATASET.json`` (rendered as ``DATASET.md``, :mod:`hydronet_nb.data.cards`). Every function takes
``data_dir`` to point elsewhere: at another generated set, at PNNL's own release
(``nonmin_data.hdf5``, ``mbpol_data.hdf5``), or at the real HydroNet, whose raw files
``<data_dir>/raw/W{N}_geoms_all.zip`` are read through :mod:`hydronet_nb.io.hydronet` when
``min_data.hdf5`` is absent. Every loader returns a :class:`~hydronet_nb.data.clusters.ClusterSet`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.resources import EMBEDDED_DIR
from .cards import DATASET_CARD, has_card
from .cards import read_card as _read_card
from .clusters import ClusterSet
from .splits import DEFAULT_FRACTIONS, SPLIT_KEYS, random_split, split_file_name

#: the data sets ``hydronet-nb generate`` writes, in the book's order
GENERATED = ("min", "min_extrapolation", "nonmin", "gfn2xtb")
#: the potential behind each data set: of a generated folder (one with a card) and of PNNL's release / HydroNet
GENERATED_POTENTIALS = {"min": "AMOEBA2018", "min_extrapolation": "AMOEBA2018", "nonmin": "AMOEBA2018", "gfn2xtb": "GFN2-xTB"}
RELEASE_POTENTIALS = {"min": "TTM2.1-F", "nonmin": "TTM2.1-F", "mbpol": "MB-pol"}
#: what each data set is, in a few words
KINDS = {"min": "minima", "min_extrapolation": "minima (larger, test only)", "nonmin": "non-minima (MD)",
         "gfn2xtb": "minima, second PES", "mbpol": "minima, second PES"}
#: the order data sets are looked for by :func:`load_all`
SEARCH_ORDER = (*GENERATED, "mbpol")
#: the second-PES data sets, in the order they are looked for
SECOND_PES = ("gfn2xtb", "mbpol")
#: the HydroNet sizes of the paper's pretraining set (waters)
PRETRAINING_SIZES = tuple(range(3, 26))
#: the raw HydroNet files
HYDRONET_RAW_GLOB = "W*_geoms_all.zip"

__all__ = ["EMBEDDED_DIR", "DATASET_CARD", "ClusterSet", "load_dataset", "load_all", "load_file", "load_hydronet",
           "available", "split_sets", "summary"]


def resolve_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, or the embedded folder when it is None."""
    return EMBEDDED_DIR if data_dir is None else Path(data_dir)


def data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """Path of data set ``name``'s HDF5 file, ``<data_dir>/<name>_data.hdf5`` (it may not exist)."""
    return resolve_dir(data_dir) / f"{name}_data.hdf5"


def split_file(name: str, data_dir: str | Path | None = None, split: int = 0) -> Path:
    """Path of data set ``name``'s split file, ``<data_dir>/split_NN_<name>.npz`` (it may not exist)."""
    return resolve_dir(data_dir) / split_file_name(name, split)


def hydronet_raw_dir(data_dir: str | Path | None = None) -> Path:
    """Where the real HydroNet's raw zips would be: ``<data_dir>/raw``."""
    return resolve_dir(data_dir) / "raw"


def generate_command(out: str | Path = EMBEDDED_DIR) -> str:
    """The command that makes a data set in ``out`` (defaults: the full embedded set, hours of CPU)."""
    return f"hydronet-nb generate --out {out}"


def missing_data_error(path: Path, what: str) -> FileNotFoundError:
    folder = path if path.suffix == "" else path.parent
    return FileNotFoundError(
        f"{path}: {what} not found. Make the data set with `{generate_command(folder)}` (add --tiny for a "
        f"seconds-long test set), or pass data_dir= a folder that holds <name>_data.hdf5 and split_00_<name>.npz"
    )


def potential_of(name: str, data_dir: str | Path | None = None) -> str:
    """The potential energy surface behind data set ``name`` (a generated folder has a card)."""
    table = GENERATED_POTENTIALS if has_card(resolve_dir(data_dir)) else RELEASE_POTENTIALS
    return table.get(name, "unknown")


def read_card(data_dir: str | Path | None = None) -> dict | None:
    """The facts of the data-set card in ``data_dir`` (its ``DATASET.json``), or None for a folder without one."""
    folder = resolve_dir(data_dir)
    return _read_card(folder, DATASET_CARD) if has_card(folder) else None


# --- loading ----------------------------------------------------------------------------------------


def load_file(path: str | Path, split: str | Path | None = None, *, name: str | None = None,
              potential: str = "unknown") -> ClusterSet:
    """A PNNL HDF5 file and, when given, its split file (:func:`hydronet_nb.io.pnnl.read_split`), as one set."""
    from ..io.pnnl import read_pnnl_hdf5, read_split

    data = read_pnnl_hdf5(path, name=name, potential=potential)
    if split is not None:
        data.split = read_split(split, len(data))
        data.files = (*data.files, Path(split))
    return data


def load_hydronet(root: str | Path, sizes=None, split: str | Path | None = None) -> ClusterSet:
    """The real HydroNet minima from ``<root>/raw/W{N}_geoms_all.zip`` (all sizes present, or ``sizes``), as ``min``."""
    from ..io.hydronet import RAW_SIZES, raw_file_name, read_hydronet_raw
    from ..io.pnnl import read_split

    raw = hydronet_raw_dir(root)
    if sizes is None:
        sizes = [n for n in RAW_SIZES if (raw / raw_file_name(n)).is_file()]
    data = read_hydronet_raw(root, sizes)
    data.name, data.potential = "min", "TTM2.1-F"
    if split is not None:
        data.split = read_split(split, len(data))
        data.files = (*data.files, Path(split))
    return data


def _has_hydronet_raw(folder: Path) -> bool:
    return any(hydronet_raw_dir(folder).glob(HYDRONET_RAW_GLOB))


def load_dataset(name: str, data_dir: str | Path | None = None, *, hydronet_sizes=None) -> ClusterSet:
    """Data set ``name`` from ``data_dir`` (default: the embedded set), with its split when there is one.

    ``<data_dir>/<name>_data.hdf5`` and, when present, ``split_00_<name>.npz`` are read. For
    ``name="min"`` without an HDF5 file, the real HydroNet's ``<data_dir>/raw/W{N}_geoms_all.zip``
    are read instead (all present sizes, or ``hydronet_sizes``), without a split. Raises
    :class:`FileNotFoundError` naming the folder, the file and the command that makes it.
    """
    folder = resolve_dir(data_dir)
    if not folder.is_dir():
        raise missing_data_error(folder, "data folder")
    path = data_file(name, folder)
    if path.is_file():
        split = split_file(name, folder)
        return load_file(path, split if split.is_file() else None, name=name, potential=potential_of(name, folder))
    if name == "min" and _has_hydronet_raw(folder):
        return load_hydronet(folder, hydronet_sizes)
    raise missing_data_error(path, f"data set {name!r}")


def available(data_dir: str | Path | None = None) -> list[str]:
    """Names of the data sets present in ``data_dir``, in :data:`SEARCH_ORDER` (HydroNet raw zips count as ``min``)."""
    folder = resolve_dir(data_dir)
    names = [n for n in SEARCH_ORDER if data_file(n, folder).is_file()]
    if "min" not in names and _has_hydronet_raw(folder):
        names.insert(0, "min")
    return names


def load_all(data_dir: str | Path | None = None, **kwargs) -> dict[str, ClusterSet]:
    """Every data set :func:`available` finds in ``data_dir``; FileNotFoundError when there is none."""
    names = available(data_dir)
    if not names:
        folder = resolve_dir(data_dir)
        raise missing_data_error(folder, "data folder" if not folder.is_dir() else "any <name>_data.hdf5 (or raw/W*_geoms_all.zip)")
    return {name: load_dataset(name, data_dir, **kwargs) for name in names}


def second_pes(datasets: dict[str, ClusterSet]) -> str | None:
    """The name of the second-PES data set among ``datasets`` (``gfn2xtb`` or ``mbpol``), or None."""
    return next((n for n in SECOND_PES if n in datasets), None)


def split_sets(data: ClusterSet, seed: int = 0, fractions=DEFAULT_FRACTIONS) -> dict[str, ClusterSet]:
    """``{"train", "val", "test"}`` subsets of ``data``: its own split, or a random one drawn with ``seed``.

    An empty training or validation set is an error naming the split.
    """
    sets = data.split if data.split is not None else random_split(len(data), seed, fractions)
    where = "the split file" if data.split is not None else "the random split"
    out = {part: data.subset(sets[f"{part}_idx"], name=f"{data.name} {part}") for part in ("train", "val", "test")}
    for part in ("train", "val"):
        if not len(out[part]):
            raise ValueError(f"{data.name}: {where}: the {part} set is empty ({len(data)} clusters in all)")
    return out


# --- one table per data set ---------------------------------------------------------------------------


def summary(datasets: dict[str, ClusterSet]) -> pd.DataFrame:
    """One row per data set: kind, potential, counts, size and energy ranges, forces and split sizes."""
    rows = []
    for name, ds in datasets.items():
        per_water = ds.energy_per_water
        split = ds.split or {}
        rows.append({
            "dataset": name,
            "kind": KINDS.get(name, ""),
            "potential": ds.potential,
            "clusters": len(ds),
            "sizes": len(np.unique(ds.size)),
            "min waters": int(ds.size.min()),
            "max waters": int(ds.size.max()),
            "min E (kcal/mol)": float(ds.energy.min()),
            "max E (kcal/mol)": float(ds.energy.max()),
            "min E/water": float(per_water.min()),
            "max E/water": float(per_water.max()),
            "forces": ds.has_forces,
            **{f"{key[:-4]}": len(split[key]) if key in split else None for key in SPLIT_KEYS},
        })
    return pd.DataFrame(rows).set_index("dataset")


def energy_table(datasets: dict[str, ClusterSet]) -> pd.DataFrame:
    """Long table, one row per cluster of every data set: ``dataset``, ``row``, ``n_water``, ``energy``, ``energy_per_water``."""
    return pd.concat(
        [pd.DataFrame({"dataset": name, "row": np.arange(len(ds)), "n_water": ds.size, "energy": ds.energy,
                       "energy_per_water": ds.energy_per_water}) for name, ds in datasets.items()],
        ignore_index=True,
    )
