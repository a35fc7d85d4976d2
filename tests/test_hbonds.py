import numpy as np
import pytest

from hydronet_nb.data.clusters import Cluster
from hydronet_nb.data.hbonds import hbond_graph, network_descriptors, pair_distances


@pytest.mark.parametrize(
    "n, hbonds",
    [(3, 3), (4, 4), (5, 5),  # cyclic trimer, tetramer, pentamer: one donor bond per molecule
     (8, 12),                 # the cube: every molecule three-coordinated
     (10, 15)],               # the pentagonal prism
)
def test_known_hydrogen_bond_counts_of_real_global_minima(ttm_minima, n, hbonds):
    cluster = next(c for c in ttm_minima if c.n_water == n)
    d = network_descriptors(cluster)
    assert d["hbonds"] == hbonds and d["connected"]
    assert d["rings"] == hbonds - n + 1  # cycle rank of a connected graph
    assert d["free_oh"] == 2 * n - hbonds


def test_every_real_minimum_is_one_network_with_ordinary_geometry(ttm_minima):
    for c in ttm_minima:
        d = pair_distances(c)
        assert 0.93 < d["OH"].min() and d["OH"].max() < 1.0
        assert d["OO"].min() > 2.5
        assert network_descriptors(c)["connected"]


def test_dimer_geometry_criterion():
    # a linear water dimer: donor H pointing at the acceptor O at 2.9 Angstrom
    donor = np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    acceptor = np.array([[2.9, 0, 0], [3.2, 0.8, 0.3], [3.2, -0.8, 0.3]])
    dimer = Cluster(z=np.array([8, 1, 1, 8, 1, 1]), pos=np.vstack([donor, acceptor]).astype(np.float32))
    g = hbond_graph(dimer)
    assert list(g.edges) == [(0, 1)]
    far = Cluster(z=dimer.z, pos=np.vstack([donor, acceptor + [1.0, 0, 0]]).astype(np.float32))
    assert hbond_graph(far).number_of_edges() == 0  # 3.9 Angstrom is too far
