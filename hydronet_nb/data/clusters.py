"""Water clusters in memory: :class:`ClusterSet`, the one container, and :class:`Cluster`, one structure.

A :class:`ClusterSet` holds any number of clusters as flat arrays, the atoms of cluster ``i``
being rows ``offsets[i]:offsets[i + 1]`` of ``z``, ``pos`` and ``forces`` -- the layout of a PNNL
file without its padding. Every reader returns one (:mod:`hydronet_nb.io`), the data-set catalog
loads them (:mod:`hydronet_nb.data.datasets`), the trainer batches them, :mod:`hydronet_nb.evaluate`
predicts on them. A :class:`Cluster` object is made only when one is asked for (``cset[i]``,
iteration), so a set of millions of clusters needs no Python object per cluster. Indexing with a
slice, a boolean mask or an array of rows gives a smaller :class:`ClusterSet`.

Energies are kcal/mol (``NaN`` where unknown), positions Angstrom, forces kcal/mol/Angstrom.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..units import ev_to_kcal_mol
from .water import SYMBOLS


@dataclass
class Cluster:
    z: np.ndarray  # [atoms] int64 atomic numbers
    pos: np.ndarray  # [atoms, 3] float32, Angstrom
    energy: float | None = None  # reference total energy, kcal/mol, if known
    forces: np.ndarray | None = None  # [atoms, 3] reference forces -dE/dx, kcal/mol/Angstrom, if known
    source: str = ""  # where it came from, for messages ("file.xyz frame 3")
    info: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])

    @property
    def n_water(self) -> int:
        return self.n_atoms // 3


def _atom_rows(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The atom rows of clusters ``rows``, in order (vectorised ``concatenate(arange(a, b))``)."""
    starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return shift + np.arange(int(lengths.sum()))


