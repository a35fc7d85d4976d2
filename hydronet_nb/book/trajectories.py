"""The paper's published (H2O)10 MD trajectories (Graphcore's), as one table per frame: how long the longest O-H bond is."""
from __future__ import annotations

import pandas as pd

from ..data.water import oh_bond_lengths
from ..io.reference_files import GRAPHCORE_MD_RUNS, fetch
from ..io.xyz import read_xyz_clusters
from . import published_numbers as pub

#: what drove each trajectory
MD_LABELS = {"ttm": "TTM2.1-F (reference)", "ipu": "pretrained only (published)",
             "finetune-nonmin_only": "pretrained + finetuned", "scratch-nonmin_only": "scratch on non-minima"}


def longest_oh_bonds(runs=GRAPHCORE_MD_RUNS) -> pd.DataFrame:
    """``model, time_fs, max_OH`` (Angstrom): the longest O-H bond of every frame of each published trajectory.

    Frames are read in the file's ``O H H`` order without regrouping, so a broken molecule shows as a long bond.
    """
    rows = []
    for run in runs:
        frames = read_xyz_clusters(fetch(f"graphcore-w10-md-{run}"), regroup=False)
        rows += [{"model": MD_LABELS[run], "time_fs": k * pub.GRAPHCORE_MD_FRAME_FS, "max_OH": oh_bond_lengths(frame).max()}
                 for k, frame in enumerate(frames)]
    return pd.DataFrame(rows)
