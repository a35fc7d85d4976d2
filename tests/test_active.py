"""The active-sampling rule of the paper, against hand-computed examples."""
import numpy as np
import pytest
from scipy.special import erf

from hydronet_nb.evaluate.metrics import per_cluster_mean
from hydronet_nb.finetune.active import ErfRule, RandomRule, cluster_errors


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


def test_force_angle_in_unit_interval_for_opposite_and_zero_vectors():
    from hydronet_nb.evaluate.metrics import force_angle_error, force_magnitude_error

    ref = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 2.0, 0], [1.0, 1.0, 0]])
    pred = np.array([[1.0, 0, 0], [-3.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 5.0, 0]])
    np.testing.assert_allclose(force_angle_error(pred, ref), [0.0, 1.0, 0.5, 0.5, 0.25])
    np.testing.assert_allclose(force_magnitude_error(pred, ref), [0.0, 2.0, 1.0, -2.0, 5.0 - np.sqrt(2.0)])
    # cosines a hair beyond 1 from rounding are clamped
    assert force_angle_error(np.array([[1e8, 1e-8, 0]]), np.array([[1e8, 0, 0]]))[0] == pytest.approx(0.0)


def test_cluster_and_set_metrics_by_hand():
    from hydronet_nb.evaluate.metrics import cluster_metrics, set_metrics

    f_ref = np.zeros((9, 3))
    f_pred = np.zeros((9, 3))
    f_pred[:3, 0] = 3.0  # cluster 0 (one water): every atom off by 3 in x
    table = cluster_metrics([1.0, 4.0], [0.0, 0.0], [1, 2], f_pred, f_ref, [3, 6])
    np.testing.assert_allclose(table.error_per_water, [1.0, 2.0])
    np.testing.assert_allclose(table.force_mae, [1.0, 0.0])
    np.testing.assert_allclose(table.f_mag, [3.0, 0.0])
    np.testing.assert_allclose(table.f_ang, [0.5, 0.5])  # zero reference forces: no direction
    table["set"] = "test"
    row = set_metrics(table).loc["test"]
    assert row.mae_per_water == pytest.approx(1.5) and row.rmse_per_water == pytest.approx(np.sqrt(2.5))
    assert row.force_mae == pytest.approx(0.5)
