"""Two small fixes to the built pages that no Sphinx or jupyter-book option makes.

* Serve MathJax from the book's own ``_static/vendor`` copy when `make vendor` has put it
  there; the pages otherwise load MathJax from a CDN and show raw LaTeX offline.
* Drop inline scripts that appear twice on a page. Sphinx 7.4 registers an inline script
  added after the builder started (sphinx-thebe's and sphinx-togglebutton's configuration)
  once with the file name ``None`` and once with ``""``, so its own de-duplication misses
  it, and the second ``const THEBE_JS_URL`` is a console error in every browser.
* Bring changed static files (``book/_static``: the book's CSS) into a build whose pages are all
  up to date: Sphinx then skips its writing phase, static files included, and a second
  `make book` would keep the old stylesheet. The root page is marked outdated instead.
"""
import filecmp
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


def _static_changed(app, env, added, changed, removed):
    out = Path(app.outdir) / "_static"
    for entry in app.config.html_static_path:
        if Path(entry).is_absolute():
            continue  # an extension's own files (and templates), unchanged between builds
        source = Path(app.confdir) / entry
        for path in source.rglob("*"):
            if any(part.startswith(".") for part in path.relative_to(source).parts):
                continue  # Sphinx does not copy hidden files (`make vendor`'s stamp)
            target = out / path.relative_to(source)
            # Sphinx copies modification times with the files, so size and mtime tell a change
            if path.is_file() and not (target.is_file() and filecmp.cmp(path, target, shallow=True)):
                return [app.config.root_doc]
    return []


def setup(app):
    app.connect("config-inited", _use_local_copy)
    app.connect("html-page-context", _inline_scripts_once)
    app.connect("env-get-outdated", _static_changed)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
