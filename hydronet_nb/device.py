"""Which accelerator to use: IPU where PopTorch and IPUs are present, else CUDA, else CPU; and this machine in one line."""
from __future__ import annotations

import importlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch


def poptorch_module():
    """The ``poptorch`` module, or ``None`` where the Poplar SDK is not installed."""
    try:
        return importlib.import_module("poptorch")
    except Exception:  # ImportError, or an SDK whose native libraries fail to load
        return None


def ipu_count() -> int:
    """Number of IPUs PopTorch can attach to (0 without PopTorch or hardware).

    IPUs are attached in powers of two; ``poptorch.ipuHardwareIsAvailable(n)`` answers for ``n``.
    """
    poptorch = poptorch_module()
    if poptorch is None:
        return 0
    for n in (64, 32, 16, 8, 4, 2, 1):
        try:
            if poptorch.ipuHardwareIsAvailable(n):
                return n
        except Exception:
            return 0
    return 0


@dataclass(frozen=True)
class DeviceChoice:
    kind: str  # "ipu", "cuda" or "cpu"
    torch_device: torch.device  # where tensors live (the CPU for IPU runs: PopTorch moves them)
    description: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.description}"


def select_device(prefer: str | None = None) -> DeviceChoice:
    """The best device present, or ``prefer`` ("ipu", "cuda", "cpu") with an error if it is absent."""
    n_ipu = ipu_count()
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


def describe_hardware() -> str:
    """This machine in one line: CPU, cores, torch threads, GPU if any (for model cards)."""
    cpu = platform.processor() or platform.machine()
    try:  # the model name is only in /proc/cpuinfo on Linux
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}; torch {torch.__version__}"
