"""Training on Graphcore IPUs: settings, PopTorch options and the loss module PopTorch wraps.

PopTorch ships inside Graphcore's Poplar SDK, not on PyPI, and public cloud IPUs are gone, so on
most machines nothing here runs; finding IPUs is :mod:`hydronet_nb.device`'s job
(:func:`~hydronet_nb.device.poptorch_module`, :func:`~hydronet_nb.device.ipu_count`, re-exported
here), and the trainer's IPU backend (:mod:`hydronet_nb.train.backends`) is the only user.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..device import ipu_count, poptorch_module
from ..utils.schema import check_ranges, setting

__all__ = ["CACHE_ENV", "IPUSettings", "IPULoss", "adam", "inference_model", "ipu_count", "make_options",
           "option_settings", "packs_per_call", "poptorch_module", "training_model"]


# --- training on IPUs ------------------------------------------------------------------------
#
# PopTorch compiles the module it wraps into one IPU program per input shape, so IPU training
# runs on fixed-size packs (hydronet_nb.train.packing) and the loss is computed inside the module's
# forward. One host call runs ``device_iterations`` optimizer steps, each over
# ``micro_batch_packs x replicas x gradient_accumulation`` packs. Without PopTorch the settings
# (a plain dict) and the wrapped loss module still work and are tested; the PopTorch calls
# below are not (no IPU is available to this project).

#: environment variable naming the folder for compiled IPU programs (compiling takes minutes)
CACHE_ENV = "HYDRONET_NB_IPU_CACHE"


@dataclass
class IPUSettings:
    """What the reader chooses; Graphcore's 16-IPU HydroNet run used 7 packs x 4 x 16 replicas x 32."""

    replicas: int | None = setting(None, ge=1)  # data-parallel copies, one IPU each; None: every IPU attached
    device_iterations: int = setting(4, ge=1)  # optimizer steps per host call
    gradient_accumulation: int = setting(32, ge=1)  # micro-batches per optimizer step and replica
    micro_batch_packs: int = setting(7, ge=1)  # packs per micro-batch
    cache_dir: str | None = None  # compiled programs; None: $HYDRONET_NB_IPU_CACHE, unset: no cache

    def __post_init__(self):
        check_ranges(self, "training.ipu")


def option_settings(settings: IPUSettings, n_ipus: int, seed: int, *, training: bool = True) -> dict:
    """The ``poptorch.Options`` calls to make, as a plain dict (see :func:`make_options`).

    ``n_ipus`` is the number of IPUs attached (:func:`ipu_count`); replicas default to all of them.
    Inference programs get no gradient accumulation and return every iteration's outputs.
    """
    replicas = settings.replicas or n_ipus
    if replicas < 1:
        raise RuntimeError("no IPU attached: poptorch is not importable or ipuHardwareIsAvailable() is False")
    if replicas > n_ipus:
        raise ValueError(f"ipu.replicas={replicas} needs {replicas} IPUs, but {n_ipus} are attached")
    cache = settings.cache_dir or os.environ.get(CACHE_ENV) or None
    return {
        "replicationFactor": replicas,
        "deviceIterations": settings.device_iterations,
        "Training.gradientAccumulation": settings.gradient_accumulation if training else 1,
        "enableExecutableCaching": cache,
        "randomSeed": seed,
        "outputMode": "Sum" if training else "All",
    }


def packs_per_call(settings: dict, micro_batch_packs: int) -> int:
    """Packs the host hands PopTorch per call (``settings`` from :func:`option_settings`):
    micro-batch x iterations x replicas x accumulation."""
    return (micro_batch_packs * settings["deviceIterations"] * settings["replicationFactor"]
            * settings["Training.gradientAccumulation"])


def make_options(settings: dict):
    """``poptorch.Options`` configured from :func:`option_settings`."""
    poptorch = _require_poptorch()
    opts = poptorch.Options()
    opts.replicationFactor(settings["replicationFactor"])
    opts.deviceIterations(settings["deviceIterations"])
    opts.Training.gradientAccumulation(settings["Training.gradientAccumulation"])
    if settings["enableExecutableCaching"]:
        opts.enableExecutableCaching(settings["enableExecutableCaching"])
    opts.randomSeed(settings["randomSeed"])
    opts.outputMode(getattr(poptorch.OutputMode, settings["outputMode"]))
    return opts


class IPULoss(torch.nn.Module):
    """A :class:`hydronet_nb.train.packing.PackLoss` (energy only) with PopTorch's loss marker.

    ``forward(z, pos, slot, energy, n_water)`` returns ``(loss, SSE_E, sum |dE|/water, SSE_F)``;
    under PopTorch the loss goes through ``poptorch.identity_loss`` so the program trains on it.
    Forces need a gradient inside the forward pass, which PopTorch does not compile: IPU training
    is energy-only (the paper's pretraining).
    """

    def __init__(self, pack_loss: torch.nn.Module):
        super().__init__()
        if pack_loss.energy_weight < 1.0:
            raise ValueError(f"IPU training is energy-only (energy_weight=1); got energy_weight={pack_loss.energy_weight}")
        self.pack_loss = pack_loss

    def forward(self, z, pos, slot, energy, n_water):
        loss, *sums = self.pack_loss(z, pos, slot, energy, n_water)
        poptorch = poptorch_module()
        if poptorch is not None:
            loss = poptorch.identity_loss(loss, reduction="none")
        return (loss, *sums)


def adam(params, lr: float):
    """PopTorch's Adam (its state lives on the IPU; ReduceLROnPlateau works on it as on torch's)."""
    return _require_poptorch().optim.Adam(params, lr=lr)


def training_model(loss: IPULoss, settings: dict, optimizer):
    """``poptorch.trainingModel``: each call runs forward, backward and optimizer steps on the IPUs."""
    return _require_poptorch().trainingModel(loss, options=make_options(settings), optimizer=optimizer)


def inference_model(loss: IPULoss, settings: dict):
    """``poptorch.inferenceModel`` of the same loss, for validation (weights synced from the host)."""
    return _require_poptorch().inferenceModel(loss, options=make_options(settings))


def _require_poptorch():
    poptorch = poptorch_module()
    if poptorch is None:
        raise RuntimeError("IPU training needs poptorch (Graphcore's Poplar SDK), which is not importable here")
    return poptorch
