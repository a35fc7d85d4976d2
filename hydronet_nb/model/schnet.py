"""SchNet as the paper used it, and energies and forces from it.

The network is PyG's own :class:`torch_geometric.nn.models.SchNet`; this module only fixes the
paper's hyperparameters and hands it the pure-torch kNN graph from :mod:`hydronet_nb.model.graph`.
By default :func:`build_schnet` returns its fast twin (:mod:`hydronet_nb.model.fast`), which has the
same parameters and computes the same function with tabulated filters.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch_geometric.nn.models import SchNet

from ..utils.schema import check_ranges, setting
from .graph import DEFAULT_K, KNNInteractionGraph


@dataclass(frozen=True)
class SchNetConfig:
    """Hyperparameters of the published model (read off its tensor shapes)."""

    hidden_channels: int = setting(100, ge=1)
    num_filters: int = setting(100, ge=1)
    num_interactions: int = setting(4, ge=1)
    num_gaussians: int = setting(25, ge=2)  # PyG spaces them by cutoff / (num_gaussians - 1)
    cutoff: float = setting(6.0, gt=0)
    k: int = setting(DEFAULT_K, ge=1)

    def __post_init__(self):
        check_ranges(self, "model")

    def as_dict(self) -> dict:
        return asdict(self)


PAPER_CONFIG = SchNetConfig()


def build_schnet(config: SchNetConfig = PAPER_CONFIG, fast: bool = True) -> SchNet:
    """SchNet with ``config`` and the kNN interaction graph (sum readout, kcal/mol).

    ``fast`` (the default): :class:`~hydronet_nb.model.fast.FastSchNet`, PyG's module with tabulated
    filters (the same ``state_dict``, the same numbers, several times less work per step);
    ``fast=False``: PyG's own :class:`~torch_geometric.nn.models.SchNet`.
    """
    if fast:
        from .fast import FastSchNet

        return FastSchNet(hidden_channels=config.hidden_channels, num_filters=config.num_filters,
                          num_interactions=config.num_interactions, num_gaussians=config.num_gaussians,
                          cutoff=config.cutoff, k=config.k)
    return SchNet(
        hidden_channels=config.hidden_channels,
        num_filters=config.num_filters,
        num_interactions=config.num_interactions,
        num_gaussians=config.num_gaussians,
        cutoff=config.cutoff,
        readout="add",
        interaction_graph=KNNInteractionGraph(config.k),
    )


def energy(model: torch.nn.Module, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
    """Total energy of each cluster, shape ``[clusters]``, in kcal/mol."""
    if batch is None:
        batch = torch.zeros(z.size(0), dtype=torch.long, device=z.device)
    return model(z, pos, batch).view(-1)


def energy_and_forces(
    model: torch.nn.Module,
    z: torch.Tensor,
    pos: torch.Tensor,
    batch: torch.Tensor | None = None,
    *,
    create_graph: bool = False,
    use_explicit: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies ``[clusters]`` (kcal/mol) and forces ``-dE/dpos`` ``[atoms, 3]`` (kcal/mol/Angstrom).

    Pass ``create_graph=True`` when the forces enter a training loss: without it the force term
    has no path back to the weights -- the first bug of the paper's released finetuning code.
    Otherwise a fast SchNet in eval mode computes them without autograd
    (:meth:`~hydronet_nb.model.fast.FastSchNet.energy_and_forces`; ``use_explicit=False``: autograd).
    """
    explicit = getattr(model, "energy_and_forces", None)
    if use_explicit and explicit is not None and not create_graph and not model.training:
        if batch is None:
            batch = torch.zeros(z.size(0), dtype=torch.long, device=z.device)
        return explicit(z, pos.detach(), batch)
    pos = pos.detach().requires_grad_(True)
    e = energy(model, z, pos, batch)
    (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=create_graph)
    return (e if create_graph else e.detach()), -grad


@contextmanager
def interaction_graph(model: torch.nn.Module, graph: torch.nn.Module):
    """``model`` (a PyG SchNet) with ``graph`` as its interaction graph for the duration of the block."""
    original = model.interaction_graph
    model.interaction_graph = graph
    try:
        yield model
    finally:
        model.interaction_graph = original
