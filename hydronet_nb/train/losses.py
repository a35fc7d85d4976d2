"""The training loss, ``c * MSE(E) + (1 - c) * MSE(F)``, for batches of whole clusters.

``c = 1`` is the pretraining loss (total energy only); ``c < 1`` adds forces, obtained with
``create_graph=True`` so that the force term reaches the weights (the paper's released code
omits it, and its force term never trains anything). ``MSE(F)`` equals ``MSE(dE/dx)``.
:class:`ClusterLoss` computes it on whole clusters, :class:`PackLoss` on fixed-size packs
(:mod:`hydronet_nb.train.packs`); both return :func:`loss_terms`.
"""
from __future__ import annotations

import torch

from ..model.graph import KNNInteractionGraph
from ..model.schnet import energy_and_forces
from .packs import Pack, PackedKNNGraph, pack_energies


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
    Forces are differentiated with ``create_graph`` in training mode only; ``create_graph=False``
    repeats the released code's bug (the forces are constants to the optimizer: only ``c * MSE(E)``
    trains), kept for the study that measures it.
    """

    def __init__(self, model: torch.nn.Module, energy_weight: float, create_graph: bool = True):
        super().__init__()
        if not 0.0 <= energy_weight <= 1.0:
            raise ValueError(f"energy_weight must be in [0, 1], got {energy_weight}")
        self.model = model
        self.energy_weight = float(energy_weight)
        self.create_graph = bool(create_graph)

    def forward(self, z, pos, batch, energy, n_water, forces=None, energy_norm=None, force_norm=None):
        if self.energy_weight >= 1.0:
            e_pred, f_pred = self.model(z, pos, batch).view(-1), None
        else:
            with torch.enable_grad():
                e_pred, f_pred = energy_and_forces(self.model, z, pos, batch,
                                                   create_graph=self.training and self.create_graph)
                if self.training and not self.create_graph:
                    e_pred = self.model(z, pos, batch).view(-1)  # the energy term still trains, as in the paper's code
        if energy_norm is None:
            energy_norm, force_norm = energy.numel(), 3 * z.numel()
        return loss_terms(e_pred, energy, n_water, f_pred, forces, self.energy_weight, energy_norm, force_norm)


class PackLoss(torch.nn.Module):
    """``c * MSE(E) + (1 - c) * MSE(F)`` on a batch of packs, padding excluded.

    ``forward`` takes the :class:`Pack` fields as separate tensors (as PopTorch wants them) and
    returns ``(loss, sum of squared energy errors, sum of |energy error| per water, sum of
    squared force errors)``. Means divide by the real clusters (and 3 x real atoms) of the pack
    batch, or by ``energy_norm`` / ``force_norm`` when given (data parallelism: the global counts
    divided by the number of ranks). Forces are differentiated with ``create_graph`` in training
    mode, so the force term trains the weights.
    """

    def __init__(self, model: torch.nn.Module, energy_weight: float, max_atoms: int, slots: int):
        super().__init__()
        graph = getattr(model, "interaction_graph", None)
        if not isinstance(graph, KNNInteractionGraph):
            raise ValueError(f"packing needs a SchNet with the kNN interaction graph, got {type(graph).__name__}")
        if not 0.0 <= energy_weight <= 1.0:
            raise ValueError(f"energy_weight must be in [0, 1], got {energy_weight}")
        self.model = model
        self.energy_weight = float(energy_weight)
        self.graph = PackedKNNGraph(graph.k, max_atoms + 1, slots + 1)

    def predict(self, pack: Pack, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Energies ``[P, G]`` and, unless the loss is energy-only, forces ``[P, W, 3]``."""
        if self.energy_weight >= 1.0:
            return pack_energies(self.model, pack, self.graph), None
        with torch.enable_grad():
            pos = pack.pos.detach().requires_grad_(True)
            energy = pack_energies(self.model, pack._replace(pos=pos), self.graph)
            (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
        return (energy if create_graph else energy.detach()), -grad

    def forward(self, z, pos, slot, energy, n_water, forces=None, energy_norm=None, force_norm=None):
        pack = Pack(z, pos, slot, energy, n_water, forces)
        e_pred, f_pred = self.predict(pack, create_graph=self.training)
        cluster_mask = n_water > 0
        atom_mask = (slot < energy.size(1)).unsqueeze(-1)
        if energy_norm is None:  # an all-padding micro-batch (IPU) must give 0, not 0/0
            energy_norm = cluster_mask.sum().clamp(min=1)
            force_norm = 3 * atom_mask.sum().clamp(min=1)
        return loss_terms(
            e_pred * cluster_mask, energy, n_water,
            None if f_pred is None else f_pred * atom_mask, forces,
            self.energy_weight, energy_norm, force_norm,
        )
