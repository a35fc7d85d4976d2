"""What every chapter calls first, and how chapters record the numbers they report.

``setup(chapter, profile)`` fixes the plotting style, seeds and warning filters and returns the
chapter's settings for the profile:

* ``test``: the smallest run that still exercises every cell (papermill tests, CI);
* ``book``: meaningful results on a laptop CPU (the rendered book);
* ``full``: the real data and the paper's settings, for a GPU or IPU machine.

``$HYDRONET_NB_PROFILE`` overrides the notebook's own choice: it lets a whole-book build run
every chapter with one profile. ``record(name, value)`` stores a value in the executed
notebook (``myst_nb.glue``, read by the tests and the built book) and in :data:`values`, which the
prose quotes as ``{eval}`v["name:format"]``` (``v`` is :data:`values`): jupyterlab-myst evaluates it in
a live kernel, ``book/_ext/live_values.py`` reads the recorded value in the built book, and both format
it with :func:`hydronet_nb.book.formatting.as_text`. Every key a chapter quotes is recorded on every
path through it (sentences about data a folder may lack are recorded whole, with :func:`record_text`
and :mod:`hydronet_nb.book.prose`). :func:`run_folder` is where a
chapter's training runs live, so that rerunning the chapter continues them.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import textwrap
import time
from pathlib import Path

import numpy as np

PROFILE_ENV = "HYDRONET_NB_PROFILE"
#: set by the book's build (`make book`, the tests' build): outputs become static HTML, so no progress
#: bars or widgets
STATIC_ENV = "HYDRONET_NB_STATIC"
#: the folder holding the chapters' training runs (default: ``runs/`` in the cache folder)
RUNS_ENV = "HYDRONET_NB_RUNS"
PROFILE_NAMES = ("test", "book", "full")
#: when and with which profile the running chapter called :func:`setup` (read by :func:`finish`)
_STARTED: dict = {}

#: per chapter, the settings of each profile
PROFILES: dict[str, dict[str, dict]] = {
    "quickstart": {
        # the thirteen real minima are tiny: every profile predicts all of them; profiles differ
        # in how far the relaxation of W10 on the model is followed
        "test": {"sizes": list(range(3, 16)), "relax_steps": 15},
        "book": {"sizes": list(range(3, 16)), "relax_steps": 100},
        "full": {"sizes": list(range(3, 16)), "relax_steps": 300},
    },
    "data_exploration": {
        # energies and sizes always cover every cluster; the per-cluster analyses (hydrogen-bond networks,
        # distances, scatter points) take at most this many clusters of each data set and size (None: all).
        # reference_sizes: the TTM2.1-F global minima compared with (cheap: 13 AMOEBA minimizations).
        # hydronet_sizes: sizes read from <data_dir>/raw/W{N}_geoms_all.zip when data_dir holds the real HydroNet.
        "test": {"structure_per_size": 4, "distance_per_size": 10, "scatter_per_size": None,
                 "reference_sizes": list(range(3, 16)), "hydronet_sizes": None},
        "book": {"structure_per_size": 150, "distance_per_size": None, "scatter_per_size": 300,
                 "reference_sizes": list(range(3, 16)), "hydronet_sizes": None},
        "full": {"structure_per_size": 1000, "distance_per_size": 2000, "scatter_per_size": 2000,
                 "reference_sizes": list(range(3, 16)), "hydronet_sizes": list(range(3, 31))},
    },
    "pretraining": {
        # demo_*: clusters of the embedded minima in the chapter's own short training run (None: the whole split);
        # bench_*: clusters per variant in the speed comparison, timed passes, MD steps and sizes;
        # eval_per_size: test and W26-W30 clusters per size the shipped checkpoint is evaluated on (None: all)
        "test": {"demo_train": 48, "demo_val": 16, "demo_epochs": 3, "bench_clusters": 8, "eval_per_size": 2,
                 "bench_repeats": 1, "bench_md_steps": 2, "bench_md_sizes": (10,)},
        "book": {"demo_train": 800, "demo_val": 200, "demo_epochs": 10, "bench_clusters": 32, "eval_per_size": None,
                 "bench_repeats": 1, "bench_md_steps": 5, "bench_md_sizes": (10, 20, 30)},
        "full": {"demo_train": None, "demo_val": None, "demo_epochs": 30, "bench_clusters": 256, "eval_per_size": None,
                 "bench_repeats": 3, "bench_md_steps": 20, "bench_md_sizes": (10, 20, 30)},
    },
    "force_finetuning": {
        # demo_*: the live run of active sampling (clusters of the embedded non-minima's split, its
        # schedule); eval_per_size: test minima and non-minima per size for the static errors (None: all)
        "test": {"demo_train": 40, "demo_val": 16, "demo_examine": 16, "demo_test": 16,
                 "demo_schedule": {"initial_epochs": 1, "rounds": 2, "epochs_per_round": 1, "final_epochs": 1},
                 "eval_per_size": 2},
        "book": {"demo_train": 800, "demo_val": 200, "demo_examine": 500, "demo_test": 200,
                 "demo_schedule": {"initial_epochs": 4, "rounds": 3, "epochs_per_round": 2, "final_epochs": 2},
                 "eval_per_size": None},
        "full": {"demo_train": None, "demo_val": None, "demo_examine": None, "demo_test": None,
                 "demo_schedule": {"initial_epochs": 50, "rounds": 50, "epochs_per_round": 10, "final_epochs": 50},
                 "eval_per_size": None},
    },
    "pes_transfer": {
        # demo_*: the live transfer (training minima of the new surface, validation and test rows, epochs) run
        # from the pretrained model and from scratch; eval_per_size: test minima per size and surface for
        # Table 2 and Figure 3 (None: all); rescale_train: training minima the linear rescaling is fitted on
        "test": {"demo_samples": 32, "demo_val": 16, "demo_test": 16, "demo_epochs": 2, "eval_per_size": 2,
                 "rescale_train": 64},
        "book": {"demo_samples": 250, "demo_val": 200, "demo_test": None, "demo_epochs": 40, "eval_per_size": None,
                 "rescale_train": None},
        "full": {"demo_samples": 4000, "demo_val": None, "demo_test": None, "demo_epochs": 400,
                 "eval_per_size": None, "rescale_train": None},
    },
    "molecular_dynamics": {
        # live_*: the chapter's own runs (W10, every model and AMOEBA2018); nve_*: the energy-conservation runs;
        # bench_*: replicas and steps of the batched-integrator bench. The full grid is the shipped md-study.
        "test": {"live_seeds": 2, "live_steps": 120, "every": 10, "nve_steps": 60, "nve_every": 3,
                 "bench_replicas": (1, 2), "bench_steps": 3},
        "book": {"live_seeds": 4, "live_steps": 1000, "every": 10, "nve_steps": 2000, "nve_every": 5,
                 "bench_replicas": (1, 10), "bench_steps": 20},
        "full": {"live_seeds": 10, "live_steps": 1000, "every": 10, "nve_steps": 10000, "nve_every": 10,
                 "bench_replicas": (1, 10, 100), "bench_steps": 50},
    },
}


def settings(chapter: str, profile: str) -> dict:
    """The settings of ``chapter`` for ``profile`` (after the environment override)."""
    profile = os.environ.get(PROFILE_ENV) or profile
    if chapter not in PROFILES:
        raise KeyError(f"unknown chapter {chapter!r}; known: {', '.join(PROFILES)}")
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}")
    return {"profile": profile, **PROFILES[chapter][profile]}


def _short(value) -> str:
    return f"[{value[0]}..{value[-1]}]" if isinstance(value, list) and len(value) > 3 else str(value)


def setup(chapter: str, profile: str, seed: int = 0) -> dict:
    """Style, seeds and warning filters for a chapter; returns its settings for ``profile``."""
    from ..train.config import seed_everything
    from .plots import set_style

    set_style()  # the one seeding function, shared with the trainer

    seed_everything(seed)
    cfg = settings(chapter, profile)
    _STARTED.update(seconds=time.perf_counter(), profile=cfg["profile"])
    line = f"profile {cfg['profile']!r}: " + ", ".join(f"{k}={_short(v)}" for k, v in cfg.items() if k != "profile")
    print(textwrap.fill(line, width=88, subsequent_indent="  "))  # a page's output area: no sideways scroll
    return cfg


def live() -> bool:
    """True in a kernel someone watches (JupyterLab, papermill); False in the book's build
    (``$HYDRONET_NB_STATIC``), whose pages are static: no progress bars, no widgets."""
    return not os.environ.get(STATIC_ENV)


def progress(items, desc: str):
    """``items`` with a progress bar in a live kernel (tqdm's notebook bar), quietly in the book's build."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, disable=not live(), leave=False)


def finish() -> None:
    """Record how long the chapter ran (from :func:`setup` to this call), on what and with which profile:
    ``page_minutes``, ``page_hardware``, ``page_profile``, ``page_date``; the page shows the line this prints at
    its end."""
    from ..device import describe_hardware
    from .formatting import duration_text

    if not _STARTED:
        raise RuntimeError("finish() before setup(): call hydronet_nb.book.notebook.setup(chapter, profile) first")
    minutes = (time.perf_counter() - _STARTED["seconds"]) / 60
    hardware = describe_hardware().split("; torch")[0]
    today = datetime.date.today().isoformat()
    record_all({"page_minutes": minutes, "page_hardware": hardware, "page_profile": _STARTED["profile"],
                "page_date": today})
    took = duration_text(60 * minutes)
    print(textwrap.fill(f"This page's last run took {took} on {hardware}, {_STARTED['profile']} profile, {today} "
                        "(that machine, that day; a busy or slower machine takes longer).", width=88))


class Values(dict):
    """The values a chapter recorded, as the prose reads them: ``values["key:.2f"]`` is the text of
    ``key`` in format ``.2f`` (:func:`hydronet_nb.book.formatting.as_text`); a recorded sentence
    (Markdown) is returned as it is, for the live kernel to render."""

    def __getitem__(self, reference: str):
        from .formatting import as_text, split_key

        key, spec = split_key(reference)
        if key not in self:
            raise KeyError(f"{key!r} is not recorded yet: run the cells above this one first")
        value = dict.__getitem__(self, key)
        return value if hasattr(value, "_repr_markdown_") else as_text(value, spec)


#: every value recorded in this kernel; the chapters name it ``v`` (``from ... import values as v``)
values = Values()


def record(name: str, value) -> None:
    """Store ``value`` under ``name`` in the executed notebook and in :data:`values` (quoted by the prose,
    read by tests)."""
    from myst_nb import glue

    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    glue(name, value, display=False)
    dict.__setitem__(values, name, value)


def record_all(values: dict) -> None:
    """:func:`record` every item of ``values``."""
    for name, value in values.items():
        record(name, value)


def record_text(name: str, markdown: str) -> None:
    """Store a sentence or paragraph (Markdown) under ``name``, quoted as ``{eval}`v["name"]``` in the prose."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(markdown), display=False)
    dict.__setitem__(values, name, Markdown(markdown))


def size_range(sizes) -> str:
    """``[3, ..., 25]`` as ``"W3-W25"`` (a single size as ``"W3"``)."""
    lo, hi = int(min(sizes)), int(max(sizes))
    return f"W{lo}" if lo == hi else f"W{lo}-W{hi}"


def run_folder(name: str, profile: str, *identity, fresh: bool = False) -> Path:
    """Where chapter run ``name`` writes its checkpoints, so that rerunning the chapter continues it.

    ``$HYDRONET_NB_RUNS/<name>-<profile>[-<hash of identity>]`` (default: ``<cache>/runs``); ``identity``
    (e.g. the data folder) keeps runs on other data apart. The trainer refuses to continue a run on
    data whose fingerprint changed, naming the change. A folder that exists is continued, and the cell
    says so with the way to start afresh; ``fresh=True`` (the chapters' ``fresh_run`` parameter) deletes
    it first.
    """
    import shutil

    from ..io.reference_files import cache_dir

    root = Path(os.environ.get(RUNS_ENV) or cache_dir() / "runs")
    tag = "-" + hashlib.sha256(repr(identity).encode()).hexdigest()[:8] if any(i is not None for i in identity) else ""
    folder = root / f"{name}-{os.environ.get(PROFILE_ENV) or profile}{tag}"
    if folder.is_dir() and fresh:
        shutil.rmtree(folder)
        print(textwrap.fill(f"fresh_run: deleted the earlier run in {folder}; this one starts from the beginning",
                            width=88, break_long_words=False, break_on_hyphens=False))
    elif folder.is_dir() and any(folder.iterdir()):
        print(textwrap.fill(f"continuing the earlier run in {folder}: what it finished is reused, not run again "
                            "(to start afresh: fresh_run = True in the parameters cell)", width=88,
                            break_long_words=False, break_on_hyphens=False))
    return folder


def set_style() -> None:
    """The book's plotting style (:func:`hydronet_nb.book.plots.set_style`)."""
    from .plots import set_style as style

    style()


def join_numbers(values, fmt: str = ".0f", word: str = "and") -> str:
    """``(260.0, 300.0)`` as ``"260 and 300"``."""
    texts = [format(v, fmt) for v in values]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + f" {word} " + texts[-1]


def record_sentence(name: str, values: dict | None = None, present: bool | None = None) -> None:
    """Record sentence ``name`` of :mod:`hydronet_nb.book.prose` as ``<name>_text``: filled with ``values``, or its
    stand-in when the data are absent (``present`` defaults to ``values is not None``)."""
    from .prose import sentence

    record_text(f"{name}_text", sentence(name, values, values is not None if present is None else present))
