"""The teachers' table of chapter run times: ``{chapter-times} _static/chapter_times_test.csv``.

The CSV is written by ``python -m hydronet_nb.book.timing --profile PROFILE``. The table shows each chapter's
title and run time, under a caption that names the machine, the date and the profile of the measurement, all
read from the CSV (:func:`hydronet_nb.book.timing.page_table`): a time measured on one machine on one day is
not a fact about every machine. Two narrow columns, so the table fits the text column.
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from hydronet_nb.book.timing import page_table


def _row(texts) -> nodes.row:
    row = nodes.row()
    for text in texts:
        entry = nodes.entry()
        entry += nodes.paragraph(text=text)
        row += entry
    return row


class ChapterTimes(SphinxDirective):
    """``{chapter-times} PATH``: PATH relative to the page, as csv-table's ``:file:``."""

    required_arguments = 1

    def run(self):
        relative, found = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        try:
            caption, rows = page_table(Path(found))
        except (OSError, ValueError) as exc:
            raise self.error(f"chapter-times: {exc}") from exc
        table = nodes.table(classes=["chapter-times"])
        table += nodes.title(text=caption)
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=8)
        group += nodes.colspec(colwidth=2)
        head, body = nodes.thead(), nodes.tbody()
        head += _row(("chapter", "run time"))
        for row in rows:
            body += _row(row)
        group += head
        group += body
        return [table]


def setup(app):
    app.add_directive("chapter-times", ChapterTimes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
