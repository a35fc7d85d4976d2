"""Weights: reading a state_dict safely, the released key names, and loading into a SchNet.

Generic on purpose: nothing here knows which models the package ships or publishes
(:mod:`hydronet_nb.model.published`, :mod:`hydronet_nb.model.shipped`), so both build on it
without an import circle; :func:`hydronet_nb.model.loading.load_model` dispatches between them.
Every read goes through ``torch.load(..., weights_only=True)``: a file cannot run code.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from .schnet import PAPER_CONFIG, SchNetConfig, build_schnet

#: the released state_dict names two submodules differently from torch_geometric's SchNet
KEY_RENAMES = {"atom_embedding.": "embedding.", "basis_expansion.": "distance_expansion."}


class CheckpointError(InputError):
    """A checkpoint that cannot be read, or that belongs to another architecture."""


def rename_keys(state: dict) -> dict:
    """Map the released key names onto PyG's."""
    out = {}
    for key, value in state.items():
        for old, new in KEY_RENAMES.items():
            if key.startswith(old):
                key = new + key[len(old):]
        out[key] = value
    return out


def read_torch_file(path: str | Path, what: str = "PyTorch checkpoint", error: type[Exception] = ValueError):
    """``torch.load(path, weights_only=True)`` onto the CPU; a missing file is FileNotFoundError, an unreadable one ``error``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    # a file that is not a checkpoint makes torch.load raise almost anything (a text file: KeyError from the
    # unpickler), so every Exception of the read is this file's error
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else ""
        raise error(f"{path}: not a readable {what}: torch.load(weights_only=True) failed with "
                    f"{type(exc).__name__}: {first}") from exc


def read_state_dict(path: str | Path) -> dict:
    """A state_dict from ``path`` (``weights_only=True``), with a clear error when it is not one.

    A training checkpoint of :mod:`hydronet_nb.train` (weights under ``"model"``) is accepted too. A tensor
    holding NaN or inf is refused, named.
    """
    state = read_torch_file(path, error=CheckpointError)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # the book's own training checkpoints keep the weights under "model"
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: does not hold a state_dict of tensors")
    for key, value in state.items():  # NaN or inf weights give blank energies: refuse them here
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{path}: tensor {key!r} holds {bad} non-finite value(s) (NaN or inf) of "
                                  f"{value.numel()}; these weights cannot give finite energies")
    return state


def load_weights(model: torch.nn.Module, state: dict, source: str = "weights", what: str | None = None) -> torch.nn.Module:
    """Load ``state`` (released or PyG key names) into ``model`` strictly.

    Raises :class:`CheckpointError` listing expected and found shapes when the weights were made
    for another architecture.
    """
    state = rename_keys(state)
    expected = model.state_dict()
    problems = []
    for key in sorted(set(expected) | set(state)):
        if key not in state:
            problems.append(f"  missing {key}: expected {tuple(expected[key].shape)}")
        elif key not in expected:
            problems.append(f"  unexpected {key}: found {tuple(state[key].shape)}")
        elif expected[key].shape != state[key].shape:
            problems.append(f"  {key}: expected {tuple(expected[key].shape)}, found {tuple(state[key].shape)}")
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit {what or type(model).__name__}:\n" + "\n".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    model.load_state_dict(state, strict=True)
    return model


def load_schnet(path: str | Path, config: SchNetConfig = PAPER_CONFIG, fast: bool = True) -> torch.nn.Module:
    """A SchNet built with ``config`` carrying the weights in ``path``, in eval mode
    (``fast=False``: PyG's own module; see :func:`~hydronet_nb.model.schnet.build_schnet`).

    Raises :class:`CheckpointError` listing expected and found shapes when the file was made for
    another architecture.
    """
    model = build_schnet(config, fast=fast)
    return load_weights(model, read_state_dict(path), str(path), f"SchNet({config})").eval()
