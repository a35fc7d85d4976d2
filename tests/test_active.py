"""The active-sampling rule of the paper, against hand-computed examples."""
import numpy as np
import pytest
from scipy.special import erf

from hydronet_nb.finetune.active import ErfRule, RandomRule, cluster_errors, per_cluster_mean


def test_per_cluster_mean_slices_by_atoms_not_waters():
    per_atom = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    # clusters of 3 and 6 atoms (1 and 2 waters): slicing with water counts would give other means
    np.testing.assert_allclose(per_cluster_mean(per_atom, [3, 6]), [2.0, 35.0])
    with pytest.raises(ValueError, match="9 per-atom values for clusters of 10"):
        per_cluster_mean(per_atom, [3, 7])


def test_cluster_error_by_hand():
    f_ref = np.zeros((6, 3))
    f_pred = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [6.0, 0, 0], [0, 0, 0], [0, 0, 0]])
    e = cluster_errors([1.0, -2.0], [0.0, 0.0], [1, 1], f_pred, f_ref, [3, 3], energy_weight=0.05)
    # cluster 0: 0.05 * 1 / 1 + 0.95 * mean(1, 1, 1); cluster 1: 0.05 * 2 + 0.95 * mean(2, 0, 0)
    np.testing.assert_allclose(e, [0.05 + 0.95, 0.1 + 0.95 * 2 / 3])


def test_erf_rule_by_hand():
    val = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # mu 3, sigma sqrt(2)
    pool = np.array([4.0, 6.0, 2.0, 4.5, 4.4])
    expected = [i for i, e in enumerate(pool) if 1 - erf((e - 3.0) / np.sqrt(2.0)) < 0.15]
    assert expected == [1, 3]  # threshold 3 + 1.0179 * 1.414 = 4.4396
    np.testing.assert_array_equal(ErfRule().select(val, pool), expected)
    assert ErfRule().threshold(val) == pytest.approx(4.4396, abs=1e-4)


def test_positions_follow_the_pool_order_under_shuffling():
    rng = np.random.default_rng(0)
    val = rng.normal(size=200)
    rows = np.arange(100, 150)  # the examine pool's data-set rows
    errors = rng.normal(size=50) * 2
    order = rng.permutation(50)  # the order a shuffled loader evaluates them in
    picked_rows = rows[order][ErfRule().select(val, errors[order])]
    assert set(picked_rows) == set(rows[ErfRule().select(val, errors)])


def test_random_rule_takes_the_budget():
    rule = RandomRule(budget=(3, 0, 5))
    rng = np.random.default_rng(1)
    assert len(rule.select(None, np.zeros(10), rng, 0)) == 3
    assert len(rule.select(None, np.zeros(10), rng, 1)) == 0
    assert len(rule.select(None, np.zeros(4), rng, 2)) == 4  # never more than the pool
    assert len(set(rule.select(None, np.zeros(10), rng, 2))) == 5
