"""The data-set card of a generated folder: the facts of a run of ``hydronet-nb generate`` as ``DATASET.json``.

:func:`dataset_facts` collects them (command, times, potentials, libraries, settings, what
happened to every structure, checksums); :func:`hydronet_nb.data.cards.write_card` writes the JSON
and renders ``DATASET.md`` from it.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..data.cards import DATASET_CARD, write_card
from ..utils.files import sha256_of
from .checks import BROKEN_OH, BROKEN_OO, DUPLICATE_DISTANCE, DUPLICATE_ENERGY
from .chunks import shared_potential
from .settings import Settings
from .stages import Stage

#: the libraries whose versions make a data set what it is
LIBRARIES = ("openmm", "tblite", "ase", "numpy", "scipy", "h5py")


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    from .. import __version__

    return {"hydronet_nb": __version__, "python": platform.python_version(), **{d: version(d) for d in LIBRARIES}}


def potential_settings() -> dict:
    return {"amoeba": shared_potential("amoeba").settings(), "xtb": shared_potential("xtb").settings()}


def _rows(stage: Stage) -> list[dict]:
    rows = []
    for n, t, kept in stage.table():
        if t is None:
            rows.append({"waters": n, "kept": kept})
            continue
        rows.append({"waters": n, "wanted": t.wanted, "attempts": t.attempts, "rejected": dict(t.rejected),
                     "duplicates": t.duplicates, "unique": t.unique, "kept": kept if n else None,
                     "cpu_seconds": t.cpu_seconds})
    return rows


def dataset_facts(settings: Settings, stages: dict[str, Stage], files: list[Path], *, command: str,
                  wall_seconds: float, reused: int) -> dict:
    """The facts of a data-set card, as plain JSON-ready data."""
    cpu = sum(t.cpu_seconds for s in stages.values() for t in s.tallies.values())
    potentials = [{"label": p.name, "settings": p.settings(), "monomer_energy": p.monomer_energy}
                  for p in (shared_potential("amoeba"), shared_potential("xtb"))]
    facts = {
        "command": command, "wall_seconds": wall_seconds, "reused_chunks": reused, "cpu_seconds": cpu,
        "potentials": potentials, "libraries": library_versions(), "settings": dataclasses.asdict(settings),
        "checks": {"broken_oo": BROKEN_OO, "broken_oh": BROKEN_OH, "duplicate_energy": DUPLICATE_ENERGY,
                   "duplicate_distance": DUPLICATE_DISTANCE},
        "stages": {name: {"clusters": len(stage.pos), "rows": _rows(stage),
                          "errors": [{"waters": n, "message": e} for n, t, _ in stage.table() if t for e in t.errors]}
                   for name, stage in stages.items()},
        "files": [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_of(p)} for p in files],
    }
    return json.loads(json.dumps(facts))  # tuples as lists, numpy numbers as plain ones


def write_dataset_card(out: Path, settings: Settings, stages: dict[str, Stage], files: list[Path], *, command: str,
                       wall_seconds: float, reused: int) -> Path:
    """``DATASET.json`` and ``DATASET.md`` in ``out``; returns the Markdown's path."""
    return write_card(out, DATASET_CARD, dataset_facts(settings, stages, files, command=command,
                                                       wall_seconds=wall_seconds, reused=reused))
