"""Where the package's shipped files live: ``hydronet_nb/resources/`` holds data, not code."""
from pathlib import Path

#: the folder of shipped files (part of the wheel: ``package-data`` in ``pyproject.toml``)
RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"
#: the book's embedded data set (PNNL layout, split files, ``DATASET.md`` and its JSON sidecar)
EMBEDDED_DIR = RESOURCES_DIR / "embedded"
#: the book's shipped pretrained SchNet (weights, config, learning curve, errors, ``MODEL.md`` and its sidecar)
PRETRAINED_DIR = RESOURCES_DIR / "models" / "pretrained"
