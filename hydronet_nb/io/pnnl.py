"""The PNNL data-release format (the finetuning sets) and its split files.

One HDF5 file holds ``n`` clusters, each padded to the same atom count (the release pads to 90):

========  ===================  ==============================================================
``z``     uint8 [n, pad]       atomic numbers, ``0`` for padding
``pos``   float32 [n, pad, 3]  positions, Angstrom (padding: 0)
``y``     float [n]            total energy, kcal/mol, relative to isolated relaxed monomers
``f``     float32 [n, pad, 3]  energy GRADIENT dE/dx (= -forces), kcal/mol/Angstrom (padding: 0)
``size``  int [n]              number of water molecules; its ``3 * size`` atoms come first
========  ===================  ==============================================================

The release stores ``y`` and ``size`` as ``[n, 1]`` (float32, uint8) and adds a one-hot ``x``; the
reader accepts both shapes and ignores other fields. Clusters are stored ``O H H`` per molecule
and read back in that order, never regrouped (MD frames must show a broken molecule as broken).

Policies:

* ``f`` is optional: written when every cluster has forces, omitted when none has, an error when
  only some have (zeros or NaN would pass for data). A file without ``f`` reads back with
  ``forces=None``.
* Every check raises :class:`PNNLFormatError` naming the file, the field and the row (cluster
  index); nothing is dropped. The writer runs the same checks before it writes, so it never
  writes a file the reader rejects.
* Energies above :data:`MAX_ABS_ENERGY_PER_WATER` per water in magnitude are refused as being in
  another unit (binding energies of water clusters are about -5 to -11 kcal/mol per water).

Split files ``split_NN_{dataset}.npz`` hold integer row indices under
:data:`~hydronet_nb.data.splits.SPLIT_KEYS`.

The reader returns a :class:`~hydronet_nb.data.clusters.ClusterSet` (the padding stripped, the
gradient turned into forces), checked without building a Python object per cluster.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from ..data.clusters import Cluster, ClusterSet
from ..data.splits import REQUIRED_KEYS, SPLIT_KEYS
from ..data.water import Z_H, Z_O, ClusterFormatError, as_water_cluster
from ..utils.files import atomic_write

log = logging.getLogger(__name__)

#: the fields a PNNL file must have (``f`` is optional)
REQUIRED_FIELDS = ("z", "pos", "y", "size")
#: |energy| per water (kcal/mol) above which an energy is taken to be in another unit
MAX_ABS_ENERGY_PER_WATER = 50.0
#: arrays at least this big (bytes) are gzip-compressed; the padding makes them compress well
COMPRESS_FROM_BYTES = 1 << 16

# |energy| per water that absolute (not binding) energies of water have in other units
_UNIT_HINTS = (
    (60.0, 100.0, "hartree, an absolute energy (a water molecule is about -76.4 hartree)"),
    (1.8e3, 2.4e3, "eV, an absolute energy (about -2,080 eV per water)"),
    (4.5e4, 5.1e4, "kcal/mol but absolute, not relative to isolated monomers (about -47,900 per water)"),
    (1.8e5, 2.2e5, "kJ/mol, an absolute energy (about -200,600 per water)"),
)


class PNNLFormatError(ClusterFormatError):
    """A PNNL HDF5 or split file that is malformed; the message names file, field and row."""


def _unit_hint(per_water: float) -> str:
    for low, high, hint in _UNIT_HINTS:
        if low <= per_water <= high:
            return f"looks like {hint}"
    return "is not a binding energy in kcal/mol (those are about -5 to -11 per water)"


def _per_cluster(source: str, name: str, arr: np.ndarray, n: int) -> np.ndarray:
    """``arr`` as ``[n]``, accepting the release's ``[n, 1]``."""
    if arr.shape not in ((n,), (n, 1)):
        raise PNNLFormatError(f"{source}: field '{name}' has shape {arr.shape}; expected ({n},) to match 'z' ({n} rows)")
    return arr.reshape(n)


