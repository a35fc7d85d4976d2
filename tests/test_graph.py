import itertools

import torch

from hydronet_nb.model.graph import KNNInteractionGraph, knn_edge_index


def brute_force_knn(pos, batch, k):
    """Edges (j -> i) from each atom's k nearest atoms of its own cluster, by explicit loops."""
    edges = set()
    for i in range(len(pos)):
        others = [j for j in range(len(pos)) if j != i and batch[j] == batch[i]]
        others.sort(key=lambda j: (float((pos[i] - pos[j]).norm()), j))
        edges.update((j, i) for j in others[:k])
    return edges


def random_batch(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.cat([torch.randn(n, 3, generator=g) * 3 for n in sizes])
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, batch


def test_knn_matches_brute_force_across_cluster_sizes():
    sizes = [9, 30, 45, 12, 75]  # some clusters smaller than k + 1, some larger
    pos, batch = random_batch(sizes)
    for k in (1, 5, 28):
        edge_index = knn_edge_index(pos, batch, k)
        got = set(map(tuple, edge_index.t().tolist()))
        assert len(got) == edge_index.size(1), "duplicate edges"
        assert got == brute_force_knn(pos, batch, k)


def test_small_clusters_get_all_other_atoms_and_no_self_loops():
    pos, batch = random_batch([3, 6])
    edge_index = knn_edge_index(pos, batch, k=28)
    j, i = edge_index
    assert not torch.any(j == i)
    assert torch.all(batch[j] == batch[i])
    assert edge_index.size(1) == 3 * 2 + 6 * 5


def test_index_has_no_gradient_but_lengths_do():
    pos, batch = random_batch([6, 9])
    pos.requires_grad_(True)
    edge_index, lengths = KNNInteractionGraph(k=4)(pos, batch)
    assert not edge_index.requires_grad
    lengths.sum().backward()
    assert pos.grad is not None and torch.isfinite(pos.grad).all() and pos.grad.abs().sum() > 0
    j, i = edge_index
    expected = torch.stack([(pos[a] - pos[b]).norm() for a, b in zip(j.tolist(), i.tolist())])
    torch.testing.assert_close(lengths, expected)


def test_bad_arguments_are_named():
    import pytest

    with pytest.raises(ValueError, match="k must be at least 1"):
        knn_edge_index(torch.zeros(3, 3), k=0)
    with pytest.raises(ValueError, match=r"\[atoms, 3\]"):
        knn_edge_index(torch.zeros(3, 2))
