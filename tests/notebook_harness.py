"""Runs the book's chapters with papermill and reads back the values they record."""
from __future__ import annotations

import ast
import json
import os
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


#: a value the prose quotes: ``{eval}`v["key:format"]``` (jupyterlab-myst evaluates the expression live)
EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")


def _live_client():
    """An nbclient that also evaluates each Markdown cell's ``{eval}`` expressions when it reaches the cell, in the
    kernel's state at that point, as JupyterLab with jupyterlab-myst does on Run All; the results go where
    jupyterlab-myst keeps them (the cell's ``user_expressions`` metadata)."""
    from nbclient import NotebookClient

    class LiveClient(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if cell.cell_type != "markdown":
                return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            expressions = EVAL_ROLE.findall(cell.source)
            if expressions:
                wanted = {f"e{i}": e for i, e in enumerate(expressions)}
                msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions=wanted)
                reply = await self.async_wait_for_reply(msg_id, cell)
                got = reply["content"]["user_expressions"]
                cell.metadata["user_expressions"] = [{"expression": e, "result": got[k]} for k, e in wanted.items()]
            return cell

    return LiveClient


def run_notebook(path: Path, **parameters) -> Path:
    """Execute ``path`` (parameters injected by papermill) into _build/papermill/, evaluating the prose's
    ``{eval}`` values as a live JupyterLab does; the executed copy is kept (also on failure)."""
    import nbformat
    import papermill

    EXECUTED.mkdir(parents=True, exist_ok=True)
    out = EXECUTED / path.name
    # every figure a chapter draws is checked for colliding texts (hydronet_nb.book.figure_check)
    os.environ.setdefault("HYDRONET_NB_CHECK_FIGURES", "1")
    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               prepare_only=True, progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    client = _live_client()(nb, kernel_name="python3", timeout=1800, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, out)
    return out


def eval_problems(executed: Path) -> list[str]:
    """Prose values that a live kernel could not evaluate where they stand (a key recorded further down, a typo)."""
    problems = []
    for index, cell in enumerate(json.loads(executed.read_text())["cells"]):
        for entry in cell.get("metadata", {}).get("user_expressions", []):
            result = entry["result"]
            if result.get("status") != "ok":
                problems.append(f"cell {index}: {entry['expression']}: {result.get('ename')}: {result.get('evalue')}")
    return problems


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

    from hydronet_nb.book.formatting import as_text, recorded_value, split_key

    glued, problems = glue_outputs(executed), []
    names = [o.get("metadata", {}).get("scrapbook", {}).get("name") for c in json.loads(executed.read_text())["cells"]
             for o in c.get("outputs", [])]
    problems += [f"{n}: recorded twice" for n in sorted({n for n in names if n and names.count(n) > 1})]
    for cell in json.loads(executed.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        for expression in EVAL_ROLE.findall(text):
            match = re.fullmatch(r"""v\[(["'])([^"']+)\1\]""", expression)
            if match is None:
                problems.append(f"{expression}: not of the form v[\"key:format\"]")
                continue
            key, spec = split_key(match[2])
            if key not in glued:
                problems.append(f"{key}: quoted but never recorded")
                continue
            if any(k.endswith("text/markdown") for k in glued[key]):
                continue
            plain = next((v for k, v in glued[key].items() if k.endswith("text/plain")), None)
            plain = "".join(plain) if isinstance(plain, list) else plain
            try:
                as_text(recorded_value(plain), spec)
            except (ValueError, TypeError) as exc:
                problems.append(f"{key}: {plain!r} does not take the format {spec!r} ({exc})")
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
