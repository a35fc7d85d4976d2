r"""Active sampling as the paper defines it: which clusters of the examine pool join the training set.

After each round of training, every validation cluster gets the error

.. math::

    e = c\,\frac{|\Delta E|}{N_\mathrm{water}} + (1 - c)\,\frac{1}{N_\mathrm{atoms}}
        \sum_\mathrm{atoms} \tfrac13 \lVert \Delta F \rVert_1 ,

(:func:`cluster_errors`; atoms are counted per cluster from the atom offsets -- the released
code sliced per-atom arrays with water counts, its third bug), and its mean :math:`\mu` and
spread :math:`\sigma` set the bar. An examine-pool cluster with error :math:`e` joins when

.. math::

    1 - \mathrm{erf}\!\left(\frac{e - \mu}{\sigma}\right) < p_\mathrm{tol},

that is when :math:`e > \mu + \mathrm{erfinv}(1 - p_\mathrm{tol})\,\sigma` (about
:math:`\mu + 1.02\sigma` for :math:`p_\mathrm{tol} = 0.15`): :class:`ErfRule`. Rules see the
errors in the examine pool's own order and return positions in it, so the caller maps them to
data-set rows with the same array it evaluated (the released code evaluated a shuffled loader and
mapped back in file order, its second bug). :class:`RandomRule` draws the same number of
clusters at random, for the baseline at equal labelling budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf, erfinv

from ..evaluate.metrics import per_cluster_mean

#: the paper's energy weight and tolerance
ENERGY_WEIGHT = 0.05
P_TOL = 0.15


def cluster_errors(e_pred, e_ref, n_water, f_pred, f_ref, n_atoms, energy_weight: float = ENERGY_WEIGHT):
    """The paper's per-cluster error ``c |dE| / N_water + (1 - c) mean_atoms mean_xyz |dF|`` (kcal/mol units)."""
    de = np.abs(np.asarray(e_pred, dtype=float) - np.asarray(e_ref, dtype=float)) / np.asarray(n_water, dtype=float)
    df = np.abs(np.asarray(f_pred, dtype=float) - np.asarray(f_ref, dtype=float)).mean(axis=1)
    return energy_weight * de + (1.0 - energy_weight) * per_cluster_mean(df, n_atoms)


@dataclass(frozen=True)
class ErfRule:
    """Join when ``1 - erf((e - mu) / sigma) < p_tol``, ``mu, sigma`` of the validation errors."""

    p_tol: float = P_TOL
    name: str = "active"

    def __post_init__(self):
        if not 0.0 < self.p_tol < 1.0:
            raise ValueError(f"p_tol must lie in (0, 1), got {self.p_tol}")

    def threshold(self, val_errors) -> float:
        """The error above which a cluster joins: ``mu + erfinv(1 - p_tol) sigma``."""
        val = np.asarray(val_errors, dtype=float)
        return float(val.mean() + erfinv(1.0 - self.p_tol) * val.std())

    def select(self, val_errors, pool_errors, rng=None, round_index: int = 0) -> np.ndarray:
        """Positions in the pool (ascending) of the clusters that join."""
        val, pool = np.asarray(val_errors, dtype=float), np.asarray(pool_errors, dtype=float)
        mu, sigma = val.mean(), val.std()
        if sigma == 0:
            return np.flatnonzero(pool > mu)
        return np.flatnonzero(1.0 - erf((pool - mu) / sigma) < self.p_tol)


@dataclass(frozen=True)
class RandomRule:
    """The same number of clusters as ``budget`` gives for the round, drawn at random from the pool."""

    budget: tuple[int, ...]
    name: str = "random"

    def count(self, round_index: int) -> int:
        return self.budget[round_index] if round_index < len(self.budget) else 0

    def select(self, val_errors, pool_errors, rng: np.random.Generator, round_index: int = 0) -> np.ndarray:
        n = min(self.count(round_index), len(pool_errors))
        return np.sort(rng.choice(len(pool_errors), size=n, replace=False))