class ClusterSet:
    """Clusters as flat arrays plus offsets, with where they came from; :class:`Cluster` objects on demand.

    ``z`` int64 [atoms], ``pos`` float32 [atoms, 3], ``offsets`` int64 [n + 1], ``energy`` float64 [n]
    (NaN: unknown), ``forces`` float32 [atoms, 3] or None. ``source`` and ``item`` name cluster ``i``
    in messages as ``f"{source} {item} {index[i]}"`` ("min_data.hdf5 row 17"), unless explicit
    ``labels`` are given; ``info`` is shared by every cluster's ``info`` (plus ``{item: index[i]}``).
    ``name`` and ``potential`` describe the set, ``split`` maps ``train_idx`` etc. to rows of this
    set, ``files`` lists the files it was read from (for :meth:`fingerprint`).
    """

    def __init__(self, z, pos, offsets, energy=None, forces=None, *, name: str = "clusters", source: str = "",
                 item: str = "row", index=None, info: dict | None = None, labels: Sequence[str] | None = None,
                 infos: Sequence[dict] | None = None, potential: str = "unknown",
                 split: dict[str, np.ndarray] | None = None, files: Iterable[str | Path] = (), parts=None, part=None):
        self.z = np.asarray(z, dtype=np.int64)
        self.pos = np.asarray(pos, dtype=np.float32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        n = len(self.offsets) - 1
        self.energy = np.full(n, np.nan) if energy is None else np.asarray(energy, dtype=np.float64)
        self.forces = None if forces is None else np.asarray(forces, dtype=np.float32)
        if n < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.z) or len(self.energy) != n:
            raise ValueError(f"{name}: offsets {self.offsets[:3]}... do not fit {len(self.z)} atoms and {len(self.energy)} energies")
        if self.pos.shape != (len(self.z), 3) or (self.forces is not None and self.forces.shape != self.pos.shape):
            raise ValueError(f"{name}: positions {self.pos.shape} (and forces) must be [{len(self.z)}, 3]")
        self._n_atoms = np.diff(self.offsets)
        self._n_atoms.flags.writeable = False
        self.name, self.potential = name, potential
        self.index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        #: where the clusters come from: ``(source, item, info)`` per part, and each cluster's part
        self.parts = [(source, item, dict(info or {}))] if parts is None else list(parts)
        self.part = np.zeros(n, dtype=np.int32) if part is None else np.asarray(part, dtype=np.int32)
        self.labels = None if labels is None else list(labels)
        self.infos = None if infos is None else list(infos)
        self.split = split
        self.files = tuple(Path(f) for f in files)

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def from_clusters(cls, clusters: Iterable[Cluster], name: str = "clusters", **kwargs) -> "ClusterSet":
        """A set holding ``clusters`` (a list of :class:`Cluster`, or a ClusterSet, returned as it is).

        Forces are kept when every cluster has them; when only some do, a ValueError names the first without.
        """
        if isinstance(clusters, ClusterSet):
            return clusters
        clusters = list(clusters)
        with_forces = [c.forces is not None for c in clusters]
        if any(with_forces) and not all(with_forces):
            bad = clusters[with_forces.index(False)]
            raise ValueError(f"{name}: {bad.source or 'a cluster'} has no forces but others do; give all or none")
        n_atoms = np.array([c.n_atoms for c in clusters], dtype=np.int64)
        return cls(
            np.concatenate([c.z for c in clusters]) if clusters else np.zeros(0, np.int64),
            np.concatenate([c.pos for c in clusters]) if clusters else np.zeros((0, 3), np.float32),
            np.concatenate([[0], np.cumsum(n_atoms)]),
            np.array([np.nan if c.energy is None else c.energy for c in clusters], dtype=np.float64),
            np.concatenate([c.forces for c in clusters]) if clusters and all(with_forces) else None,
            name=name, labels=[c.source for c in clusters], infos=[c.info for c in clusters], **kwargs)

    @classmethod
    def from_padded(cls, z, pos, size, energy, forces=None, **kwargs) -> "ClusterSet":
        """A set from PNNL's padded arrays: ``z`` [n, pad], ``pos`` [n, pad, 3], ``size`` [n] waters, ``forces`` like pos."""
        size = np.asarray(size, dtype=np.int64)
        real = np.arange(np.shape(z)[1]) < 3 * size[:, None]
        return cls(np.asarray(z)[real], np.asarray(pos)[real], np.concatenate([[0], np.cumsum(3 * size)]), energy,
                   None if forces is None else np.asarray(forces)[real], **kwargs)

    @classmethod
    def concat(cls, sets: Sequence["ClusterSet"], name: str | None = None) -> "ClusterSet":
        """One set holding the clusters of ``sets`` in order (their sources kept; no split)."""
        sets = list(sets)
        if not sets:
            return cls.from_clusters([], name=name or "clusters")
        explicit = any(s.labels is not None or s.infos is not None for s in sets)
        parts, part = [], []
        for s in sets:
            part.append(s.part + len(parts))
            parts += s.parts
        forces = [s.forces for s in sets]
        return cls(np.concatenate([s.z for s in sets]), np.concatenate([s.pos for s in sets]),
                   np.concatenate([[0], np.cumsum(np.concatenate([s.n_atoms for s in sets]))]),
                   np.concatenate([s.energy for s in sets]),
                   np.concatenate(forces) if all(f is not None for f in forces) else None,
                   name=name or sets[0].name, index=np.concatenate([s.index for s in sets]), parts=parts,
                   part=np.concatenate(part), labels=[s.label(i) for s in sets for i in range(len(s))] if explicit else None,
                   infos=[s._info(i) for s in sets for i in range(len(s))] if explicit else None,
                   potential=sets[0].potential, files=list(dict.fromkeys(f for s in sets for f in s.files)))

    # --- size and contents ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per cluster, int64 [n]."""
        return self._n_atoms

    @property
    def n_water(self) -> np.ndarray:
        """Waters per cluster, int64 [n]."""
        return self.n_atoms // 3

    #: waters per cluster (PNNL's field name)
    size = n_water

    @property
    def energy_per_water(self) -> np.ndarray:
        return self.energy / self.n_water

    @property
    def has_forces(self) -> bool:
        return self.forces is not None

    @property
    def has_energy(self) -> bool:
        """Whether every cluster has a reference energy."""
        return bool(np.isfinite(self.energy).all())

    def counts_per_size(self) -> dict[int, int]:
        """``{number of waters: number of clusters}``."""
        sizes, counts = np.unique(self.n_water, return_counts=True)
        return {int(s): int(c) for s, c in zip(sizes, counts)}

    def require(self, *, energy: bool = True, forces: bool = False, what: str | None = None) -> "ClusterSet":
        """``self`` after checking it is not empty and has energies (and forces); errors name the set and a cluster."""
        what = what or self.name
        if not len(self):
            raise ValueError(f"{what}: no clusters")
        if energy and not self.has_energy:
            i = int(np.flatnonzero(~np.isfinite(self.energy))[0])
            raise ValueError(f"{what}: {self.label(i) or 'a cluster'} has no reference energy")
        if forces and self.forces is None:
            raise ValueError(f"{what}: {self.label(0) or 'a cluster'} has no reference forces (needed for energy_weight < 1)")
        return self

    # --- clusters on demand --------------------------------------------------------------------

    def label(self, i: int) -> str:
        """How messages name cluster ``i``: ``"{source} {item} {index}"`` ("min_data.hdf5 row 17")."""
        if self.labels is not None:
            return self.labels[i]
        source, item, _ = self.parts[self.part[i]]
        return f"{source} {item} {self.index[i]}" if source else ""

    def _info(self, i: int) -> dict:
        if self.infos is not None:
            return dict(self.infos[i])
        _, item, info = self.parts[self.part[i]]
        return {**info, item: int(self.index[i])} if info else {}

    @property
    def source(self) -> str:
        """The source of the set (of its first part, when it was put together from several)."""
        return self.parts[0][0]

    def cluster(self, i: int) -> Cluster:
        """Cluster ``i`` as a :class:`Cluster` (its arrays are views into the set's)."""
        i = range(len(self))[i]
        a, b = self.offsets[i], self.offsets[i + 1]
        energy = self.energy[i]
        return Cluster(z=self.z[a:b], pos=self.pos[a:b], energy=float(energy) if np.isfinite(energy) else None,
                       forces=None if self.forces is None else self.forces[a:b], source=self.label(i), info=self._info(i))

    def clusters(self, rows=None) -> list[Cluster]:
        """The clusters of ``rows`` (default: all) as a list of :class:`Cluster`."""
        return [self.cluster(int(i)) for i in (range(len(self)) if rows is None else rows)]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.cluster(int(key))
        return self.subset(key)

    def __iter__(self):
        return (self.cluster(i) for i in range(len(self)))

    def __repr__(self) -> str:
        return f"ClusterSet({self.name!r}, {len(self)} clusters, {len(self.z)} atoms, forces={self.has_forces})"

    def subset(self, rows, name: str | None = None) -> "ClusterSet":
        """The clusters ``rows`` (indices, a slice or a boolean mask) as a new set (arrays copied)."""
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64)
        atoms = _atom_rows(self.offsets, rows)
        return ClusterSet(self.z[atoms], self.pos[atoms], np.concatenate([[0], np.cumsum(self.n_atoms[rows])]),
                          self.energy[rows], None if self.forces is None else self.forces[atoms],
                          name=name or self.name, index=self.index[rows], parts=self.parts, part=self.part[rows],
                          labels=None if self.labels is None else [self.labels[i] for i in rows],
                          infos=None if self.infos is None else [self.infos[i] for i in rows],
                          potential=self.potential, files=self.files)

    def split_set(self, part: str, limit: int | None = None) -> "ClusterSet":
        """The clusters of split ``part`` (``"train"``, ``"val"``, ...), at most the first ``limit`` of them."""
        if self.split is None:
            raise ValueError(f"{self.name}: has no split (no split file was read)")
        rows = self.split[f"{part}_idx"]
        return self.subset(rows if limit is None else rows[:limit], name=f"{self.name} {part}")

    # --- tensors and identity ------------------------------------------------------------------

    def collate(self, rows=None, device="cpu", dtype=None):
        """``(z, pos, batch)`` tensors of clusters ``rows`` (default: all), in the PyG layout."""
        import torch

        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        atoms = _atom_rows(self.offsets, rows)
        z = torch.as_tensor(self.z[atoms], dtype=torch.long, device=device)
        pos = torch.as_tensor(self.pos[atoms], dtype=dtype or torch.float32, device=device)
        batch = torch.repeat_interleave(torch.arange(len(rows), device=device),
                                        torch.as_tensor(self.n_atoms[rows], device=device))
        return z, pos, batch

    def fingerprint(self) -> dict:
        """What identifies this data: cluster count, a hash of the arrays and, for data read from files, the
        files' sha256 and the rows taken from them. The trainer refuses to resume on data whose fingerprint changed."""
        from ..utils.files import cached_sha256_of

        digest = hashlib.sha256()
        for arr in (self.offsets, self.z, self.pos, self.energy, self.forces if self.forces is not None else np.zeros(0)):
            digest.update(np.ascontiguousarray(arr).tobytes())
        out = {"clusters": len(self), "content": digest.hexdigest()[:16]}
        if self.files:
            out["files"] = {p.name: cached_sha256_of(p)[:16] for p in self.files if p.is_file()}
            out["rows"] = hashlib.sha256(np.ascontiguousarray(self.index).tobytes()).hexdigest()[:16]
        return out


