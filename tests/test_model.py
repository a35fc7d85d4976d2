import copy

import numpy as np
import pytest
import torch

from hydronet_nb.data.clusters import collate
from hydronet_nb.model.schnet import energy, energy_and_forces


def rotation(seed):
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.det(q))


@pytest.fixture(scope="module")
def model64(published_model):
    return copy.deepcopy(published_model).double()


@pytest.fixture(scope="module")
def batch(ttm_minima):
    return collate(ttm_minima[3:8], dtype=torch.float64)


def test_energy_invariant_to_rotation_translation_and_permutation(model64, batch):
    z, pos, b = batch
    e0 = energy(model64, z, pos, b)
    e_rot = energy(model64, z, pos @ rotation(1).T + torch.tensor([3.0, -7.0, 11.0], dtype=torch.float64), b)
    torch.testing.assert_close(e_rot, e0, atol=1e-9, rtol=0)
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(2))
    perm = perm[torch.argsort(b[perm], stable=True)]  # keep atoms grouped by cluster, shuffled inside
    assert not torch.equal(perm, torch.arange(len(z)))
    e_perm = energy(model64, z[perm], pos[perm], b[perm])
    torch.testing.assert_close(e_perm, e0, atol=1e-9, rtol=0)


def test_forces_match_finite_differences(model64, batch):
    z, pos, b = batch
    _, forces = energy_and_forces(model64, z, pos, b)
    rng = np.random.default_rng(0)
    h = 1e-5
    for atom in rng.choice(len(z), size=8, replace=False):
        for axis in range(3):
            plus, minus = pos.clone(), pos.clone()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            with torch.no_grad():
                fd = -(energy(model64, z, plus, b).sum() - energy(model64, z, minus, b).sum()) / (2 * h)
            # central differences in float64: agreement to ~1e-6 relative; a wrong sign, factor or
            # missing term would be off by order one
            assert abs(float(fd) - float(forces[atom, axis])) < 2e-5 * max(1.0, abs(float(fd)))


def test_create_graph_lets_a_force_loss_reach_the_weights(published_model, batch):
    z, pos, b = batch
    model = copy.deepcopy(published_model)
    for create_graph in (True, False):
        model.zero_grad()
        e, f = energy_and_forces(model, z, pos.float(), b, create_graph=create_graph)
        if create_graph:
            (f**2).mean().backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            assert grads and sum(float(g.abs().sum()) for g in grads) > 0
        else:
            assert not f.requires_grad  # without create_graph the force loss has no path to the weights
