"""Predictions of a model on clusters, as tables: energies, errors, forces, and what storage or graph choices change.

Every function takes a :class:`~hydronet_nb.data.clusters.ClusterSet` or a list of
:class:`~hydronet_nb.data.clusters.Cluster`; energies in kcal/mol, forces in kcal/mol/Angstrom.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data.clusters import ClusterSet
from ..data.water import StructureError
from ..data.water import check_structures as check_many
from ..model.schnet import energy, energy_and_forces, interaction_graph


def check_structures(data: ClusterSet, geometry: bool = True) -> None:
    """:func:`~hydronet_nb.data.water.check_structure` on every cluster of ``data`` (named by its label)."""
    if len(data) == 0:
        raise StructureError(f"{data.source or data.name}: no structures to predict")
    check_many(data.z, data.pos, data.offsets, lambda i: data.label(i) or f"{data.name} structure {i}",
               geometry=geometry)


def predict(model: torch.nn.Module, clusters, batch_size: int = 64, device="cpu",
            structure_checks: bool = True) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Energies and forces of ``clusters``.

    Returns a table (one row per cluster: ``source, n_water, energy, energy_per_water,
    reference, error, error_per_water, max_force``; kcal/mol and kcal/mol/Angstrom) and the forces,
    one ``[atoms, 3]`` array per cluster. Every cluster passes :func:`check_structures` first
    (``structure_checks=False`` skips its geometry checks); an energy or force that comes out non-finite
    is an error naming the cluster, never a blank in the table.
    """
    data = ClusterSet.from_clusters(clusters)
    check_structures(data, geometry=structure_checks)
    model = model.to(device)
    energies, forces = [], []
    for start in range(0, len(data), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data)))
        e, f = energy_and_forces(model, *data.collate(rows, device=device))
        energies.append(e.cpu().numpy().astype(np.float64))
        f = f.cpu().numpy()
        bounds = np.concatenate([[0], np.cumsum(data.n_atoms[rows])])
        forces += [f[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    e = np.concatenate(energies) if energies else np.zeros(0)
    bad = [i for i, f in enumerate(forces) if not (np.isfinite(e[i]) and np.isfinite(f).all())]
    if bad:
        raise RuntimeError(f"{data.label(bad[0])}: the model gave a non-finite energy or force "
                           f"({len(bad)} of {len(data)} structures); nothing is reported for them")
    n_water = data.n_water
    table = pd.DataFrame({
        "source": [data.label(i) for i in range(len(data))],
        "n_water": n_water,
        "energy": e,
        "energy_per_water": e / n_water,
        "reference": data.energy,
        "error": e - data.energy,
        "error_per_water": (e - data.energy) / n_water,
        "max_force": [float(np.linalg.norm(f, axis=1).max()) for f in forces],
    })
    return table, forces


def prediction_table(model, clusters, name: str) -> pd.DataFrame:
    """``set, n_water, reference, predicted, error_per_water`` of ``model`` on ``clusters`` (kcal/mol), ``set`` = ``name``."""
    table, _ = predict(model, clusters)
    return pd.DataFrame({"set": name, "n_water": table["n_water"], "reference": table["reference"],
                         "predicted": table["energy"], "error_per_water": table["error_per_water"]})


def energies(model, data: ClusterSet, batch_size: int = 64) -> np.ndarray:
    """Total energies (kcal/mol) of the clusters of ``data``, without forces (no gradient kept)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data)))
            out.append(energy(model, *data.collate(rows)).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def float16_energy_shift(model: torch.nn.Module, clusters, batch_size: int = 64) -> pd.DataFrame:
    """What storing positions as float16 (as PyG's HydroNet does) does to ``model``'s energies.

    One row per cluster: ``source, n_water, energy_float32, energy_float16, shift_per_water``
    (kcal/mol; the shift is float16 minus float32). The float16 positions are the float32 ones
    rounded; PyG rounds the decimal text, which differs by one float16 step in about one
    coordinate in 20,000.
    """
    data = ClusterSet.from_clusters(clusters)
    rounded = ClusterSet(data.z, data.pos.astype(np.float16).astype(np.float32), data.offsets)
    e32, e16 = energies(model, data, batch_size), energies(model, rounded, batch_size)
    return pd.DataFrame({
        "source": [data.label(i) for i in range(len(data))],
        "n_water": data.n_water,
        "energy_float32": e32,
        "energy_float16": e16,
        "shift_per_water": (e16 - e32) / data.n_water,
    })


def graph_energy_shift(model: torch.nn.Module, clusters, graph: torch.nn.Module, batch_size: int = 64) -> pd.DataFrame:
    """What another interaction graph (e.g. :class:`~hydronet_nb.model.graph.RadiusInteractionGraph`) does to
    ``model``'s energies: ``source, n_water, energy_model, energy_graph, shift_per_water`` (graph minus model's own)."""
    data = ClusterSet.from_clusters(clusters)
    own = energies(model, data, batch_size)
    with interaction_graph(model, graph):
        other = energies(model, data, batch_size)
    return pd.DataFrame({"source": [data.label(i) for i in range(len(data))], "n_water": data.n_water,
                         "energy_model": own, "energy_graph": other, "shift_per_water": (other - own) / data.n_water})


def mae_table(models: dict, sets: dict) -> pd.DataFrame:
    """MAE per water (kcal/mol) of every model (columns) on every set of clusters (rows)."""
    return pd.DataFrame({name: {label: float(predict(model, clusters)[0]["error_per_water"].abs().mean())
                                for label, clusters in sets.items()} for name, model in models.items()})


def packing_energy_difference(model: torch.nn.Module, clusters, pack_atoms: int = 192) -> dict:
    """The largest difference (kcal/mol) between ``model``'s energies on ``clusters`` packed and one by one.

    Returns ``clusters``, ``packs``, ``atom_rows`` (per pack), ``efficiency`` and ``max_difference``.
    """
    from ..train.losses import PackLoss
    from ..train.packing import Packer
    from ..train.packs import collate_packs

    data = ClusterSet.from_clusters(clusters)
    packer = Packer(data.n_atoms, pack_atoms)
    rows = packer.packs()  # [packs, slots] cluster indices, -1 for an empty slot
    pack = collate_packs(data, rows, pack_atoms, packer.slots, with_forces=False)
    with torch.no_grad():
        e_packed, _ = PackLoss(model, 1.0, pack_atoms, packer.slots).predict(pack)
        e_plain = energy(model, *data.collate())
    real = torch.from_numpy(rows >= 0)
    difference = (e_packed[real] - e_plain[torch.from_numpy(rows)[real]]).abs().max()
    return {"clusters": len(data), "packs": len(rows), "atom_rows": int(pack.z.shape[1]),
            "efficiency": packer.efficiency, "max_difference": float(difference)}
