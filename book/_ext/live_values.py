"""The book's side of the prose's recorded values: ``{eval}`v["key:format"]``` without a kernel.

The chapters quote every computed number as ``{eval}`v["key:format"]```. In a live JupyterLab,
jupyterlab-myst evaluates that expression in the kernel (``v`` is
``hydronet_nb.book.notebook.values``). MyST-NB's own ``eval`` role needs its inline execution mode,
which gives up the execution cache (a second `make book` would rerun every chapter), so this role
replaces it: it reads ``key`` from the values the executed notebook recorded (MyST-NB's glue data)
and formats it with the same function the kernel uses, ``hydronet_nb.book.formatting.as_text``.
A recorded sentence (Markdown) is parsed as inline MyST. An unknown key or a malformed reference is a
warning, so `-W` fails the build.
"""
from __future__ import annotations

import re

from docutils import nodes
from myst_nb.core.render import MimeData
from myst_nb.core.variables import RetrievalError
from myst_nb.ext.glue.utils import glue_warning, retrieve_glue_data
from myst_nb.ext.utils import RoleBase

from hydronet_nb.book.formatting import as_text, recorded_value, split_key

#: the one expression form the prose uses
REFERENCE = re.compile(r"""^v\[(["'])(?P<ref>[^"']+)\1\]$""")


class RecordedValueRole(RoleBase):
    """``{eval}`v["key:format"]```: the recorded value ``key``, formatted as in the live kernel."""

    def run(self):
        match = REFERENCE.match(self.text.strip())
        if match is None:
            message = f'eval: {self.text!r} is not of the form v["key:format"]'
            return [], [glue_warning(message, self.document, self.line)]
        try:
            key, spec = split_key(match["ref"])
            result = retrieve_glue_data(self.document, key)
        except (KeyError, RetrievalError) as exc:
            return [], [glue_warning(str(exc), self.document, self.line)]
        if "text/markdown" in result.data:
            cell_key = result.nb_renderer.renderer.nb_config.cell_metadata_key
            mime = MimeData("text/markdown", result.data["text/markdown"],
                            cell_metadata={cell_key: {"markdown_format": "myst"}},
                            output_metadata=result.metadata, line=self.line)
            found = result.nb_renderer.render_markdown_inline(mime)
        else:
            try:
                text = as_text(recorded_value(result.data["text/plain"]), spec)
            except (KeyError, ValueError, TypeError) as exc:
                message = f"eval: cannot format {key!r} with {spec!r}: {exc}"
                return [], [glue_warning(message, self.document, self.line)]
            found = [nodes.inline(text, text, classes=["pasted-text"])]
        for node in found:
            self.set_source_info(node)
        return found, []


def setup(app):
    app.add_role("eval", RecordedValueRole(), override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
