"""Reader for xyz files of water clusters whose comment line carries the energy.

Hand-written rather than ``ase.io.read`` because we need the raw comment line and errors that name the file
and line. Both single- and multi-frame files are read. A frame's reference energy comes only from a comment
line in one of three documented forms (:func:`energy_from_comment`), never guessed from other text:

* a number alone: kcal/mol (the TTM2.1-F minima, and what :func:`write_xyz_clusters` writes);
* ``label number``, the label holding a digit (HydroNet's ``W{N}_geoms_all`` files): kcal/mol; in a file of
  that name the last token of longer lines too, as PyG reads HydroNet's W11 (:func:`hydronet_energy`);
* extended xyz with an ``energy=`` key: eV, ASE's unit (``md``'s ``frames.xyz``), converted to kcal/mol.

Anything else (a blank line, ``written by step 3``, an extended xyz without ``energy=``) gives no reference
energy. An extended xyz with a periodic cell is refused: the models are for isolated clusters. The structure
checks of :func:`hydronet_nb.data.water.check_structure` run on every frame read as clusters.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..data.clusters import Cluster, ClusterSet
from ..data.water import SYMBOLS, ClusterFormatError, StructureError, as_water_cluster, water_numbers
from ..units import ev_to_kcal_mol

_Z = {symbol: z for z, symbol in SYMBOLS.items()}
#: HydroNet's raw files, whose comment lines are read with :func:`hydronet_energy`
HYDRONET_FILE = re.compile(r"W\d+_geoms_all\.xyz$")


class ReferenceEnergyWarning(UserWarning):
    """A comment line holds numbers but no energy in a documented form: the frame has no reference energy."""


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def hydronet_energy(comment: str) -> float | None:
    """The energy on a comment line of HydroNet's raw files: the last token (PyG's rule: some W11 lines carry
    extra tokens before it), kcal/mol; None when it is not a finite number."""
    tokens = comment.split()
    return _number(tokens[-1]) if tokens else None


def extxyz_header(comment: str, source: str) -> dict | None:
    """The key=value pairs of an extended-xyz comment line (ASE's parser), or None for a plain comment."""
    if "=" not in comment:
        return None
    from ase.io.extxyz import key_val_str_to_dict

    try:
        return key_val_str_to_dict(comment)
    except Exception as exc:  # ASE's parser raises several types on a malformed line: each is this line's error
        raise ClusterFormatError(f"{source}: not a readable extended-xyz comment line ({exc})") from exc


def energy_from_comment(comment: str, source: str = "comment line") -> float | None:
    """The reference energy (kcal/mol) on an xyz comment line, or None: see the module's three forms."""
    header = extxyz_header(comment, source)
    if header is not None:
        key = next((k for k in header if k.lower() == "energy"), None)
        if key is None:
            return None
        value = header[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value):
            raise ClusterFormatError(f"{source}: {key}={value!r} is not a finite number (eV)")
        return float(ev_to_kcal_mol(float(value)))
    tokens = comment.split()
    if len(tokens) == 1:
        return _number(tokens[0])
    if len(tokens) == 2 and any(c.isdigit() for c in tokens[0]) and _number(tokens[0]) is None:
        return _number(tokens[1])
    return None


def _check_extxyz(header: dict | None, source: str) -> None:
    """Refuse a periodic cell and columns other than ``species pos`` first."""
    if header is None:
        return
    pbc = header.get("pbc", "Lattice" in header)  # ASE: a Lattice without pbc is periodic
    if np.any(np.asarray(pbc, dtype=bool)):
        raise StructureError(f"{source}: a periodic cell (pbc={pbc}); the models are for isolated clusters")
    properties = header.get("Properties")
    if properties is not None and not str(properties).startswith("species:S:1:pos:R:3"):
        raise ClusterFormatError(f"{source}: Properties={properties}: this reader needs the columns species, pos "
                                 "first")


def read_xyz_clusters(path: str | Path, *, regroup: bool = True, structure_checks: bool | None = None) -> list[Cluster]:
    """All frames of ``path`` as water :class:`~hydronet_nb.data.clusters.Cluster` objects.

    ``regroup`` as in :func:`~hydronet_nb.data.clusters.as_water_cluster` (``False`` for MD trajectories).
    ``structure_checks``: the geometry checks of :func:`~hydronet_nb.data.water.check_structure`; by default
    on for clusters (``regroup=True``) and off for trajectories, which may hold a cluster breaking apart.
    """
    geometry = regroup if structure_checks is None else bool(structure_checks)
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
    clusters, line_no, unread = [], 0, None
    energy_of = hydronet_energy if HYDRONET_FILE.search(path.name) else None
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
        comment, where = lines[line_no + 1], f"{source}: line {line_no + 2}"
        header = None if energy_of else extxyz_header(comment, where)
        _check_extxyz(header, where)
        energy = energy_of(comment) if energy_of else energy_from_comment(comment, where)
        if energy is None and unread is None and any(_number(t) is not None for t in comment.split()):
            unread = (line_no + 2, comment.strip())
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
        # with the checks overridden, atoms listed O H H stay as listed: regrouping by distance is a geometry guess
        keep = structure_checks is False and n_atoms % 3 == 0 and np.array_equal(z, water_numbers(n_atoms // 3))
        z, pos = as_water_cluster(z, pos, source, atom_lines=list(range(first + 1, last + 1)),
                                  regroup=regroup and not keep, geometry=geometry)
        clusters.append(Cluster(z=z, pos=pos, energy=energy, source=source, info={"file": str(path), "frame": frame}))
        line_no = last
    if not clusters:
        raise ClusterFormatError(f"{path}: no structures in the file")
    if unread is not None:
        warnings.warn(f"{path}: line {unread[0]}: the comment {unread[1][:50]!r} holds no energy in a documented "
                      "form (a number alone, 'label number', or extended xyz energy=): no reference energy read "
                      "from such lines", ReferenceEnergyWarning, stacklevel=2)
    return ClusterSet.from_clusters(clusters, name=path.stem, files=[path])


def write_xyz_clusters(path: str | Path, clusters) -> None:
    """Write clusters in the same format (energy on the comment line, blank when unknown)."""
    with open(path, "w") as out:
        for c in clusters:
            out.write(f"{c.n_atoms}\n{'' if c.energy is None else f'{c.energy:.7f}'}\n")
            for zz, (x, y, w) in zip(c.z, c.pos):
                out.write(f"{SYMBOLS[int(zz)]} {x:.8f} {y:.8f} {w:.8f}\n")
