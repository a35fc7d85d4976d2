"""``hydronet-nb models``: the models the package ships, one folder each under ``hydronet_nb/resources/models/``.

Every folder was written by the command named in its card (``MODEL.json``): weights
(``schnet.pt``, a plain state_dict in PyG's key names), the config, the learning curve, the
test errors. Its name is what :func:`hydronet_nb.load_model` and ``--model`` accept.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..utils.resources import RESOURCES_DIR

MODELS_DIR = RESOURCES_DIR / "models"
#: the weights file of a shipped folder
WEIGHTS = "schnet.pt"


def shipped_names() -> list[str]:
    """Names of the shipped models (folders holding weights and a card), sorted."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / WEIGHTS).is_file() and (p / "MODEL.json").is_file())


def suggestion(name: str, names) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``names`` to a mistyped ``name`` (difflib), or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), list(names), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def shipped_folder(name: str) -> Path:
    """The folder of shipped model ``name``; KeyError listing the known names (and the closest) otherwise."""
    if name not in shipped_names():
        raise KeyError(f"no shipped model {name!r}{suggestion(name, shipped_names())}; "
                       f"shipped: {', '.join(shipped_names()) or 'none'}")
    return MODELS_DIR / name


def shipped_models() -> list[dict]:
    """One dict per shipped model: ``name, path`` (the weights file), ``sha256`` (of the file), ``card_sha256`` (what
    its card records; loading refuses the model when the two differ), ``title``, ``trained_on``
    (data files of its card), ``command``, ``metrics`` (the card's test metrics)."""
    from ..utils.files import cached_sha256_of

    out = []
    for name in shipped_names():
        folder = MODELS_DIR / name
        card = json.loads((folder / "MODEL.json").read_text())
        out.append({"name": name, "path": str(folder / WEIGHTS), "sha256": cached_sha256_of(folder / WEIGHTS),
                    "card_sha256": card.get("weights_sha256"), "title": card.get("title", ""),
                    "command": card.get("command", ""),
                    "trained_on": [f["name"] for f in card.get("data_files", [])],
                    "metrics": card.get("metrics", [])})
    return out


def _metrics_text(metrics: list[dict]) -> str:
    parts = []
    for m in metrics:
        values = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if k not in ("set", "clusters") and isinstance(v, float))
        parts.append(f"{m.get('set', '?')}: {values}")
    return "; ".join(parts)


def cmd_models(args: argparse.Namespace) -> int:
    models = shipped_models()
    if args.json:
        print(json.dumps(models, indent=1))
        return 0
    for m in models:
        differs = m["card_sha256"] and m["card_sha256"] != m["sha256"]
        mismatch = f" (NOT the card's {m['card_sha256']}: loading it is refused)" if differs else ""
        print(f"{m['name']}: {m['title']}\n  weights  {m['path']}\n  sha256   {m['sha256']}{mismatch}\n"
              f"  data     {', '.join(m['trained_on'])}\n  metrics  {_metrics_text(m['metrics'])}\n"
              f"  made by  {m['command']}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``hydronet-nb models``."""
    p = subparsers.add_parser("models", help="the shipped models: name, weights file, sha256, data, test metrics")
    p.add_argument("--json", action="store_true", help="a JSON list of objects (name, path, sha256, ...)")
    p.set_defaults(func=cmd_models)
