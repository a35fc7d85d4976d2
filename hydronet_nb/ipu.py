"""Everything that touches Graphcore IPUs lives here, and only runs when ``poptorch`` imports.

PopTorch ships inside Graphcore's Poplar SDK, not on PyPI, and public cloud IPUs are gone, so on
most machines this module reports "no IPU" and the rest of the package uses CUDA or the CPU.
"""
from __future__ import annotations

import importlib


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
