"""The book's data sets: where they live, how to load them, and a one-table summary.

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
``DATASET.md``. Every function takes ``data_dir`` to point elsewhere: at another generated set,
at PNNL's own release (``nonmin_data.hdf5``, ``mbpol_data.hdf5``), or at the real HydroNet,
whose raw files ``<data_dir>/raw/W{N}_geoms_all.zip`` are read through
:mod:`hydronet_nb.io.hydronet` when ``min_data.hdf5`` is absent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .clusters import Cluster

#: the folder of the book's embedded data set
from ..utils.resources import EMBEDDED_DIR
#: the card ``hydronet-nb generate`` writes beside the data
CARD = "DATASET.md"
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


def resolve_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, or the embedded folder when it is None."""
    return EMBEDDED_DIR if data_dir is None else Path(data_dir)


def data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """Path of data set ``name``'s HDF5 file, ``<data_dir>/<name>_data.hdf5`` (it may not exist)."""
    return resolve_dir(data_dir) / f"{name}_data.hdf5"


def split_file(name: str, data_dir: str | Path | None = None, split: int = 0) -> Path:
    """Path of data set ``name``'s split file, ``<data_dir>/split_NN_<name>.npz`` (it may not exist)."""
    return resolve_dir(data_dir) / f"split_{split:02d}_{name}.npz"


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
    """The potential energy surface behind data set ``name`` (a generated folder has a ``DATASET.md`` card)."""
    table = GENERATED_POTENTIALS if (resolve_dir(data_dir) / CARD).is_file() else RELEASE_POTENTIALS
    return table.get(name, "unknown")


@dataclass
class LoadedDataset:
    """One data set as arrays (``size`` waters and ``energy`` kcal/mol per cluster) plus its split.

    ``cluster(i)`` builds the :class:`~hydronet_nb.data.clusters.Cluster` of row ``i`` on demand, so a
    set of millions of rows needs no object per row. ``split`` maps ``train_idx`` etc. to row
    indices (None when the source has no split file); ``has_forces`` says whether rows carry forces.
    """

    name: str
    potential: str
    source: Path
    size: np.ndarray
    energy: np.ndarray
    split: dict[str, np.ndarray] | None
    has_forces: bool
    cluster: Callable[[int], Cluster]

    def __len__(self) -> int:
        return len(self.size)

    @property
    def energy_per_water(self) -> np.ndarray:
        return self.energy / self.size

    def clusters(self, rows=None) -> list[Cluster]:
        """The clusters of ``rows`` (default: all)."""
        return [self.cluster(int(i)) for i in (range(len(self)) if rows is None else rows)]


def _from_pnnl(name: str, folder: Path) -> LoadedDataset:
    from ..io.pnnl import PNNLDataset, read_split

    data = PNNLDataset(data_file(name, folder))
    split = split_file(name, folder)
    return LoadedDataset(name, potential_of(name, folder), data.path, data.size, data.energy,
                         read_split(split, len(data)) if split.is_file() else None, data.forces is not None,
                         data.__getitem__)


def _from_hydronet_raw(folder: Path, sizes) -> LoadedDataset:
    from ..io.hydronet import RAW_SIZES, read_hydronet_raw

    raw = hydronet_raw_dir(folder)
    sizes = [n for n in (RAW_SIZES if sizes is None else sizes) if (raw / f"W{n}_geoms_all.zip").is_file()]
    clusters = read_hydronet_raw(folder, sizes)
    return LoadedDataset("min", "TTM2.1-F", raw, np.array([c.n_water for c in clusters], dtype=np.int64),
                         np.array([c.energy for c in clusters], dtype=np.float64), None, False, clusters.__getitem__)


def load_dataset(name: str, data_dir: str | Path | None = None, *, hydronet_sizes=None) -> LoadedDataset:
    """Data set ``name`` from ``data_dir`` (default: the embedded set), read by :mod:`hydronet_nb.io.pnnl`.

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
        return _from_pnnl(name, folder)
    if name == "min" and any(hydronet_raw_dir(folder).glob("W*_geoms_all.zip")):
        return _from_hydronet_raw(folder, hydronet_sizes)
    raise missing_data_error(path, f"data set {name!r}")


def available(data_dir: str | Path | None = None) -> list[str]:
    """Names of the data sets present in ``data_dir``, in :data:`SEARCH_ORDER` (HydroNet raw zips count as ``min``)."""
    folder = resolve_dir(data_dir)
    names = [n for n in SEARCH_ORDER if data_file(n, folder).is_file()]
    if "min" not in names and any(hydronet_raw_dir(folder).glob("W*_geoms_all.zip")):
        names.insert(0, "min")
    return names


def load_all(data_dir: str | Path | None = None, **kwargs) -> dict[str, LoadedDataset]:
    """Every data set :func:`available` finds in ``data_dir``; FileNotFoundError when there is none."""
    names = available(data_dir)
    if not names:
        folder = resolve_dir(data_dir)
        raise missing_data_error(folder, "data folder" if not folder.is_dir() else "any <name>_data.hdf5 (or raw/W*_geoms_all.zip)")
    return {name: load_dataset(name, data_dir, **kwargs) for name in names}


def read_card(data_dir: str | Path | None = None) -> str:
    """The text of the data set's ``DATASET.md`` card."""
    path = resolve_dir(data_dir) / CARD
    if not path.is_file():
        raise missing_data_error(path, "dataset card")
    return path.read_text()


