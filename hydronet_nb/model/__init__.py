"""The model: SchNet as the paper used it, its kNN graph, and the weights that fill it.

* :mod:`~hydronet_nb.model.schnet` -- :class:`SchNetConfig`, :func:`build_schnet` (PyG's SchNet with
  the paper's hyperparameters), :func:`energy`, :func:`energy_and_forces`;
* :mod:`~hydronet_nb.model.graph` -- the pure-torch k-nearest-neighbour graph (and a radius graph);
* :mod:`~hydronet_nb.model.weights` -- reading state_dicts safely, the released key names, :class:`CheckpointError`;
* :mod:`~hydronet_nb.model.published` -- the paper's IPU-pretrained weights;
* :mod:`~hydronet_nb.model.shipped` -- the book's own pretrained checkpoint;
* :mod:`~hydronet_nb.model.loading` -- :func:`load_model` (``"published"``, ``"pretrained"``, a folder, a file);
* :mod:`~hydronet_nb.model.calculator` -- any of them as an ASE calculator, and relaxation.
"""
from .schnet import PAPER_CONFIG, SchNetConfig, build_schnet, energy, energy_and_forces

__all__ = ["PAPER_CONFIG", "SchNetConfig", "build_schnet", "energy", "energy_and_forces", "load_model"]


def __getattr__(name):
    if name == "load_model":  # lazily: loading pulls in the reference-file fetcher
        from .loading import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
