"""Runs the book's chapters with papermill and reads back the values they record."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "_build" / "papermill"


def toc_files() -> list[str]:
    """Every file listed in _toc.yml, in order (without extension)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def toc_notebooks() -> list[Path]:
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]


def run_notebook(path: Path, **parameters) -> Path:
    """Execute ``path`` with papermill into _build/papermill/; the executed copy is kept (also on failure)."""
    import papermill

    EXECUTED.mkdir(parents=True, exist_ok=True)
    out = EXECUTED / path.name
    papermill.execute_notebook(
        str(path), str(out), parameters=parameters, kernel_name="python3", cwd=str(path.parent), progress_bar=False
    )
    return out


def recorded_values(executed: Path) -> dict:
    """The values a notebook stored with ``hydronet_nb.book.notebook.record`` (``myst_nb.glue``)."""
    values = {}
    for cell in json.loads(executed.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            text = next(v for k, v in output["data"].items() if k.endswith("text/plain"))
            text = "".join(text) if isinstance(text, list) else text
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError:
                values[name] = text
    return values
