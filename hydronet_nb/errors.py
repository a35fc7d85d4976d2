"""The package's own error types, in one place: every bad input ends in one of these, its message naming the file
and the row, field or key (``hydronet-nb`` prints it as one line and exits with status 2).

* :class:`InputError` -- the base: a file, config or argument that is not what the package reads;
* :class:`ConfigError` -- a config file or mapping (unknown key, wrong type, bad value);
* ``ClusterFormatError`` (:mod:`hydronet_nb.data.water`; PNNL's ``PNNLFormatError`` derives from it) and
  ``CheckpointError`` (:mod:`hydronet_nb.model.weights`) derive from :class:`InputError`.

:class:`TrainingDiverged` (a ``RuntimeError``) stops a run whose loss stopped being finite.

The input errors derive from ``ValueError``, so code that catches ``ValueError`` keeps working. A path that does not
exist is ``FileNotFoundError`` (naming the path), as everywhere in Python.
"""
from __future__ import annotations


class InputError(ValueError):
    """A file, config or argument the package cannot use; the message names it and the row, field or key."""


class ConfigError(InputError):
    """A config file or mapping with an unknown key, a wrong type or a bad value."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the run, the epoch and the step."""
