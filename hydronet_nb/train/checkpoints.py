"""Training checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``, resumed only when they fit.

A checkpoint is a dict of tensors and plain Python containers only (no pickled objects), so
loading it cannot run code. Random number generator states are converted to that form by
:func:`rng_state` and restored by :func:`set_rng_state`. The weights are under ``"model"``
(what :func:`hydronet_nb.model.weights.read_state_dict` and ``--model best.pt`` read), the
settings under ``"config"`` and the data's fingerprint under ``"data"``; :func:`resume_problems`
says why a checkpoint must not be continued with other settings or other data.
"""
from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from ..data.clusters import fingerprint_changes
from ..model.weights import read_torch_file
from ..utils.config import differences
from ..utils.files import atomic_write
from .config import RESUMABLE_CHANGES, TrainConfig

#: the checkpoint files of a run folder
LAST, BEST, LOG = "last.pt", "best.pt", "metrics.jsonl"


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
    """``torch.save`` through :func:`~hydronet_nb.utils.files.atomic_write`: a run killed while writing
    leaves the previous checkpoint intact, and a full disk reads as for every other file."""
    def write(tmp: Path) -> None:
        # a Python file object: a full disk then surfaces as OSError(ENOSPC), not as torch's errno-less
        # "unexpected pos" (which atomic_write also recognises)
        with open(tmp, "wb") as handle:
            torch.save(checkpoint, handle)
    atomic_write(path, write)


def kept_checkpoints(folder: str | Path) -> str:
    """What a stopped run's folder keeps, in words (for the line an interrupted command ends with)."""
    folder = Path(folder)
    try:
        lines = (folder / LOG).read_text().splitlines()
        epoch = int(json.loads(lines[-1])["epoch"]) if lines else None
    except (OSError, ValueError, KeyError, TypeError):
        epoch = None
    if epoch is None or not (folder / LAST).is_file():
        return f"no epoch had finished; {folder} holds no checkpoint yet"
    return f"checkpoints up to epoch {epoch} are in {folder}"


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by :func:`save_checkpoint`, loaded with ``weights_only=True``."""
    checkpoint = read_torch_file(path, "training checkpoint")
    missing = [key for key in ("model", "epoch") if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ValueError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
    return checkpoint


def resume_problems(saved: dict, now: dict, path: str | Path = LAST) -> list[str]:
    """Why a run whose checkpoint holds config ``saved`` must not be continued with config ``now``.

    Both are ``{"training": ..., "model": ..., "data": ...}``: training keys in
    :data:`~hydronet_nb.train.config.RESUMABLE_CHANGES` may change; ``data`` maps a set's role
    (``"train"``, ``"val"``) to its :meth:`~hydronet_nb.data.clusters.ClusterSet.fingerprint`. A
    checkpoint written before fingerprints were recorded is accepted with a warning. Returns the
    changes in words; empty when the run may continue.
    """
    # settings added to TrainConfig after the checkpoint was written count as their defaults
    defaults = TrainConfig().as_dict()
    saved_training = {**{k: v for k, v in defaults.items() if k not in saved["training"]}, **saved["training"]}
    problems = differences(saved_training, now["training"], ignore=RESUMABLE_CHANGES)
    problems += [f"model.{k}" for k in differences(saved["model"], now["model"])]
    if problems:
        return [f"other settings ({', '.join(problems)})"]
    if "data" not in saved:
        warnings.warn(f"{path}: written without a data fingerprint (older code): resuming without checking that "
                      "the data are the same", stacklevel=3)
        return []
    changed = []
    for role in sorted(set(saved["data"]) | set(now["data"])):
        old, new = saved["data"].get(role), now["data"].get(role)
        if old is None or new is None:
            changed.append(f"{role} set {'added' if old is None else 'missing'}")
            continue
        changed += [f"{role} set: {change}" for change in fingerprint_changes(old, new)]
    return [f"other data ({'; '.join(changed)})"] if changed else []
