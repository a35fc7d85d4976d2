"""The paper's IPU-pretrained SchNet (Bilbrey et al. 2022), loaded into PyG's SchNet."""
from __future__ import annotations

from pathlib import Path

import torch

from .schnet import PAPER_CONFIG, SchNetConfig, build_schnet
from ..io.reference_files import fetch

#: the released state_dict names two submodules differently from torch_geometric's SchNet
KEY_RENAMES = {"atom_embedding.": "embedding.", "basis_expansion.": "distance_expansion."}


class CheckpointError(ValueError):
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


def read_state_dict(path: str | Path) -> dict:
    """A state_dict from ``path`` (``weights_only=True``), with a clear error when it is not one."""
    from ..train.checkpoints import read_torch_file

    state = read_torch_file(path, error=CheckpointError)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # the book's own training checkpoints keep the weights under "model"
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: does not hold a state_dict of tensors")
    return state


def load_schnet(path: str | Path, config: SchNetConfig = PAPER_CONFIG) -> torch.nn.Module:
    """A SchNet built with ``config`` carrying the weights in ``path``, in eval mode.

    Raises :class:`CheckpointError` listing expected and found shapes when the file was made for
    another architecture.
    """
    state = rename_keys(read_state_dict(path))
    model = build_schnet(config)
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
            f"{path}: weights do not fit SchNet({config}):\n" + "\n".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_published_model(config: SchNetConfig = PAPER_CONFIG) -> torch.nn.Module:
    """The published IPU-pretrained weights (fetched and checksum-verified), ready to predict."""
    return load_schnet(fetch("published-model"), config)


def load_model(spec: str) -> torch.nn.Module:
    """The one switch the command line and notebooks share: ``"published"`` (the paper's IPU weights),
    ``"pretrained"`` (the book's own, :mod:`hydronet_nb.model.shipped`), a folder written by
    ``hydronet-nb pretrain --export``, or a checkpoint file."""
    from . import shipped as pretrained

    if spec == "published":
        return load_published_model()
    if spec == "pretrained":
        return pretrained.load_pretrained()
    if Path(spec).is_dir():
        return pretrained.load_pretrained(spec)
    return load_schnet(spec)