def card_section(card: str, title: str) -> str:
    """The body of the ``## title`` section of a card (empty when there is none)."""
    body, inside = [], False
    for line in card.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == title
            continue
        if inside:
            body.append(line)
    return "\n".join(body).strip()


def summary(datasets: dict[str, LoadedDataset]) -> pd.DataFrame:
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
            **{f"{key[:-4]}": len(split[key]) if key in split else None
               for key in ("train_idx", "val_idx", "test_idx", "examine_idx", "reserve_idx")},
        })
    return pd.DataFrame(rows).set_index("dataset")


def energy_table(datasets: dict[str, LoadedDataset]) -> pd.DataFrame:
    """Long table, one row per cluster of every data set: ``dataset``, ``n_water``, ``energy``, ``energy_per_water``."""
    return pd.concat(
        [pd.DataFrame({"dataset": name, "row": np.arange(len(ds)), "n_water": ds.size, "energy": ds.energy,
                       "energy_per_water": ds.energy_per_water}) for name, ds in datasets.items()],
        ignore_index=True,
    )


def sample_rows(size: np.ndarray, per_size: int | None, seed: int = 0) -> np.ndarray:
    """Row indices of at most ``per_size`` clusters of each size (all rows when None), drawn at random, sorted."""
    if per_size is None:
        return np.arange(len(size))
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(size == n))[:per_size] for n in np.unique(size)]
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


# --- the card -------------------------------------------------------------------------------------


def card_facts(card: str) -> dict:
    """The key facts of a ``DATASET.md`` card: the command, wall and CPU seconds, the potentials' lines."""
    command = re.search(r"```\s*(.+?)\s*```", card_section(card, "Command"), re.S)
    wall = re.search(r"Wall time of this invocation: ([\d.]+) s", card)
    cpu = re.search(r"CPU time summed over all chunks: ([\d.]+) s", card)
    potentials = [line[2:] for line in card_section(card, "Potentials").splitlines() if line.startswith("- ")]
    return {"command": command[1] if command else None, "wall_seconds": float(wall[1]) if wall else None,
            "cpu_seconds": float(cpu[1]) if cpu else None, "potentials": potentials}


def card_table(card: str, name: str) -> pd.DataFrame:
    """The per-size table of data set ``name`` in a card's Contents (``### name: N clusters``), as strings."""
    lines, inside = [], False
    for line in card.splitlines():
        if line.startswith("#"):
            inside = line.startswith(f"### {name}:")
        elif inside and line.startswith("|"):
            lines.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    if len(lines) < 2:
        raise KeyError(f"the card has no table for data set {name!r}")
    header, rows = lines[0], [row for row in lines[1:] if not set("".join(row)) <= set("-:")]
    return pd.DataFrame(rows, columns=header)


# --- analysis ---------------------------------------------------------------------------------------


def lowest_per_size(ds: LoadedDataset) -> pd.DataFrame:
    """The lowest-energy cluster of each size: ``n_water``, ``row``, ``energy``, ``energy_per_water``, ``clusters`` (of that size)."""
    table = pd.DataFrame({"n_water": ds.size, "row": np.arange(len(ds)), "energy": ds.energy})
    lowest = table.loc[table.groupby("n_water")["energy"].idxmin()].reset_index(drop=True)
    lowest["energy_per_water"] = lowest["energy"] / lowest["n_water"]
    return lowest.assign(clusters=table.groupby("n_water").size().to_numpy())


def _geometry_key(cluster: Cluster) -> bytes:
    return np.ascontiguousarray(cluster.pos, dtype=np.float32).tobytes()


def match_rows(reference: LoadedDataset, other: LoadedDataset) -> np.ndarray:
    """For each row of ``other``, the row of ``reference`` with the very same geometry (float32 positions), or -1.

    The GFN2-xTB set re-evaluates minima of ``min``: matching pairs the two energies of one structure.
    Only sizes that ``other`` holds are indexed.
    """
    wanted = np.isin(reference.size, np.unique(other.size))
    index = {_geometry_key(reference.cluster(int(i))): int(i) for i in np.flatnonzero(wanted)}
    return np.array([index.get(_geometry_key(other.cluster(i)), -1) for i in range(len(other))], dtype=np.int64)


