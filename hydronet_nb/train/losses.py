"""The training loss, ``c * MSE(E) + (1 - c) * MSE(F)``, for batches of whole clusters.

``c = 1`` is the pretraining loss (total energy only); ``c < 1`` adds forces, obtained with
``create_graph=True`` so that the force term reaches the weights (the paper's released code
omits it, and its force term never trains anything). ``MSE(F)`` equals ``MSE(dE/dx)``.
:class:`hydronet_nb.train.packing.PackLoss` is the same loss on fixed-size packs.
"""
from __future__ import annotations

import torch

from ..model.schnet import energy_and_forces


def loss_terms(e_pred, e_ref, n_water, f_pred, f_ref, energy_weight: float, energy_norm, force_norm):
    """``(loss, SSE of energies, sum of |energy error| per water, SSE of force components)``.

    Entries to be ignored (padding) must be 0 in both prediction and reference. The loss is
    ``c * SSE_E / energy_norm + (1 - c) * SSE_F / force_norm``; with ``f_pred`` None the force
    terms are 0 and ``c`` must be 1.
    """
    err = e_pred - e_ref.to(e_pred.dtype)
    sse_energy = err.square().sum()
    sae_per_water = (err.abs() / n_water.clamp(min=1).to(err.dtype)).sum()
    loss = energy_weight * sse_energy / energy_norm
    if f_pred is None:
        sse_forces = torch.zeros_like(sse_energy)
    else:
        sse_forces = (f_pred - f_ref.to(f_pred.dtype)).square().sum()
        loss = loss + (1.0 - energy_weight) * sse_forces / force_norm
    return loss, sse_energy.detach(), sae_per_water.detach(), sse_forces.detach()


class ClusterLoss(torch.nn.Module):
    """The loss on a batch of whole clusters in PyG layout (``z, pos, batch``).

    ``forward(z, pos, batch, energy, n_water, forces=None, energy_norm=None, force_norm=None)``
    returns what :func:`loss_terms` returns; the norms default to the batch's own counts.
    Forces are differentiated with ``create_graph`` in training mode only.
    """

    def __init__(self, model: torch.nn.Module, energy_weight: float):
        super().__init__()
        if not 0.0 <= energy_weight <= 1.0:
            raise ValueError(f"energy_weight must be in [0, 1], got {energy_weight}")
        self.model = model
        self.energy_weight = float(energy_weight)

    def forward(self, z, pos, batch, energy, n_water, forces=None, energy_norm=None, force_norm=None):
        if self.energy_weight >= 1.0:
            e_pred, f_pred = self.model(z, pos, batch).view(-1), None
        else:
            with torch.enable_grad():
                e_pred, f_pred = energy_and_forces(self.model, z, pos, batch, create_graph=self.training)
        if energy_norm is None:
            energy_norm, force_norm = energy.numel(), 3 * z.numel()
        return loss_terms(e_pred, energy, n_water, f_pred, forces, self.energy_weight, energy_norm, force_norm)