def fingerprint_changes(old: dict, new: dict) -> list[str]:
    """What differs between two :meth:`ClusterSet.fingerprint` results, in words."""
    changes = []
    old_files, new_files = old.get("files"), new.get("files")
    if old_files is not None and new_files is not None:
        for name in sorted(set(old_files) | set(new_files)):
            a, b = old_files.get(name), new_files.get(name)
            if a is None or b is None:
                changes.append(f"file {name} {'added' if a is None else 'no longer read'}")
            elif a != b:
                changes.append(f"file {name} changed (sha256 {a}... -> {b}...)")
        if old.get("rows") != new.get("rows"):
            changes.append(f"the rows taken from the files (split) changed ({old.get('clusters')} -> {new.get('clusters')} clusters)")
    if not changes and old.get("content") != new.get("content"):
        changes.append(f"the clusters changed ({old.get('clusters')} -> {new.get('clusters')} clusters)")
    return changes


def collate(clusters, device="cpu", dtype=None):
    """``(z, pos, batch)`` tensors for a list of clusters (or a :class:`ClusterSet`), in the PyG layout."""
    return ClusterSet.from_clusters(clusters).collate(device=device, dtype=dtype)


# --- the ASE boundary: ase.Atoms in eV, clusters in kcal/mol ------------------------------------


