"""Runs the book's chapters with papermill and reads back the values they record."""
from __future__ import annotations

import ast
import json
import re
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
            except json.JSONDecodeError:  # a string is glued as its repr: 'GFN2-xTB'
                quoted = len(text) > 1 and text[0] == text[-1] and text[0] in "'\""
                values[name] = ast.literal_eval(text) if quoted else text
    return values


#: a glue reference in a Markdown cell: the role ``{glue:text}`key:format``` / ``{glue:md}`key``` or the
#: directive ```` ```{glue:md} key ````
GLUE_ROLE = re.compile(r"\{glue(?::(text|md|any|figure|math))?\}`([^`]+)`")
GLUE_DIRECTIVE = re.compile(r"```\{glue(?::(md|any|figure|math))?\}\s+(\S+)")


def glue_outputs(executed: Path) -> dict:
    """The mime bundle of every value a notebook glued, by key."""
    out = {}
    for cell in json.loads(executed.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                out[name] = output["data"]
    return out


def glue_problems(executed: Path) -> list[str]:
    """What a ``jupyter-book build -W`` would warn about in the glue references of an executed notebook:
    keys never recorded, Markdown pasted from a value without Markdown, numbers that do not take their format."""
    from myst_nb.core.variables import format_plain_text

    glued, problems = glue_outputs(executed), []
    names = [o.get("metadata", {}).get("scrapbook", {}).get("name") for c in json.loads(executed.read_text())["cells"]
             for o in c.get("outputs", [])]
    problems += [f"{n}: recorded twice" for n in sorted({n for n in names if n and names.count(n) > 1})]
    for cell in json.loads(executed.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        refs = [(kind or "any", body) for kind, body in GLUE_ROLE.findall(text)]
        refs += [(kind or "any", key) for kind, key in GLUE_DIRECTIVE.findall(text)]
        for kind, body in refs:
            key, _, spec = body.partition(":") if kind == "text" else (body.split(":")[0], "", "")
            if key not in glued:
                problems.append(f"{key}: cited ({kind}) but never recorded")
            elif kind == "md" and not any(k.endswith("text/markdown") for k in glued[key]):
                problems.append(f"{key}: cited as Markdown but recorded without text/markdown")
            elif kind == "text":
                plain = next((v for k, v in glued[key].items() if k.endswith("text/plain")), None)
                plain = "".join(plain) if isinstance(plain, list) else plain
                try:
                    format_plain_text(plain, spec)
                except Exception as exc:  # what glue:text reports as "Failed to format text/plain data"
                    problems.append(f"{key}: {plain!r} does not take the format {spec!r} ({exc})")
    return problems
