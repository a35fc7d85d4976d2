"""Packing: the histogram algorithm, the packs, and that padding changes no energy, force or loss."""
import time
from collections import Counter

import numpy as np
import pytest
import torch
from synthetic import TINY_MODEL, clusters

from hydronet_nb.model.graph import knn_edge_index
from hydronet_nb.train.losses import ClusterLoss
from hydronet_nb.model.schnet import build_schnet, energy_and_forces
from hydronet_nb.data.clusters import ClusterSet
from hydronet_nb.model.published import load_published_model
from hydronet_nb.train.batching import collate_batch
from hydronet_nb.train.losses import PackLoss
from hydronet_nb.train.packing import HYDRONET_MEDIUM_HISTOGRAM, Packer, pack_histogram, packing_efficiency
from hydronet_nb.train.packs import PackedKNNGraph, collate_packs, pack_energies


def placed(strategy):
    """How many clusters of each size a strategy places."""
    out = Counter()
    for sizes, count in strategy:
        for size in sizes:
            out[size] += count
    return out


def test_histogram_packing_of_the_27m_pretraining_set_matches_graphcore_in_under_a_second():
    start = time.perf_counter()
    strategy = pack_histogram(HYDRONET_MEDIUM_HISTOGRAM, max_atoms=192)
    seconds = time.perf_counter() - start
    n_packs = sum(count for _, count in strategy)
    assert seconds < 1.0
    assert placed(strategy) == Counter(HYDRONET_MEDIUM_HISTOGRAM)  # every cluster, once
    assert all(sum(sizes) <= 192 for sizes, _ in strategy)
    # Graphcore: 911,401 packs, 98.07% full, at most 4 clusters a pack (from the true histogram)
    assert n_packs == pytest.approx(911_401, rel=0.002)
    assert packing_efficiency(strategy, 192) == pytest.approx(0.9807, abs=0.001)
    assert max(len(sizes) for sizes, _ in strategy) == 4


def test_pack_limits_and_bad_input():
    hist = {9: 50, 30: 7, 45: 20, 75: 11}
    for max_clusters in (None, 1, 2, 3):
        strategy = pack_histogram(hist, 100, max_clusters)
        assert placed(strategy) == Counter(hist)
        assert all(sum(s) <= 100 and len(s) <= (max_clusters or 100) for s, _ in strategy)
    assert pack_histogram(hist, 100, 1) == sorted(((size,), n) for size, n in hist.items())[::-1]
    with pytest.raises(ValueError, match="clusters of 75 atoms do not fit in packs of max_atoms=60"):
        pack_histogram(hist, 60)


def test_packer_places_every_cluster_once_and_reshuffles_each_epoch():
    sizes = np.random.default_rng(0).integers(3, 26, size=500) * 3
    packer = Packer(sizes, max_atoms=192)
    gen = torch.Generator().manual_seed(1)
    epochs = [packer.packs(gen) for _ in range(2)]
    for rows in epochs:
        assert rows.shape == (packer.n_packs, packer.slots)
        assert sorted(rows[rows >= 0].tolist()) == list(range(500))
        assert (np.where(rows >= 0, sizes[rows], 0).sum(1) <= 192).all()
    assert not np.array_equal(epochs[0], epochs[1])
    again = packer.packs(torch.Generator().manual_seed(1))
    assert np.array_equal(again, epochs[0])  # the data-order generator fixes the packs
    assert 0.9 < packer.efficiency <= 1.0


@pytest.fixture(scope="module")
def packed_minima(published_model):
    data = ClusterSet.from_clusters(clusters(copies=2))
    packer = Packer(data.n_atoms, 192)
    rows = packer.packs()
    return data, rows, collate_packs(data, rows, 192, packer.slots, with_forces=True), packer.slots


def test_packed_energies_and_forces_equal_unpacked(packed_minima):
    data, rows, pack, slots = packed_minima
    # packs run PyG's forward (the fast path hands a swapped-in graph to it): compare like with like
    model = load_published_model(fast=False)
    graph = PackedKNNGraph(28, 193, slots + 1)
    pos = pack.pos.clone().requires_grad_(True)
    e_packed = pack_energies(model, pack._replace(pos=pos), graph)
    (grad,) = torch.autograd.grad(e_packed.sum(), pos)
    e_packed = e_packed.detach()
    plain = collate_batch(data, with_forces=True)
    e_plain, f_plain = energy_and_forces(model, plain.z, plain.pos, plain.batch)
    for p, row in enumerate(rows):
        start = 0
        for s, i in enumerate(row):
            if i < 0:
                assert e_packed[p, s] == 0
                continue
            n = int(data.n_atoms[i])
            a = int(data.offsets[i])
            # float32, summed in another order: energies to 1e-4 kcal/mol, forces to 1e-3 kcal/mol/A
            assert float(e_packed[p, s]) == pytest.approx(float(e_plain[i]), abs=1e-4)
            assert torch.allclose(-grad[p, start:start + n], f_plain[a:a + n], rtol=0, atol=1e-3)
            start += n
        assert torch.all(grad[p, start:] == 0)  # padding atoms feel no force


def test_padding_atoms_are_isolated(published_model, packed_minima):
    data, rows, pack, slots = packed_minima
    flat_batch = (torch.arange(len(rows)).view(-1, 1) * (slots + 1) + pack.slot).view(-1)
    edge_index, length = PackedKNNGraph(28, 193, slots + 1)(pack.pos.view(-1, 3), flat_batch)
    assert edge_index.shape[1] == len(rows) * 193 * 28  # fixed shape
    real = (pack.slot < slots).view(-1)
    j, i = edge_index
    assert torch.all(real[j] == real[i])  # no edge between a real and a padding atom
    real_edges = set(map(tuple, edge_index[:, real[i]].t().tolist()))
    expected = knn_edge_index(pack.pos.view(-1, 3)[real], flat_batch[real], 28)
    index = torch.nonzero(real).view(-1)
    assert real_edges == set(map(tuple, index[expected].t().tolist()))  # the same kNN graph as unpacked
    # whatever sits in the padding rows, the clusters' energies do not change (bit for bit)
    graph = PackedKNNGraph(28, 193, slots + 1)
    noisy = pack._replace(z=torch.where(pack.slot < slots, pack.z, 8),
                          pos=torch.where((pack.slot < slots).unsqueeze(-1), pack.pos, torch.randn_like(pack.pos)))
    with torch.no_grad():
        assert torch.equal(pack_energies(published_model, pack, graph), pack_energies(published_model, noisy, graph))


def test_packed_loss_and_weight_gradients_equal_unpacked(packed_minima):
    data, rows, pack, slots = packed_minima
    torch.manual_seed(0)
    model = build_schnet(TINY_MODEL)
    plain = collate_batch(data, with_forces=True)
    results = []
    for loss_module, args in ((ClusterLoss(model, 0.3), plain), (PackLoss(model, 0.3, 192, slots), pack)):
        model.zero_grad()
        loss, sse_e, sae, sse_f = loss_module.train()(*args)
        loss.backward()
        results.append((loss.detach(), sse_e, sae, sse_f, [p.grad.clone() for p in model.parameters()]))
    (*plain_terms, plain_grads), (*packed_terms, packed_grads) = results
    for a, b in zip(plain_terms, packed_terms):
        assert float(a) == pytest.approx(float(b), rel=1e-5)
    for a, b in zip(plain_grads, packed_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
