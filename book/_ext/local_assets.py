"""Serve MathJax from the book's own ``_static/vendor`` copy when `make vendor` has put it there.

The built pages otherwise load MathJax from a CDN and show raw LaTeX offline. No Sphinx or
jupyter-book option switches to a local copy only when it exists, hence this small extension.
"""
from pathlib import Path

LOCAL_MATHJAX = "vendor/mathjax/tex-mml-chtml.js"  # relative to _static


def _use_local_copy(app, config):
    static = Path(app.confdir) / "book" / "_static"
    if (static / LOCAL_MATHJAX).is_file():
        config.mathjax_path = LOCAL_MATHJAX


def setup(app):
    app.connect("config-inited", _use_local_copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
