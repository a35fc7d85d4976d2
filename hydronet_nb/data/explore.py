"""Tables and estimates that describe data sets (chapter 1): lowest minima, paired PES energies, thermal shifts.

Every function takes :class:`~hydronet_nb.data.clusters.ClusterSet` objects (as
:func:`hydronet_nb.data.datasets.load_all` returns them) or the tables made from them, and returns
numbers or pandas tables; the chapters plot and quote them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from ase import units as ase_units

from ..units import ev_to_kcal_mol
from .clusters import ClusterSet

#: Boltzmann's constant in kcal/mol/K (ASE's CODATA value, converted with the package's units)
KB_KCAL_MOL = float(ev_to_kcal_mol(ase_units.kB))


def equipartition_energy_per_water(n_water, temperature: float) -> np.ndarray:
    """Potential energy per water (kcal/mol) of a harmonic cluster of ``n_water`` waters at ``temperature`` (K).

    ``3N`` atoms have ``9N - 6`` vibrations, each holding ``k_B T / 2`` of potential energy.
    """
    n = np.asarray(n_water, dtype=float)
    return (9 * n - 6) / 2 * KB_KCAL_MOL * temperature / n


def histogram_mode(values, bins: int = 200) -> float:
    """The centre of the fullest bin of a histogram of ``values``: where a distribution peaks."""
    counts, edges = np.histogram(np.asarray(values), bins=bins)
    k = int(counts.argmax())
    return float((edges[k] + edges[k + 1]) / 2)


def lowest_per_size(ds: ClusterSet) -> pd.DataFrame:
    """The lowest-energy cluster of each size: ``n_water``, ``row``, ``energy``, ``energy_per_water``, ``clusters`` (of that size)."""
    table = pd.DataFrame({"n_water": ds.size, "row": np.arange(len(ds)), "energy": ds.energy})
    lowest = table.loc[table.groupby("n_water")["energy"].idxmin()].reset_index(drop=True)
    lowest["energy_per_water"] = lowest["energy"] / lowest["n_water"]
    return lowest.assign(clusters=table.groupby("n_water").size().to_numpy())


def lowest_minima(datasets: dict[str, ClusterSet], names=("min", "min_extrapolation")) -> pd.DataFrame:
    """:func:`lowest_per_size` of each minima set present in ``datasets``, with a ``dataset`` column."""
    present = [n for n in names if n in datasets]
    return pd.concat([lowest_per_size(datasets[n]).assign(dataset=n) for n in present], ignore_index=True)


def _geometry_key(ds: ClusterSet, i: int) -> bytes:
    return np.ascontiguousarray(ds.pos[ds.offsets[i]:ds.offsets[i + 1]], dtype=np.float32).tobytes()


def match_rows(reference: ClusterSet, other: ClusterSet) -> np.ndarray:
    """For each row of ``other``, the row of ``reference`` with the very same geometry (float32 positions), or -1.

    The GFN2-xTB set re-evaluates minima of ``min``: matching pairs the two energies of one structure.
    Only sizes that ``other`` holds are indexed.
    """
    wanted = np.isin(reference.size, np.unique(other.size))
    index = {_geometry_key(reference, int(i)): int(i) for i in np.flatnonzero(wanted)}
    return np.array([index.get(_geometry_key(other, i), -1) for i in range(len(other))], dtype=np.int64)


def pes_pairs(first: ClusterSet, second: ClusterSet) -> pd.DataFrame:
    """Energies per water of the same geometries on two surfaces: ``n_water``, ``first``, ``second`` (kcal/mol)."""
    rows = match_rows(first, second)
    ok = rows >= 0
    return pd.DataFrame({"n_water": second.size[ok], "first": first.energy_per_water[rows[ok]],
                         "second": second.energy_per_water[ok]})


def shift_per_size(energies: pd.DataFrame, above: str, below: str) -> pd.Series:
    """Mean energy per water of data set ``above`` minus that of ``below``, per size both hold (an :func:`energy_table`)."""
    means = energies.groupby(["dataset", "n_water"])["energy_per_water"].mean().unstack(0)
    return (means[above] - means[below]).dropna()


def against_reference_minima(lowest: pd.DataFrame, reference, potential=None, relax: bool = False) -> pd.DataFrame:
    """Compare the lowest minima per size (:func:`lowest_per_size`) with reference global minima (e.g. TTM2.1-F's).

    One row per reference cluster, energies per water (kcal/mol): ``reference`` (its own energy),
    ``lowest`` (ours, NaN when the data set lacks the size), and with a ``potential`` (ours, e.g.
    :class:`~hydronet_nb.reference.potentials.Amoeba`) ``at_reference`` (our potential at the reference
    geometry) and, with ``relax``, ``relaxed`` (the reference geometry relaxed on our potential).
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


def compare_with_hydronet(datasets: dict[str, ClusterSet]) -> pd.DataFrame:
    """The book's data sets next to the real HydroNet's published numbers (:mod:`hydronet_nb.book.published_numbers`).

    Short cells, one fact each, so that the two columns fit a page's text column; the clusters per size are
    compared where HydroNet published them (W3-W9 together, W20, W21-W25 each)."""
    from ..book import published_numbers as pub
    from .datasets import second_pes

    def count(name):
        return f"{len(datasets[name]):,}" if name in datasets else "-"

    minima = [datasets[n] for n in ("min", "min_extrapolation") if n in datasets]
    sizes = np.concatenate([d.size for d in minima]) if minima else np.zeros(0, int)
    energy = np.concatenate([d.energy for d in minima]) if minima else np.zeros(0)
    plain = pd.Series(datasets["min"].size).value_counts().sort_index() if "min" in datasets else pd.Series(dtype=int)
    w10 = energy[sizes == 10].min() if (sizes == 10).any() else np.nan
    second = second_pes(datasets)
    lo, hi = pub.HYDRONET_SIZES
    plo, phi = pub.PRETRAIN_SIZES
    w21_low, w21_high = pub.HYDRONET_W21_TO_W25_CLUSTERS_EACH
    w21 = plain[(plain.index >= 21) & (plain.index <= 25)]
    finetune = pub.FORCE_FINETUNE
    rows = {
        "potential (minima)": (pub.HYDRONET_POTENTIAL, minima[0].potential if minima else "-"),
        "search": (pub.HYDRONET_METHOD, "basin hopping"),
        "minima, all sizes": (f"{pub.HYDRONET_CLUSTERS:,} (W{lo}-W{hi})",
                              f"{len(sizes):,} (W{sizes.min()}-W{sizes.max()})" if len(sizes) else "-"),
        "pretraining set": (f"{pub.PRETRAIN_CLUSTERS:,} (W{plo}-W{phi})",
                            f"{count('min')} (W{plain.index[0]}-W{plain.index[-1]})" if len(plain) else "-"),
        "W3-W9 together": (f"under {pub.HYDRONET_W3_TO_W9_CLUSTERS_MAX:,}",
                           f"{plain[plain.index <= 9].sum():,}" if len(plain) else "-"),
        "W20": (f"about {pub.HYDRONET_W20_CLUSTERS:,}", f"{plain.get(20, 0):,}" if len(plain) else "-"),
        "W21-W25, each": (f"{w21_low:,}-{w21_high:,}", f"{w21.min():,}-{w21.max():,}" if len(w21) else "-"),
        "lowest W10 (kcal/mol)": (f"{pub.W10_GLOBAL_MINIMUM:.2f}", f"{w10:.2f}" if np.isfinite(w10) else "-"),
        "non-minima (MD)": (f"{finetune['train_nonminima']:,} train, {finetune['examine_pool']:,} pool",
                            count("nonmin")),
        "second PES (minima)": (f"MB-pol, {pub.MBPOL_TRANSFER_MINIMA:,}",
                                f"{datasets[second].potential}, {count(second)}" if second else "-"),
    }
    return pd.DataFrame(rows, index=["HydroNet (published)", "loaded here"]).T
