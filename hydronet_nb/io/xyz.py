"""Reader for xyz files of water clusters whose comment line carries the energy.

Hand-written rather than ``ase.io.read`` because we need the raw comment line (the energy, in
kcal/mol, as the HydroNet and TTM2.1-F files write it) and errors that name the file and line.
Both single- and multi-frame files are read; a blank comment line means no energy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.clusters import Cluster, ClusterSet
from ..data.water import SYMBOLS, ClusterFormatError, as_water_cluster

_Z = {symbol: z for z, symbol in SYMBOLS.items()}


def energy_from_comment(comment: str) -> float | None:
    """The energy on an xyz comment line: its last number (some HydroNet lines carry a label first).

    The one rule for every reader of HydroNet-style text (:mod:`hydronet_nb.io.hydronet` reads the raw zips with it).
    """
    for token in reversed(comment.replace(",", " ").split()):
        try:
            value = float(token)
        except ValueError:
            continue
        return value if np.isfinite(value) else None
    return None


def read_xyz_clusters(path: str | Path, *, regroup: bool = True) -> list[Cluster]:
    """All frames of ``path`` as water :class:`~hydronet_nb.data.clusters.Cluster` objects.

    ``regroup`` as in :func:`~hydronet_nb.data.clusters.as_water_cluster` (``False`` for MD trajectories).
    """
    path = Path(path)
    if path.is_dir():
        raise ClusterFormatError(f"{path}: is a folder, not an xyz file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ClusterFormatError(f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None
    lines = text.splitlines()
    clusters, line_no = [], 0
    while line_no < len(lines):
        if not lines[line_no].strip():  # trailing blank lines
            line_no += 1
            continue
        header = lines[line_no].strip()
        try:
            n_atoms = int(header)
        except ValueError:
            raise ClusterFormatError(f"{path}: line {line_no + 1}: expected an atom count, found {header[:40]!r}") from None
        if n_atoms <= 0:
            raise ClusterFormatError(f"{path}: line {line_no + 1}: atom count {n_atoms} is not positive")
        first, last = line_no + 2, line_no + 2 + n_atoms
        if last > len(lines):
            raise ClusterFormatError(
                f"{path}: line {line_no + 1}: frame announces {n_atoms} atoms but the file ends after {len(lines) - first}"
            )
        frame = len(clusters)
        source = f"{path} frame {frame}" if frame or last < len(lines) else str(path)
        energy = energy_from_comment(lines[line_no + 1])
        z, pos = np.empty(n_atoms, dtype=np.int64), np.empty((n_atoms, 3))
        for a, k in enumerate(range(first, last)):
            parts = lines[k].split()
            if len(parts) < 4:
                raise ClusterFormatError(f"{path}: line {k + 1}: expected 'element x y z', found {lines[k][:60]!r}")
            symbol = parts[0].capitalize()
            if symbol not in _Z:
                raise ClusterFormatError(f"{path}: line {k + 1}: element {parts[0]!r} is not O or H (water)")
            z[a] = _Z[symbol]
            try:
                pos[a] = [float(v) for v in parts[1:4]]
            except ValueError:
                raise ClusterFormatError(f"{path}: line {k + 1}: coordinates {parts[1:4]} are not numbers") from None
        z, pos = as_water_cluster(z, pos, source, atom_lines=list(range(first + 1, last + 1)), regroup=regroup)
        clusters.append(Cluster(z=z, pos=pos, energy=energy, source=source, info={"file": str(path), "frame": frame}))
        line_no = last
    if not clusters:
        raise ClusterFormatError(f"{path}: no structures in the file")
    return ClusterSet.from_clusters(clusters, name=path.stem, files=[path])


def write_xyz_clusters(path: str | Path, clusters) -> None:
    """Write clusters in the same format (energy on the comment line, blank when unknown)."""
    with open(path, "w") as out:
        for c in clusters:
            out.write(f"{c.n_atoms}\n{'' if c.energy is None else f'{c.energy:.7f}'}\n")
            for zz, (x, y, w) in zip(c.z, c.pos):
                out.write(f"{SYMBOLS[int(zz)]} {x:.8f} {y:.8f} {w:.8f}\n")
