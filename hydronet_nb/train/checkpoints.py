"""Training checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors and plain Python containers only (no pickled objects), so
loading it cannot run code. Random number generator states are converted to that form by
:func:`rng_state` and restored by :func:`set_rng_state`.
"""
from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch


def rng_state(data_generator: torch.Generator) -> dict:
    """The states of torch's, CUDA's, numpy's and Python's generators and of ``data_generator``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "data": data_generator.get_state(),
    }


def set_rng_state(state: dict, data_generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    data_generator.set_state(state["data"])


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """``torch.save`` into a temporary file beside ``path``, then ``os.replace`` it into place.

    A run killed while writing leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not tempfile.mkstemp, which makes the file 0600: a checkpoint gets the usual permissions
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            torch.save(checkpoint, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_torch_file(path: str | Path, what: str = "PyTorch checkpoint", error: type[Exception] = ValueError):
    """``torch.load(path, weights_only=True)`` onto the CPU; a missing file is FileNotFoundError, an unreadable one ``error``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise error(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from exc


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by :func:`save_checkpoint`, loaded with ``weights_only=True``."""
    checkpoint = read_torch_file(path, "training checkpoint")
    missing = [key for key in ("model", "epoch") if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ValueError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
    return checkpoint
