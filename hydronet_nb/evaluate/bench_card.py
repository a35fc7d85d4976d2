"""The bench the book ships: ``hydronet-nb bench --export DIR`` (every timed pass, on a quiet machine) as
``DIR/bench.csv`` with a study card saying where, when and how quietly it ran; chapter 2 draws its figure from
it, and labels its own live bench as this machine, now."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

#: the bench the book ships (a quiet machine, every repeat): the table and its card, in this folder
SHIPPED_TABLE = "bench.csv"


def export_bench(table, dest, command: str, load_before, started: float):
    """Write a run of :func:`run_bench` (every repeat) as ``dest/bench.csv`` with a study card that says where,
    when and how quietly it was measured (the load average before and after); returns the card's path."""
    from ..data.cards import export_study

    with tempfile.TemporaryDirectory() as work:
        csv = Path(work) / SHIPPED_TABLE
        table.to_csv(csv, index=False, float_format="%.6g")
        return export_study(dest, {SHIPPED_TABLE: csv}, {
            "title": "The fast SchNet against PyG's SchNet: every timed pass",
            "command": command, "config": {k: v for k, v in table.attrs.items() if k != "config"},
            "arms": int(len(table)), "train_seconds": float(table["seconds"].sum()),
            "wall_seconds": time.time() - started,
            "measured": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]})


def shipped_bench(folder=None):
    """The bench the book ships (``resources/studies/bench``): the table (``attrs``: its card) or FileNotFoundError."""
    import pandas as pd

    from ..data.cards import STUDY_CARD, read_card
    from ..utils.resources import RESOURCES_DIR

    folder = Path(folder) if folder else RESOURCES_DIR / "studies" / "bench"
    table = pd.read_csv(folder / SHIPPED_TABLE)
    card = read_card(folder, STUDY_CARD)
    table.attrs.update({**card["config"], "card": card})
    return table
