"""Files in, clusters out: every reader returns a :class:`~hydronet_nb.data.clusters.ClusterSet`.

* :mod:`~hydronet_nb.io.xyz` -- xyz files whose comment line carries the energy;
* :mod:`~hydronet_nb.io.pnnl` -- PNNL's HDF5 layout and its split files (read and write);
* :mod:`~hydronet_nb.io.hydronet` -- HydroNet's raw ``W{N}_geoms_all.zip`` in float32, and PyG's own reader;
* :mod:`~hydronet_nb.io.reference_files` -- the published files (weights, minima, trajectories):
  pooch's registry, cache and checksums, plus ``$HYDRONET_NB_MIRROR``.
"""
