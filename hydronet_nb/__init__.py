"""hydronet_nb: the helper package of the HydroNet book, laid out along the way data flow.

* :mod:`hydronet_nb.io` -- files: xyz, PNNL HDF5 and split files, HydroNet's raw zips (and PyG's
  reader of them), the published reference files (downloaded, checked and cached through pooch);
* :mod:`hydronet_nb.data` -- :class:`~hydronet_nb.data.clusters.ClusterSet`, the one container of
  clusters; the catalog and loader of data sets (``datasets``), splits, cards, water geometry,
  hydrogen bonds, exploration tables;
* :mod:`hydronet_nb.reference` -- the reference potentials (AMOEBA2018, GFN2-xTB) and
  ``hydronet-nb generate``, the data-set generator (sampling, checks, chunks, runner, stages, card, CLI);
* :mod:`hydronet_nb.model` -- SchNet, its kNN graph, weights, the published and the shipped models,
  :func:`load_model`, the ASE calculator;
* :mod:`hydronet_nb.train` -- batches and packs, losses, the trainer and its backends (plain, DDP,
  IPU), checkpoints, ``hydronet-nb pretrain`` and the export of its result;
* :mod:`hydronet_nb.evaluate` -- predictions, error metrics, ``hydronet-nb bench``;
* :mod:`hydronet_nb.book` -- what the chapters share: set-up and recorded values, plots, 3D views,
  the paper's published numbers;
* :mod:`hydronet_nb.utils` -- atomic file writes and checksums, config validation, where shipped
  files live (``hydronet_nb/resources/``, data, not code); :mod:`hydronet_nb.units`, :mod:`hydronet_nb.device`.
"""
__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name):
    if name == "load_model":  # lazily: ``import hydronet_nb`` stays cheap for the command line
        from .model.loading import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
