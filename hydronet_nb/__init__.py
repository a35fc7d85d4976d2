"""hydronet_nb: the helper package of the HydroNet book.

Small modules, one job each: ``graph`` (kNN interaction graph), ``model`` (SchNet, energies,
forces), ``published`` (the paper's weights), ``reference_files`` (fetch, verify, cache),
``clusters``/``xyz`` (structures and files), ``predict`` (tables of predictions), ``units``,
``device``/``ipu`` (where to run), ``notebook`` (set-up and recorded values for the chapters).
"""
__version__ = "0.1.0"
