"""What the chapters share.

* :mod:`~hydronet_nb.book.notebook` -- set-up and profiles, recorded values (``myst_nb.glue`` and ``values``,
  which the prose quotes as ``{eval}`v["key:format"]```), run folders, progress bars in a live kernel;
* :mod:`~hydronet_nb.book.formatting` -- how a recorded value reads in a sentence (live and in the built book);
* :mod:`~hydronet_nb.book.tables` -- tables shaped to fit the page;
* :mod:`~hydronet_nb.book.plots` -- the figures, in one style (:mod:`~hydronet_nb.book.figure_style`: one colour
  per model and data set), with :mod:`~hydronet_nb.book.force_plots`, :mod:`~hydronet_nb.book.transfer_plots`
  and :mod:`~hydronet_nb.book.md_plots` for chapters 3 to 5;
* :mod:`~hydronet_nb.book.figure_check` -- colliding texts in a figure (``$HYDRONET_NB_CHECK_FIGURES`` makes every
  chapter figure fail its cell on one; the tests set it);
* :mod:`~hydronet_nb.book.view` -- 3D views (py3Dmol; nglview live);
* :mod:`~hydronet_nb.book.published_numbers` -- what the paper and Graphcore published, with sources;
* :mod:`~hydronet_nb.book.prose` -- sentences about data a folder may lack;
* :mod:`~hydronet_nb.book.timing` -- the chapter times the teachers' page quotes;
* :mod:`~hydronet_nb.book.trajectories` -- the paper's published MD trajectories as a table.
"""
