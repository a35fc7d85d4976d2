"""Splits of a data set into training, validation, test and active-learning pools, in one place.

A split file ``split_NN_<name>.npz`` (read and written by :mod:`hydronet_nb.io.pnnl`) holds integer
row indices under :data:`SPLIT_KEYS`: PNNL's names, the first three required. ``examine_idx`` is
the pool active sampling examines, ``reserve_idx`` the one it has not touched yet.
"""
from __future__ import annotations

import numpy as np

#: the parts of a split, in order, and the keys they are stored under
SPLIT_PARTS = ("train", "val", "test", "examine", "reserve")
SPLIT_KEYS = tuple(f"{part}_idx" for part in SPLIT_PARTS)
#: the keys every split file must have
REQUIRED_KEYS = SPLIT_KEYS[:3]
#: train, validation and test fractions of the random split used when no split file is given (the paper's)
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_key(part: str) -> str:
    """``"train"`` -> ``"train_idx"``; a KeyError for a part that does not exist."""
    if part not in SPLIT_PARTS:
        raise KeyError(f"unknown split part {part!r}; known: {', '.join(SPLIT_PARTS)}")
    return f"{part}_idx"


def split_file_name(name: str, split: int = 0) -> str:
    """The split file of data set ``name``: ``split_00_min.npz``."""
    return f"split_{split:02d}_{name}.npz"


def split_indices(n: int, fractions, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random partition of ``range(n)`` into the parts of :data:`SPLIT_PARTS` with ``fractions`` (rounded).

    ``fractions`` may list only the first parts; the rest get none. Each part's indices are sorted.
    """
    fractions = tuple(fractions) + (0.0,) * (len(SPLIT_PARTS) - len(tuple(fractions)))
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    bounds[-1] = n
    parts = np.split(rng.permutation(n), bounds[:-1])
    return {key: np.sort(p) for key, p in zip(SPLIT_KEYS, parts)}


def random_split(n: int, seed: int, fractions=DEFAULT_FRACTIONS) -> dict[str, np.ndarray]:
    """Train, validation and test indices of ``range(n)`` drawn with ``seed`` (:func:`split_indices`)."""
    parts = split_indices(n, fractions, np.random.default_rng(seed))
    return {key: parts[key] for key in REQUIRED_KEYS}


def sample_rows(size: np.ndarray, per_size: int | None, seed: int = 0) -> np.ndarray:
    """Row indices of at most ``per_size`` clusters of each size (all rows when None), drawn at random, sorted."""
    if per_size is None:
        return np.arange(len(size))
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(size == n))[:per_size] for n in np.unique(size)]
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


def shrink(split: dict, *, train: int | None = None, val: int | None = None, test: int | None = None,
           examine: int | None = None, train_seed: int | None = None) -> dict[str, np.ndarray]:
    """A smaller copy of a five-part split (a chapter's demo, a study's arm): the first ``val`` and ``test``
    rows of those parts; ``train`` rows of the training part (the first ones, or drawn with
    ``train_seed``); an examine pool of the first ``examine`` rows of examine + reserve, the rest the
    reserve. ``None`` keeps a part whole. Asking for more rows than a part has is an error naming it.
    """
    parts = {key: np.asarray(split.get(key, np.zeros(0)), dtype=np.int64) for key in SPLIT_KEYS}
    pool = np.concatenate([parts["examine_idx"], parts["reserve_idx"]])
    counts = {"train_idx": train, "val_idx": val, "test_idx": test}
    for key, n in {**counts, "examine_idx": examine}.items():
        have = len(pool) if key == "examine_idx" else len(parts[key])
        if n is not None and not 0 <= n <= have:
            raise ValueError(f"{n} rows asked of split part {key[:-4]!r}, which has {have}")
    out = dict(parts)
    for key, n in counts.items():
        if n is not None:
            rows = parts[key]
            if key == "train_idx" and train_seed is not None:
                out[key] = np.sort(np.random.default_rng(train_seed).choice(rows, size=n, replace=False))
            else:
                out[key] = rows[:n]
    if examine is not None:
        out["examine_idx"], out["reserve_idx"] = pool[:examine], pool[examine:]
    return out