def against_reference_minima(lowest: pd.DataFrame, reference: list[Cluster], potential=None, relax: bool = False) -> pd.DataFrame:
    """Compare the lowest minima per size (:func:`lowest_per_size`) with reference global minima (e.g. TTM2.1-F's).

    One row per reference cluster, energies per water (kcal/mol): ``reference`` (its own energy),
    ``lowest`` (ours, NaN when the data set lacks the size), and with a ``potential`` (ours, e.g.
    :class:`~hydronet_nb.reference.potentials.Amoeba`) ``at_reference`` (our potential at the reference geometry) and,
    with ``relax``, ``relaxed`` (the reference geometry relaxed on our potential with ``potential.minimize``).
    """
    ours = lowest.set_index("n_water")["energy_per_water"]
    rows = []
    for c in reference:
        n = c.n_water
        row = {"n_water": n, "reference": c.energy / n, "lowest": ours.get(n, np.nan)}
        if potential is not None:
            row["at_reference"] = potential.energy_forces(c.pos)[0] / n
            if relax:
                row["relaxed"] = potential.minimize(np.asarray(c.pos, dtype=np.float64))[1] / n
        rows.append(row)
    return pd.DataFrame(rows)


def compare_with_hydronet(datasets: dict[str, LoadedDataset]) -> pd.DataFrame:
    """The book's data sets next to the real HydroNet's published numbers (:mod:`hydronet_nb.book.published_numbers`)."""
    from ..book import published_numbers as pub

    def count(name):
        return f"{len(datasets[name]):,}" if name in datasets else "-"

    minima = [datasets[n] for n in ("min", "min_extrapolation") if n in datasets]
    sizes = np.concatenate([d.size for d in minima]) if minima else np.zeros(0, int)
    energy = np.concatenate([d.energy for d in minima]) if minima else np.zeros(0)
    plain = pd.Series(datasets["min"].size).value_counts().sort_index() if "min" in datasets else pd.Series(dtype=int)
    w10 = energy[sizes == 10].min() if (sizes == 10).any() else np.nan
    second = next((n for n in ("gfn2xtb", "mbpol") if n in datasets), None)
    lo, hi = pub.HYDRONET_SIZES
    plo, phi = pub.PRETRAIN_SIZES
    rows = {
        "potential (minima)": (pub.HYDRONET_POTENTIAL, minima[0].potential if minima else "-"),
        "how minima were found": (pub.HYDRONET_METHOD, "basin hopping + L-BFGS (hydronet-nb generate)"),
        "minima, all sizes": (f"{pub.HYDRONET_CLUSTERS:,} (W{lo}-W{hi})",
                              f"{len(sizes):,} (W{sizes.min()}-W{sizes.max()})" if len(sizes) else "-"),
        "pretraining set": (f"{pub.PRETRAIN_CLUSTERS:,} (W{plo}-W{phi})",
                            f"{count('min')} (W{plain.index[0]}-W{plain.index[-1]})" if len(plain) else "-"),
        "lowest W10 energy (kcal/mol)": (f"{pub.W10_GLOBAL_MINIMUM:.2f}", f"{w10:.2f}" if np.isfinite(w10) else "-"),
        "clusters per size": (
            f"skewed to large clusters: W3-W9 under {pub.HYDRONET_W3_TO_W9_CLUSTERS_MAX:,} together, "
            f"W20 {pub.HYDRONET_W20_CLUSTERS:,}, W21-W25 {pub.HYDRONET_W21_TO_W25_CLUSTERS_EACH[0]:,}-"
            f"{pub.HYDRONET_W21_TO_W25_CLUSTERS_EACH[1]:,} each",
            f"in proportion to size: W{plain.index[0]} {plain.iloc[0]:,}, W{plain.index[-1]} {plain.iloc[-1]:,}" if len(plain) else "-"),
        "non-minima with forces (MD)": (f"{pub.FORCE_FINETUNE['train_nonminima']:,} train + "
                                        f"{pub.FORCE_FINETUNE['examine_pool']:,} examine pool", count("nonmin")),
        "second PES (re-evaluated minima)": (f"MB-pol, {pub.MBPOL_TRANSFER_MINIMA:,}",
                                             f"{datasets[second].potential}, {count(second)}" if second else "-"),
    }
    return pd.DataFrame(rows, index=["HydroNet (published)", "loaded here"]).T
