"""What the chapters share.

* :mod:`~hydronet_nb.book.notebook` -- set-up and profiles, recorded values (``myst_nb.glue``), run folders;
* :mod:`~hydronet_nb.book.plots` -- the figures, in one style;
* :mod:`~hydronet_nb.book.view` -- 3D views (py3Dmol, nglview);
* :mod:`~hydronet_nb.book.published_numbers` -- what the paper and Graphcore published, with sources;
* :mod:`~hydronet_nb.book.prose` -- sentences about data a folder may lack;
* :mod:`~hydronet_nb.book.trajectories` -- the paper's published MD trajectories as a table.
"""
