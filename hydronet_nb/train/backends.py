"""Where a training step runs: plain PyTorch, ``DistributedDataParallel`` under ``torchrun``, or PopTorch on IPUs.

A backend owns the optimizer and the module that computes the loss on a batch
(:class:`~hydronet_nb.train.losses.ClusterLoss` or :class:`~hydronet_nb.train.losses.PackLoss`),
and knows the few things that differ between the three: how a step is taken, how the sums of a
pass are combined over ranks, how many packs one call takes, and when weights move between host
and device. :func:`make_backend` picks one; the trainer talks to none of them directly otherwise.
"""
from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..device import DeviceChoice
from . import ipu
from .config import TrainConfig, parameter_groups


class PlainBackend:
    """One process on a CPU or a CUDA GPU: Adam, backward, the element-wise gradient clamp."""

    kind = "plain"

    def __init__(self, model: torch.nn.Module, device: DeviceChoice, config: TrainConfig, rank: int = 0, world: int = 1):
        self.model, self.device, self.config = model, device, config
        self.rank, self.world = rank, world
        self.optimizer = self._optimizer()
        self.loss_module: torch.nn.Module | None = None

    def _optimizer(self):
        return torch.optim.Adam(parameter_groups(self.model, self.config), lr=self.config.lr)

    def set_loss(self, loss_module: torch.nn.Module) -> None:
        """The module computing ``(loss, SSE_E, sum |dE|/water, SSE_F)`` on a batch."""
        self.loss_module = self.step_module = loss_module

    def packs_per_call(self, training: bool) -> int | None:
        """Packs one call must receive (IPU), or None: batches follow ``batch_size``."""
        return None

    def train_step(self, step) -> tuple:
        batch = step.batch.to(self.device.torch_device)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.step_module(*batch, step.energy_norm, step.force_norm)
        out[0].backward()
        torch.nn.utils.clip_grad_value_(self.model.parameters(), self.config.clip_value)
        self.optimizer.step()
        return out

    def eval_step(self, step) -> tuple:
        return self.loss_module(*step.batch.to(self.device.torch_device))

    def reduce(self, sums: torch.Tensor) -> torch.Tensor:
        """The sums of a pass over all ranks."""
        return sums

    def lr_changed(self) -> None:
        """Called after the scheduler changed the learning rate."""

    def to_host(self) -> None:
        """Make ``model``'s weights on the host current (before they are saved)."""

    def to_device(self) -> None:
        """Push the host's weights and optimizer state to the device (after they were loaded)."""


class DDPBackend(PlainBackend):
    """``torchrun`` ranks (gloo on CPUs, nccl on GPUs): each global batch is split between them."""

    kind = "ddp"

    def set_loss(self, loss_module: torch.nn.Module) -> None:
        self.loss_module = loss_module
        ids = [self.device.torch_device] if self.device.kind == "cuda" else None
        self.step_module = DistributedDataParallel(loss_module, device_ids=ids)
        # the force term's double backward gives the [1, n] output weight a gradient with other
        # strides along its size-1 dimension: the same layout, and DDP copies it correctly
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")

    def reduce(self, sums: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        return sums


class IPUBackend(PlainBackend):
    """PopTorch: the packed loss compiled for the IPUs, several packs per host call (:mod:`hydronet_nb.train.ipu`)."""

    kind = "ipu"

    def __init__(self, model, device, config, rank: int = 0, world: int = 1):
        if not config.packed:
            raise ValueError("training on IPUs needs training.packed: true (PopTorch compiles fixed shapes)")
        if world > 1:
            raise ValueError("use ipu.replicas for data parallelism on IPUs, not torchrun")
        n_ipus = ipu.ipu_count()
        self.settings = ipu.option_settings(config.ipu, n_ipus, config.seed)
        self.eval_settings = ipu.option_settings(config.ipu, n_ipus, config.seed, training=False)
        super().__init__(model, device, config, rank, world)
        warnings.warn("on IPUs PopTorch runs the optimizer on the device: the element-wise gradient clamp "
                      "(training.clip_value) is not applied there", stacklevel=3)

    def _optimizer(self):
        return ipu.adam(parameter_groups(self.model, self.config), self.config.lr)

    def set_loss(self, loss_module: torch.nn.Module) -> None:
        self.loss_module = loss_module
        wrapped = ipu.IPULoss(loss_module)
        self.train_model = ipu.training_model(wrapped, self.settings, self.optimizer)
        self.eval_model = ipu.inference_model(wrapped, self.eval_settings)

    def packs_per_call(self, training: bool) -> int:
        return ipu.packs_per_call(self.settings if training else self.eval_settings, self.config.ipu.micro_batch_packs)

    def train_step(self, step) -> tuple:
        return self.train_model(*step.batch.to(self.device.torch_device)[:5])

    def eval_step(self, step) -> tuple:
        return self.eval_model(*step.batch.to(self.device.torch_device)[:5])

    def lr_changed(self) -> None:
        self.train_model.setOptimizer(self.optimizer)

    def to_host(self) -> None:
        self.train_model.copyWeightsToHost()

    def to_device(self) -> None:
        self.train_model.copyWeightsToDevice()
        self.train_model.setOptimizer(self.optimizer)


def make_backend(model: torch.nn.Module, device: DeviceChoice, config: TrainConfig) -> PlainBackend:
    """IPUs for an IPU device; data parallelism when ``torch.distributed`` runs more than one rank; else plain."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    if device.kind == "ipu":
        return IPUBackend(model, device, config, rank, world)
    return (DDPBackend if world > 1 else PlainBackend)(model, device, config, rank, world)
