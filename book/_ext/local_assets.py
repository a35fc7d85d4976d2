"""Two small fixes to the built pages that no Sphinx or jupyter-book option makes.

* Serve MathJax from the book's own ``_static/vendor`` copy when `make vendor` has put it
  there; the pages otherwise load MathJax from a CDN and show raw LaTeX offline.
* Drop inline scripts that appear twice on a page. Sphinx 7.4 registers an inline script
  added after the builder started (sphinx-thebe's and sphinx-togglebutton's configuration)
  once with the file name ``None`` and once with ``""``, so its own de-duplication misses
  it, and the second ``const THEBE_JS_URL`` is a console error in every browser.
"""
from pathlib import Path

LOCAL_MATHJAX = "vendor/mathjax/tex-mml-chtml.js"  # relative to _static


def _use_local_copy(app, config):
    static = Path(app.confdir) / "book" / "_static"
    if (static / LOCAL_MATHJAX).is_file():
        config.mathjax_path = LOCAL_MATHJAX


def _inline_scripts_once(app, pagename, templatename, context, doctree):
    scripts, seen = context.get("script_files"), set()
    if not isinstance(scripts, list):
        return
    kept = []
    for script in scripts:
        attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
        key = (str(getattr(script, "filename", script) or ""), attributes)
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept  # the builder's own list: fixed once, for every page after this one too


def setup(app):
    app.connect("config-inited", _use_local_copy)
    app.connect("html-page-context", _inline_scripts_once)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
