"""What every chapter calls first, and how chapters record the numbers they report.

``setup(chapter, profile)`` fixes the plotting style, seeds and warning filters and returns the
chapter's settings for the profile:

* ``test``: the smallest run that still exercises every cell (papermill tests, CI);
* ``book``: meaningful results on a laptop CPU (the rendered book);
* ``full``: the real data and the paper's settings, for a GPU or IPU machine.

``$HYDRONET_NB_PROFILE`` overrides the notebook's own choice: it lets a whole-book build run
every chapter with one profile. ``record(name, value)`` stores a value in the executed
notebook (``myst_nb.glue``): the prose quotes it and the tests assert on it.
"""
from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch

PROFILE_ENV = "HYDRONET_NB_PROFILE"
PROFILE_NAMES = ("test", "book", "full")

#: per chapter, the settings of each profile
PROFILES: dict[str, dict[str, dict]] = {
    "quickstart": {
        # the thirteen real minima are tiny: every profile predicts all of them; profiles differ
        # in how far the relaxation of W10 on the model is followed
        "test": {"sizes": list(range(3, 16)), "relax_steps": 15},
        "book": {"sizes": list(range(3, 16)), "relax_steps": 100},
        "full": {"sizes": list(range(3, 16)), "relax_steps": 300},
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


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_style() -> None:
    """The book's plotting style and warning filters."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (6.4, 4.0)})
    warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated.*")


def _short(value) -> str:
    return f"[{value[0]}..{value[-1]}]" if isinstance(value, list) and len(value) > 3 else str(value)


def setup(chapter: str, profile: str, seed: int = 0) -> dict:
    """Style, seeds and warning filters for a chapter; returns its settings for ``profile``."""
    set_style()
    seed_everything(seed)
    cfg = settings(chapter, profile)
    print(f"profile {cfg['profile']!r}: " + ", ".join(f"{k}={_short(v)}" for k, v in cfg.items() if k != "profile"))
    return cfg


def record(name: str, value) -> None:
    """Store ``value`` under ``name`` in the executed notebook (quoted by the prose, read by tests)."""
    from myst_nb import glue

    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    glue(name, value, display=False)
