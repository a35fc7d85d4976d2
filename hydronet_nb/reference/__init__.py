"""Reference data from open potentials: AMOEBA2018 (OpenMM) and GFN2-xTB (tblite), and ``hydronet-nb generate``.

* :mod:`~hydronet_nb.reference.potentials` -- the potentials (and an adapter for PNNL's TTM2.1-F);
* the generator, along its steps: :mod:`~hydronet_nb.reference.settings` (what determines the output),
  :mod:`~hydronet_nb.reference.sampling` (random starts and moves), :mod:`~hydronet_nb.reference.checks`
  (broken clusters, duplicates), :mod:`~hydronet_nb.reference.chunks` (the unit of work),
  :mod:`~hydronet_nb.reference.runner` (resumable, parallel), :mod:`~hydronet_nb.reference.stages`
  (scheduling per data set), :mod:`~hydronet_nb.reference.card` (``DATASET.json``),
  :mod:`~hydronet_nb.reference.generate` (the whole run), :mod:`~hydronet_nb.reference.cli` (the command).
"""
