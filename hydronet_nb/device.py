"""Which accelerator to use: IPU where PopTorch and IPUs are present, else CUDA, else CPU."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .train import ipu


@dataclass(frozen=True)
class DeviceChoice:
    kind: str  # "ipu", "cuda" or "cpu"
    torch_device: torch.device  # where tensors live (the CPU for IPU runs: PopTorch moves them)
    description: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.description}"


def select_device(prefer: str | None = None) -> DeviceChoice:
    """The best device present, or ``prefer`` ("ipu", "cuda", "cpu") with an error if it is absent."""
    n_ipu = ipu.ipu_count()
    if prefer not in (None, "auto", "ipu", "cuda", "cpu"):
        raise ValueError(f"device must be one of auto, ipu, cuda, cpu; got {prefer!r}")
    if prefer == "ipu" or (prefer in (None, "auto") and n_ipu):
        if not n_ipu:
            raise RuntimeError("device 'ipu' requested but poptorch is not importable or no IPU is attached")
        return DeviceChoice("ipu", torch.device("cpu"), f"{n_ipu} Graphcore IPU(s) through PopTorch")
    if prefer == "cuda" or (prefer in (None, "auto") and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
        return DeviceChoice("cuda", torch.device("cuda"), torch.cuda.get_device_name(0))
    return DeviceChoice("cpu", torch.device("cpu"), f"CPU, {torch.get_num_threads()} torch threads")