def _water(z: np.ndarray, pos: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~hydronet_nb.data.clusters.as_water_cluster` in the file's own order, raising :class:`PNNLFormatError`."""
    try:
        return as_water_cluster(z, pos, source, regroup=False)
    except ClusterFormatError as exc:
        raise PNNLFormatError(str(exc)) from exc


def _check_arrays(source: str, z, pos, y, size, grad):
    """Check the arrays of a PNNL file; return ``(z, pos, y float64 [n], size int64 [n], grad)``.

    Vectorised, so a file of millions of clusters is checked without a Python object per cluster.
    """
    if z.ndim != 2:
        raise PNNLFormatError(f"{source}: field 'z' has shape {z.shape}; expected [clusters, atoms]")
    n, pad = z.shape
    if n == 0:
        raise PNNLFormatError(f"{source}: no clusters")
    y, size = _per_cluster(source, "y", y, n), _per_cluster(source, "size", size, n)
    for name, arr in (("pos", pos), ("f", grad)):
        if arr is not None and arr.shape != (n, pad, 3):
            raise PNNLFormatError(f"{source}: field '{name}' has shape {arr.shape}; expected {(n, pad, 3)} to match 'z' {z.shape}")
    for name, arr, kinds, what in (("z", z, "iu", "integers"), ("size", size, "iu", "integers"),
                                   ("pos", pos, "f", "floats"), ("y", y, "f", "floats"), ("f", grad, "f", "floats")):
        if arr is not None and arr.dtype.kind not in kinds:
            raise PNNLFormatError(f"{source}: field '{name}' has dtype {arr.dtype}; expected {what}")
    size = size.astype(np.int64)
    bad = np.flatnonzero((size < 1) | (3 * size > pad))
    if bad.size:
        i = int(bad[0])
        raise PNNLFormatError(f"{source}: row {i}: field 'size' = {size[i]} waters does not fit rows of {pad} atoms")
    real = np.arange(pad) < 3 * size[:, None]  # [n, pad]: the atoms that are not padding
    wrong = (z != 0) != real
    if wrong.any():
        i, a = (int(v) for v in np.argwhere(wrong)[0])
        raise PNNLFormatError(
            f"{source}: row {i}: field 'size' = {size[i]} waters ({3 * size[i]} atoms) but field 'z' has atom {a + 1} = "
            + ("0 (padding) among them" if real[i, a] else f"{z[i, a]} after them; padding must be 0")
            + f"; the row has {np.count_nonzero(z[i])} atoms, which must be 3 x size"
        )
    off_pattern = real & (z != np.resize(np.array([Z_O, Z_H, Z_H], dtype=z.dtype), pad))
    if off_pattern.any():
        i = int(np.flatnonzero(off_pattern.any(axis=1))[0])
        k = 3 * int(size[i])
        # the package's one water check names the atom; it raises for any row off the O H H pattern
        _water(z[i, :k], pos[i, :k], f"{source} row {i} (field 'z')")
    for name, arr in (("pos", pos), ("f", grad)):
        if arr is not None:
            bad = real & ~np.isfinite(arr).all(axis=-1)
            if bad.any():
                i, a = (int(v) for v in np.argwhere(bad)[0])
                raise PNNLFormatError(f"{source}: row {i}: field '{name}' of atom {a + 1} is not finite: {arr[i, a].tolist()}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise PNNLFormatError(f"{source}: row {bad[0]}: field 'y' is not finite ({y[bad[0]]})")
    per_water = np.abs(y) / size
    bad = np.flatnonzero(per_water > MAX_ABS_ENERGY_PER_WATER)
    if bad.size:
        i = int(bad[0])
        raise PNNLFormatError(
            f"{source}: row {i}: field 'y' = {y[i]:.6g} for {size[i]} waters ({y[i] / size[i]:.6g} per water) "
            f"{_unit_hint(float(per_water[i]))}; expected kcal/mol relative to isolated monomers"
        )
    return z, pos, y.astype(np.float64), size, grad


def _read_fields(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    # a damaged HDF5 file makes h5py raise OSError, RuntimeError, KeyError or others, at opening or at any
    # later read: every such error of the read is this file's error
    try:
        return _fields_of(path)
    except PNNLFormatError:
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())[:160]
        raise PNNLFormatError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {message})") from exc


def _fields_of(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        missing = [name for name in REQUIRED_FIELDS if name not in h5]
        if missing:
            raise PNNLFormatError(
                f"{path}: missing field(s) {', '.join(map(repr, missing))}; a PNNL file has z, pos, y, size (and f)"
            )
        fields = {}
        for name in (*REQUIRED_FIELDS, "f"):
            if name in h5:
                if not isinstance(h5[name], h5py.Dataset):
                    raise PNNLFormatError(f"{path}: field '{name}' is a {type(h5[name]).__name__}, not a dataset")
                fields[name] = h5[name][()]
    return fields


def read_pnnl_hdf5(path: str | Path, *, name: str | None = None, potential: str = "unknown") -> ClusterSet:
    """Every cluster of a PNNL HDF5 file as a :class:`~hydronet_nb.data.clusters.ClusterSet`.

    Padding is stripped and the gradient ``f`` turned into forces. Every check of the module runs on
    the arrays (vectorised, so a file of millions of clusters is checked without a Python object per
    cluster); cluster ``i`` is named ``"{path} row {i}"``. Raises :class:`FileNotFoundError` or
    :class:`PNNLFormatError`. ``name`` (default: the file's stem without ``_data``) and ``potential``
    describe the set.
    """
    path = Path(path)
    fields = _read_fields(path)
    z, pos, energy, size, grad = _check_arrays(str(path), fields["z"], fields["pos"], fields["y"], fields["size"],
                                              fields.get("f"))
    forces = None if grad is None else -grad.astype(np.float32, copy=False)
    data = ClusterSet.from_padded(z, pos, size, energy, forces, name=name or path.stem.removesuffix("_data"),
                                  source=str(path), item="row", info={"file": str(path)}, potential=potential,
                                  files=[path])
    log.info("%s: %d clusters, per size %s", path, len(data), data.counts_per_size())
    return data


def _storage(arr: np.ndarray) -> dict:
    """h5py options: gzip (with the shuffle filter) and ~256 KiB row chunks for big arrays."""
    if arr.nbytes < COMPRESS_FROM_BYTES:
        return {}
    rows = max(1, min(arr.shape[0], (256 << 10) // max(1, arr[0].nbytes)))
    return {"compression": "gzip", "compression_opts": 4, "shuffle": True, "chunks": (rows, *arr.shape[1:])}


def write_pnnl_hdf5(path: str | Path, clusters: Iterable[Cluster], pad_to: int | None = None) -> None:
    """Write ``clusters`` (a ClusterSet or a list of Cluster) in the PNNL format, padded to ``pad_to`` atoms.

    ``pad_to`` defaults to the largest cluster (the release uses 90). Every cluster needs an
    energy; forces are written (as the gradient ``f = -forces``) when all clusters have them.
    The file is written atomically (:func:`~hydronet_nb.utils.files.atomic_write`).
    """
    clusters = list(clusters)
    path = Path(path)
    source = f"{path} (being written)"
    if not clusters:
        raise PNNLFormatError(f"{source}: no clusters to write")
    n_atoms = np.array([c.n_atoms for c in clusters])
    pad = int(n_atoms.max()) if pad_to is None else int(pad_to)
    if n_atoms.max() > pad:
        i = int(n_atoms.argmax())
        raise PNNLFormatError(f"{source}: row {i} ({clusters[i].source}) has {n_atoms[i]} atoms, more than pad_to={pad}")
    with_forces = [c.forces is not None for c in clusters]
    if any(with_forces) and not all(with_forces):
        i = with_forces.index(not with_forces[0])
        raise PNNLFormatError(
            f"{source}: row {i} ({clusters[i].source}) {'has' if with_forces[i] else 'has no'} forces but row 0 "
            f"{'has' if with_forces[0] else 'has none'}; field 'f' needs forces for all clusters or none"
        )
    n = len(clusters)
    z = np.zeros((n, pad), dtype=np.uint8)
    pos = np.zeros((n, pad, 3), dtype=np.float32)
    grad = np.zeros((n, pad, 3), dtype=np.float32) if all(with_forces) else None
    y = np.empty(n, dtype=np.float64)
    for i, c in enumerate(clusters):
        label = f"{source}: row {i} ({c.source or 'unnamed cluster'})"
        zz, pp = _water(c.z, c.pos, label)  # also keeps z within uint8
        if c.energy is None:
            raise PNNLFormatError(f"{label}: no energy; field 'y' needs one for every cluster")
        k = len(zz)
        z[i, :k], pos[i, :k], y[i] = zz, pp, c.energy
        if grad is not None:
            if np.shape(c.forces) != (k, 3):
                raise PNNLFormatError(f"{label}: forces have shape {np.shape(c.forces)}, expected {(k, 3)}")
            grad[i, :k] = -np.asarray(c.forces, dtype=np.float32)
    size = (n_atoms // 3).astype(np.int32)
    _check_arrays(source, z, pos, y, size, grad)
    fields = {"z": z, "pos": pos, "y": y, "size": size, **({} if grad is None else {"f": grad})}

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            for name, arr in fields.items():
                h5.create_dataset(name, data=arr, **_storage(arr))

    atomic_write(path, write)


def _index_array(source: str, key: str, values) -> np.ndarray:
    """``values`` as a 1-D int64 array, refusing anything that is not integers."""
    arr = np.asarray(values)
    if arr.size == 0:  # np.asarray(()) is float64; an empty set has no wrong values
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise PNNLFormatError(f"{source}: '{key}' must be a 1-D array of integers, found {arr.dtype} of shape {arr.shape}")
    return arr.astype(np.int64)


def _check_split(source: str, sets: dict[str, np.ndarray], n_clusters: int | None) -> None:
    """Indices non-negative (and below ``n_clusters`` when given), no repeats, no index in two sets."""
    high = np.inf if n_clusters is None else n_clusters
    valid = "non-negative" if n_clusters is None else f"in [0, {n_clusters})"
    checked: list[str] = []
    for key, idx in sets.items():
        bad = np.flatnonzero((idx < 0) | (idx >= high))
        if bad.size:
            j = int(bad[0])
            raise PNNLFormatError(f"{source}: '{key}' holds index {idx[j]} (position {j}), which is not {valid}")
        values, repeats = np.unique(idx, return_counts=True)
        if (repeats > 1).any():
            raise PNNLFormatError(f"{source}: '{key}' lists index {values[repeats > 1][0]} {repeats[repeats > 1][0]} times")
        for other in checked:
            both = np.intersect1d(sets[other], idx)
            if both.size:
                raise PNNLFormatError(f"{source}: index {both[0]} is in both '{other}' and '{key}'")
        checked.append(key)


def write_split(path: str | Path, *, train_idx, val_idx, test_idx, examine_idx=(), reserve_idx=()) -> None:
    """Write a ``split_NN_{dataset}.npz`` file (int64 arrays under :data:`~hydronet_nb.data.splits.SPLIT_KEYS`), atomically."""
    source = f"{path} (being written)"
    given = (train_idx, val_idx, test_idx, examine_idx, reserve_idx)
    sets = {key: _index_array(source, key, values) for key, values in zip(SPLIT_KEYS, given)}
    _check_split(source, sets, None)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:  # a file object: np.savez would add ".npz" to a name
            np.savez(out, **sets)

    atomic_write(path, write)


def read_split(path: str | Path, n_clusters: int) -> dict[str, np.ndarray]:
    """The index sets of a split file, checked against a data set of ``n_clusters`` rows.

    Returns every key of :data:`~hydronet_nb.data.splits.SPLIT_KEYS` (``examine_idx`` and ``reserve_idx`` empty when the
    file has none) as int64 arrays. Raises :class:`PNNLFormatError` naming the file, the key and an
    offending index for non-integers, indices out of range, repeats and sets that overlap, and for
    keys it does not know (the released code's later rounds add ``add_idx``, and their
    ``examine_idx`` overlaps ``reserve_idx``: such files are refused, not half-read).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array")
        with loaded:
            stored = {key: loaded[key] for key in loaded.files}
    except Exception as exc:  # numpy's reader raises many kinds on a damaged file: all are this file's error
        raise PNNLFormatError(f"{path}: not a readable .npz split file ({type(exc).__name__}: {exc})") from exc
    unknown = sorted(set(stored) - set(SPLIT_KEYS))
    if unknown:
        raise PNNLFormatError(f"{path}: unexpected key(s) {', '.join(map(repr, unknown))}; a split file holds {', '.join(SPLIT_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in stored]
    if missing:
        raise PNNLFormatError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    sets = {key: _index_array(str(path), key, stored.get(key, ())) for key in SPLIT_KEYS}
    _check_split(str(path), sets, n_clusters)
    return sets