def to_atoms(cluster: Cluster):
    """``cluster`` as ``ase.Atoms`` (positions only)."""
    from ase import Atoms

    return Atoms(numbers=cluster.z, positions=np.asarray(cluster.pos, dtype=np.float64))


def from_atoms(atoms, source: str = "ase") -> Cluster:
    """A cluster from ``atoms``; energy and forces are taken from an attached calculator if any (eV -> kcal/mol)."""
    energy = forces = None
    if atoms.calc is not None and "energy" in atoms.calc.results:
        energy = float(ev_to_kcal_mol(atoms.calc.results["energy"]))
        if "forces" in atoms.calc.results:
            forces = ev_to_kcal_mol(np.asarray(atoms.calc.results["forces"])).astype(np.float32)
    return Cluster(z=atoms.numbers.astype(np.int64), pos=atoms.positions.astype(np.float32), energy=energy,
                   forces=forces, source=source)


def xyz_block(cluster: Cluster) -> str:
    """``cluster`` as the text of a one-frame xyz file (element symbols, Angstrom)."""
    lines = [str(cluster.n_atoms), cluster.source]
    lines += [f"{SYMBOLS[int(z)]} {x:.5f} {y:.5f} {w:.5f}" for z, (x, y, w) in zip(cluster.z, cluster.pos)]
    return "\n".join(lines) + "\n"
