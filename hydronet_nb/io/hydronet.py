"""The HydroNet minima (W3-W30, TTM2.1-F) from their raw zip files: through PyG, or in float32.

The raw files are ``<root>/raw/W{N}_geoms_all.zip``, N = 3..30, as unpacked from figshare's
``W3-W30_all_geoms_TTM2.1-F.zip``. Each holds one multi-frame xyz file: the atom count ``3N``, a
comment line ``label energy`` (total energy in kcal/mol relative to isolated relaxed monomers; some
W11 lines are malformed and only the last token is the energy), then ``El x y z`` lines in Angstrom.

Two readers of the same files:

* :func:`open_pyg_hydronet` -- PyG's own :class:`torch_geometric.datasets.HydroNet`, which parses
  with pandas and caches one ``.npz`` per size in ``<root>/processed``. Its processing stores
  positions as **float16** (and ``z`` as int8, energies as float32). float16 keeps 11 significant
  bits, so the error grows with the distance from the origin: up to 0.001 Angstrom for
  coordinates below 4, 0.008 near 25. :func:`hydronet_nb.evaluate.predict.float16_energy_shift`
  measures what that does to a model. With the published model, on the 13 TTM2.1-F global minima W3-W15 as published (up to
  35 Angstrom from the origin) the energy moves by 0.0001-0.14 kcal/mol per water (median 0.017);
  moved to the origin, by at most 0.017 (mean 0.003) -- the size of the paper's error bar
  (0.0018 kcal/mol per water) or far more.
* :func:`read_hydronet_zip` / :func:`read_hydronet_raw` -- the same lines, parsed by the same
  library (pandas) but kept as float32, returned as a checked
  :class:`~hydronet_nb.data.clusters.ClusterSet`. Energies
  come from :func:`hydronet_nb.io.xyz.hydronet_energy` (the last token, as PyG reads them).

How PyG 2.8.1's ``HydroNet`` behaves offline with the raw files present, and what is done here:

1. It lists all 28 zips as its raw files; if one is missing it downloads everything from figshare,
   even with ``clusters=[3, 4]``. :class:`LocalHydroNet` (a thin subclass, PyG's processing
   untouched) lists only the sizes asked for, and its ``download`` raises an error that says
   which files to put where.
2. Its default ``use_processed=True`` expects figshare's pre-processed bundle; with all raw zips
   present it still works (every size is then processed, one after the other, when the data set
   is built), but ``use_processed=False`` is the documented path for raw files, so that is passed.
3. ``num_workers > 1`` (its default is 8) fails: every worker writes ``processed/pre_transform.pt``
   while another reads it (``EOFError: Ran out of input``). One worker is used.
4. It needs neither ``pyg-lib`` nor ``torch-cluster`` (only pandas and tqdm); ``name="small"``
   needs figshare's split file and is not offered. ``force_reload`` does not reprocess the sizes
   (their ``Partition`` objects do not pass it on): delete ``<root>/processed`` instead.
5. Its items have int8 ``z`` and float16 ``pos``, which the model rejects (the embedding wants
   int64 indices, the kNN graph's ``cdist`` has no float16 kernel): :func:`to_model_dtypes`
   widens them (it cannot restore the precision float16 lost).
6. A ``transform`` runs twice per item (once by the size's ``Partition``, once by ``HydroNet``):
   give it only transforms that do the same when repeated, like :func:`to_model_dtypes`.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data
from torch_geometric.datasets import HydroNet
from torch_geometric.datasets.hydro_net import RemoteFile

from ..data.clusters import ClusterSet
from ..data.water import SYMBOLS, ClusterFormatError, as_water_cluster
from .xyz import hydronet_energy

#: cluster sizes (waters) of the HydroNet minima
RAW_SIZES = range(3, 31)

_Z = {symbol: z for z, symbol in SYMBOLS.items()}


def raw_file_name(n_water: int) -> str:
    return f"W{n_water}_geoms_all.zip"


def _check_sizes(sizes: Iterable[int]) -> list[int]:
    sizes = list(sizes)
    bad = [n for n in sizes if n not in RAW_SIZES]
    if bad or not sizes:
        raise ValueError(f"HydroNet sizes must be waters in 3..30, got {bad or 'none'}")
    return sizes


def _missing_files_message(raw_dir: Path, sizes: list[int]) -> str | None:
    missing = [raw_file_name(n) for n in sizes if not (raw_dir / raw_file_name(n)).is_file()]
    if not missing:
        return None
    raw = RemoteFile.raw_dataset()
    return (
        f"{raw_dir}: missing {', '.join(missing)}. HydroNet is not downloaded from here: put the raw files in "
        f"{raw_dir} (they are the W{{N}}_geoms_all.zip files inside {raw.name}, {raw.url}, unpacked)."
    )


class LocalHydroNet(HydroNet):
    """PyG's :class:`~torch_geometric.datasets.HydroNet` over the given sizes; never downloads.

    Only the raw and processed file lists (restricted to ``sizes``) and ``download`` (an error
    saying where the files go) differ from PyG's class; parsing and caching are PyG's own.
    """

    def __init__(self, root: str | Path, sizes: Iterable[int] = RAW_SIZES, transform=None):
        self.sizes = _check_sizes(sizes)  # read by the file lists during PyG's __init__
        super().__init__(str(root), transform=transform, num_workers=1, use_processed=False)

    @property
    def raw_file_names(self) -> list[str]:
        return [raw_file_name(n) for n in self.sizes]

    @property
    def processed_file_names(self) -> list[str]:
        return [raw_file_name(n).replace(".zip", ".npz") for n in self.sizes]

    def download(self) -> None:
        raise FileNotFoundError(_missing_files_message(Path(self.raw_dir), self.sizes))


def open_pyg_hydronet(root: str | Path, sizes: Iterable[int] = RAW_SIZES, transform=None) -> LocalHydroNet:
    """PyG's HydroNet from ``<root>/raw/W{N}_geoms_all.zip`` (processed on first use into ``<root>/processed``).

    Items hold float16 ``pos`` and int8 ``z``; pass ``transform=to_model_dtypes`` to feed SchNet.
    The paper's pretraining set is ``sizes=range(3, 26)`` (PyG's ``name="medium"``).
    """
    return LocalHydroNet(root, sizes, transform)


def to_model_dtypes(data: Data) -> Data:
    """A PyG transform: ``z`` to int64 and ``pos`` to float32, the dtypes SchNet takes."""
    data.z = data.z.long()
    data.pos = data.pos.float()
    return data


def _structure(stream: Iterable[str], source: str) -> tuple[int, list[float]]:
    """Atom count per frame and each frame's energy, from one pass over the lines.

    Checks every header line and comment line; atom lines are left to pandas.
    """
    lines = iter(stream)
    first = next(lines, "").strip()
    try:
        n_atoms = int(first)
    except ValueError:
        raise ClusterFormatError(f"{source}: line 1: expected an atom count, found {first[:40]!r}") from None
    if n_atoms <= 0:
        raise ClusterFormatError(f"{source}: line 1: atom count {n_atoms} is not positive")
    chunk, energies, end, i = n_atoms + 2, [], None, 0
    for i, line in enumerate(lines, start=1):  # i: 0-based line index
        k = i % chunk
        if end is not None:
            if line.strip():
                raise ClusterFormatError(f"{source}: line {end + 1} is blank where frame {len(energies)} should start")
        elif k == 0:
            if not line.strip():
                end = i
            elif line.strip() != str(n_atoms):
                raise ClusterFormatError(f"{source}: line {i + 1}: expected the atom count {n_atoms}, found {line.strip()[:40]!r}")
        elif k == 1:
            value = hydronet_energy(line)
            if value is None:
                raise ClusterFormatError(f"{source}: line {i + 1}: no energy on the comment line {line.strip()[:60]!r}")
            energies.append(value)
    n_lines = end if end is not None else i + 1
    if n_lines % chunk:
        raise ClusterFormatError(
            f"{source}: the file ends inside frame {n_lines // chunk} (line {n_lines}); each frame has {n_atoms} atom lines"
        )
    return n_atoms, energies


def _bad_atom_line(stream: Iterable[str], chunk: int) -> tuple[int, str]:
    """The first atom line that is not ``El x y z`` with numbers (only called when pandas failed)."""
    for i, line in enumerate(stream):
        if i % chunk >= 2:
            parts = line.split()
            try:
                [float(v) for v in parts[1:4]]
            except ValueError:
                return i + 1, line.rstrip()
            if len(parts) != 4:
                return i + 1, line.rstrip()
    return 0, ""


def read_hydronet_zip(path: str | Path, *, regroup: bool = True) -> ClusterSet:
    """Every frame of one raw ``W{N}_geoms_all.zip``, float32 positions, as water clusters.

    The atom lines are parsed like PyG does (pandas, whitespace-separated, header lines
    skipped) but kept in float64 and rounded once to float32. ``regroup`` as in
    :func:`~hydronet_nb.data.clusters.as_water_cluster` (each H given to its nearest O when the file
    lists it elsewhere, with a warning). Errors name the file, the member and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, or OSError / ValueError / EOFError on a damaged directory
        raise ClusterFormatError(f"{path}: not a zip file ({type(exc).__name__}: {exc})") from exc
    # a damaged archive or member makes zipfile, zlib or the text decoder raise their own errors at any read:
    # each is this file's error
    try:
        with zf:
            members = [info.filename for info in zf.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise ClusterFormatError(f"{path}: holds {len(members)} files {members[:4]}; a HydroNet raw zip holds one xyz file")
            member = members[0]
            source = f"{path}:{member}"
            with zf.open(member) as raw:
                n_atoms, energies = _structure(io.TextIOWrapper(raw, encoding="utf-8"), source)
            named = re.fullmatch(r"W(\d+)_geoms_all\.zip", path.name)
            if named and 3 * int(named[1]) != n_atoms:
                raise ClusterFormatError(f"{source}: frames of {n_atoms} atoms, but PyG reads {path.name} as {3 * int(named[1])}-atom frames")
            chunk = n_atoms + 2
            try:
                with zf.open(member) as raw:
                    atoms = pd.read_csv(
                        raw,
                        sep=r"\s+",
                        header=None,
                        names=["element", "x", "y", "z"],
                        dtype={"element": "category", "x": np.float64, "y": np.float64, "z": np.float64},
                        # the header and comment line of each frame (a set: a callable is called per line, slowly)
                        skiprows={i for start in range(0, len(energies) * chunk, chunk) for i in (start, start + 1)},
                        skip_blank_lines=False,  # a blank atom line must show up (as NaN), not shift the frames
                    )
            except (ValueError, pd.errors.ParserError) as exc:
                with zf.open(member) as raw:
                    line, text = _bad_atom_line(io.TextIOWrapper(raw, encoding="utf-8"), chunk)
                raise ClusterFormatError(f"{source}: line {line}: expected 'element x y z', found {text[:60]!r} ({exc})") from exc
    except ClusterFormatError:
        raise
    except Exception as exc:
        raise ClusterFormatError(f"{path}: a damaged archive, or a member that is not UTF-8 text "
                                 f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from exc
    n_frames = len(energies)
    atoms = atoms.iloc[: n_frames * n_atoms]  # the rest are the trailing blank lines

    def row_line(r: int) -> int:  # the 1-based file line of atom row r
        return (r // n_atoms) * chunk + 3 + r % n_atoms

    missing = atoms.isna().any(axis=1).to_numpy()
    if missing.any():
        r = int(np.argmax(missing))
        raise ClusterFormatError(f"{source}: line {row_line(r)}: expected 'element x y z', found {atoms.iloc[r].tolist()}")
    lut = np.array([_Z.get(str(symbol).capitalize(), 0) for symbol in atoms["element"].cat.categories], dtype=np.int64)
    z = lut[atoms["element"].cat.codes.to_numpy()]
    if (z == 0).any():
        r = int(np.argmax(z == 0))
        raise ClusterFormatError(f"{source}: line {row_line(r)}: element {atoms['element'].iloc[r]!r} is not O or H (water)")
    z = z.reshape(n_frames, n_atoms)
    pos = atoms[["x", "y", "z"]].to_numpy().reshape(n_frames, n_atoms, 3)
    for f in range(n_frames):
        first = row_line(f * n_atoms)
        z[f], pos[f] = as_water_cluster(z[f], pos[f], f"{source} frame {f}", atom_lines=range(first, first + n_atoms),
                                        regroup=regroup)
    return ClusterSet(z.reshape(-1), pos.reshape(-1, 3), np.arange(n_frames + 1) * n_atoms, np.asarray(energies),
                      name=f"W{n_atoms // 3}", source=source, item="frame", info={"file": str(path), "member": member},
                      potential="TTM2.1-F", files=[path])


def read_hydronet_raw(root: str | Path, sizes: Iterable[int] = RAW_SIZES, *, regroup: bool = True) -> ClusterSet:
    """:func:`read_hydronet_zip` over ``<root>/raw/W{N}_geoms_all.zip`` for ``sizes``, in PyG's order, as one set."""
    sizes, raw_dir = _check_sizes(sizes), Path(root) / "raw"
    message = _missing_files_message(raw_dir, sizes)
    if message:
        raise FileNotFoundError(message)
    return ClusterSet.concat([read_hydronet_zip(raw_dir / raw_file_name(n), regroup=regroup) for n in sizes], name="min")
