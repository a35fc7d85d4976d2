"""``python -m hydronet_nb.book.timing --profile test``: run every chapter of the table of contents with one
profile, from a clean kernel, and record how long each took and on what.

The "For teachers" page quotes the table it writes (``book/_static/chapter_times_<profile>.csv``: chapter,
title, minutes, profile, hardware, date), so the times a teacher plans a session with are measured, not typed;
:func:`page_table` is what the page shows of it (``book/_ext/chapter_times.py``): each chapter's time, under a
caption naming the machine, the date and the profile of the measurement, all read from the CSV.
Chapter runs are papermill executions into a temporary folder (the book's own cache is not touched); the
chapters' training runs go to a temporary ``HYDRONET_NB_RUNS`` so that none is continued from an earlier run.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "book" / "_static"


def toc_chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def title_of(notebook: Path) -> str:
    """The first Markdown heading of a notebook."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


def time_chapters(profile: str, chapters: list[Path] | None = None) -> pd.DataFrame:
    """Execute each chapter with ``profile``; one row per chapter."""
    import papermill
    from tqdm.auto import tqdm

    from ..device import describe_hardware

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["HYDRONET_NB_RUNS"] = str(Path(scratch) / "runs")
        for notebook in tqdm(chapters or toc_chapters(), desc=f"chapters ({profile} profile)"):
            start = time.perf_counter()
            papermill.execute_notebook(str(notebook), str(Path(scratch) / notebook.name), parameters={"profile": profile},
                                       cwd=str(notebook.parent), progress_bar=False, kernel_name="python3")
            rows.append({"chapter": notebook.stem, "title": title_of(notebook),
                         "minutes": round((time.perf_counter() - start) / 60, 2)})
    hardware = describe_hardware().split("; torch")[0]
    return pd.DataFrame(rows).assign(profile=profile, hardware=hardware, date=datetime.date.today().isoformat())


def page_table(csv: Path) -> tuple[str, list[tuple[str, str]]]:
    """The caption and the rows (chapter title, run time in words) the teachers' page shows of ``csv``.

    The caption says where, when and with which profile the times were measured (several values of one
    field are listed), so that no time reads as a fact about every machine."""
    from .formatting import duration_text

    table = pd.read_csv(csv)
    missing = {"title", "minutes", "profile", "hardware", "date"} - set(table.columns)
    if missing:
        raise ValueError(f"{csv}: no column {', '.join(sorted(missing))} (written by {__name__})")

    def listed(column: str) -> str:
        return "; ".join(dict.fromkeys(str(value) for value in table[column]))

    caption = (f"Measured on {listed('hardware')}, {listed('date')}, {listed('profile')} profile, "
               "each chapter from a clean kernel")
    rows = [(str(row.title), duration_text(60 * float(row.minutes))) for row in table.itertuples()]
    return caption, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="test", choices=("test", "book", "full"))
    parser.add_argument("--out", type=Path, help="CSV to write (default: book/_static/chapter_times_<profile>.csv)")
    args = parser.parse_args(argv)
    table = time_chapters(args.profile)
    out = args.out or STATIC / f"chapter_times_{args.profile}.csv"
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
