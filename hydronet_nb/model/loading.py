"""``load_model(spec)``: the one switch the command line and the chapters share."""
from __future__ import annotations

from pathlib import Path

import torch

from .catalog import shipped_folder, shipped_names, suggestion
from .published import load_published_model
from .shipped import load_pretrained
from .weights import load_schnet



def model_names() -> tuple[str, ...]:
    """The names :func:`load_model` knows besides folders and files: ``published`` and the shipped models."""
    return ("published", *shipped_names())


def load_model(spec: str | Path, fast: bool = True) -> torch.nn.Module:
    """A SchNet ready to predict (eval mode), from ``spec``:

    * ``"published"``: the paper's IPU-pretrained weights (:mod:`hydronet_nb.model.published`);
    * ``"pretrained"`` or another shipped model's name (``hydronet-nb models`` lists them;
      :mod:`hydronet_nb.model.catalog`);
    * a folder written by ``hydronet-nb pretrain --export``;
    * a checkpoint file (a state_dict, or a training checkpoint such as ``best.pt``), with the paper's hyperparameters.

    The module has PyG SchNet's signature, ``forward(z, pos, batch) -> energies [clusters, 1]``, and its
    ``state_dict`` keys. ``fast`` (default): the tabulated fast path (:mod:`hydronet_nb.model.fast`);
    ``fast=False``: PyG's own module with the same weights.
    """
    spec = str(spec)
    if spec == "published":
        return load_published_model(fast=fast)
    if spec in shipped_names():
        return load_pretrained(shipped_folder(spec), fast=fast)
    if Path(spec).is_dir():
        return load_pretrained(spec, fast=fast)
    if not Path(spec).exists():
        raise FileNotFoundError(f"{spec}: no such checkpoint file, folder or model name"
                                f"{suggestion(spec, model_names())}; the names: {', '.join(model_names())} "
                                "(`hydronet-nb models` lists the shipped ones)")
    return load_schnet(spec, fast=fast)
