"""Water clusters in memory and the book's data sets.

* :mod:`~hydronet_nb.data.clusters` -- :class:`ClusterSet`, the one container (flat arrays + offsets,
  :class:`Cluster` objects on demand), and the ASE conversions;
* :mod:`~hydronet_nb.data.datasets` -- the catalog and the one loader (embedded set, PNNL folders, HydroNet);
* :mod:`~hydronet_nb.data.splits` -- split keys, random splits, sampling per size;
* :mod:`~hydronet_nb.data.cards` -- data-set and model cards: JSON sidecars rendered to Markdown;
* :mod:`~hydronet_nb.data.water` -- water in one place: atoms, the monomer, O-H bonds, checks;
* :mod:`~hydronet_nb.data.hbonds` -- hydrogen-bond networks (networkx);
* :mod:`~hydronet_nb.data.explore` -- tables that describe data sets (chapter 1).
"""
from .clusters import Cluster, ClusterSet

__all__ = ["Cluster", "ClusterSet"]
