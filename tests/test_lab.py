"""The chapters run live in JupyterLab, as readers run them.

A Lab server from the .venv serves a copy of notebooks/ (Lab saves what it runs; the repository's notebooks stay
without outputs). Headless Chromium opens each chapter, runs all cells in the test profile with every request
that leaves the machine blocked, and reads back what a reader sees: values in the prose, solutions collapsed until
clicked, 3D views drawn, no errors. Each chapter's Run All time goes to _build/lab-times.json and a screenshot
of it to _build/lab-screenshots/.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.request
import uuid
from pathlib import Path

import pytest

from notebook_harness import ROOT, toc_notebooks

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
VENDOR_JS = Path("book") / "_static" / "vendor" / "3Dmol-min.js"  # `make vendor` writes it
SHOTS = ROOT / "_build" / "lab-screenshots"
TIMES = ROOT / "_build" / "lab-times.json"
RUN_ALL_LIMIT_S = 300  # the slowest chapter runs about a minute in the test profile
DRAW_LIMIT_S = 30  # 3D views draw after their cell ran (3Dmol.js loads, WebGL starts)
#: MyST as typed: none of it may reach the rendered page
RAW_MARKERS = ("{eval}", "{glue", "{cite}", ":::", "```{", ":class:")
#: what jupyterlab-myst shows for MyST it cannot render: a directive it does not know, a reference or citation
#: without its target (it has no bibliography; an unknown role shows its bare text, so ``{glue`` is looked for in
#: the source)
MYST_FAILURES = ("Unknown Directive",)
LAB_UNRENDERED = ("{glue",)
#: ipywidgets' messages for a widget whose frontend is missing or fails
#: console errors that jupyterlab-myst 2.7.0 logs for every {eval} value rendered as Markdown (a recorded
#: sentence) when its cell renders again: React's clean-up runs after the old node left the page. The value stays
#: shown (checked above: evaluated, no `v["` left); nothing else in the console is let through.
KNOWN_CONSOLE = re.compile(r'"(Could not dispose of renderer|Unable to detach expression renderer) for '
                           r'`v\[\\"\w+\\"\]`: node is not connected"$')
WIDGET_ERRORS = ("Failed to load model class", "is not registered", "No version of module",
                 "Click to show javascript error", "Error displaying widget")
EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")

# What a reader sees in the open notebook, cell by cell: the model's outputs and metadata, and the DOM. The
# rendered Markdown is the input area's rendering widget (jupyterlab-myst's or Lab's own), not its hidden editor;
# code inside it is left out (a page may show MyST syntax as code on purpose).
CELLS_JS = """
const panel = window.jupyterapp.shell.currentWidget;
const visible = (el) => el.checkVisibility({visibilityProperty: true});
return panel.content.widgets.map((cell, index) => {
  const model = cell.model, out = {index: index, type: model.type, source: model.sharedModel.getSource()};
  if (model.type === 'code') {
    out.count = model.executionCount;
    out.outputs = model.outputs.toJSON().map(o => ({type: o.output_type, ename: o.ename || '', evalue: o.evalue || '',
      plain: o.data && o.data['text/plain'] ? [].concat(o.data['text/plain']).join('') : ''}));
    const area = cell.node.querySelector('.jp-OutputArea');
    out.text = area ? area.textContent : '';
    out.canvases = area ? Array.from(area.querySelectorAll('canvas')).map(c => [c.width, c.height]) : [];
    out.readouts = area ? Array.from(area.querySelectorAll('.widget-readout')).map(e => e.textContent) : [];
    out.views3dmol = area ? Array.from(area.querySelectorAll('[id^="3dmolviewer"]')).map(
      v => Array.from(v.querySelectorAll('canvas')).some(c => c.width > 0 && c.height > 0)) : [];
  } else if (model.type === 'markdown') {
    out.rendered = cell.rendered;
    out.expressions = model.getMetadata('user_expressions') || null;
    const shown = Array.from(cell.node.querySelectorAll(
      '.jp-InputArea > :not(.jp-InputArea-editor):not(.jp-InputPrompt)'));
    out.text = shown.map(node => {
      const copy = node.cloneNode(true);
      copy.querySelectorAll('code, pre').forEach(c => c.remove());
      return copy.textContent;
    }).join('\\n');
    out.full = shown.map(node => node.textContent).join('\\n');
    out.missing = shown.flatMap(node => Array.from(node.querySelectorAll('[title$="Not Found"]')))
      .map(e => e.title + ': ' + e.textContent.trim());
    out.details = shown.flatMap(node => Array.from(node.querySelectorAll('details'))).map(d => ({
      open: d.open, summary: d.querySelector('summary') ? d.querySelector('summary').textContent.trim() : '',
      hidden_shown: Array.from(d.children).filter(c => c.tagName !== 'SUMMARY').some(visible)}));
  }
  return out;
});
"""
READY_JS = """
const app = window.jupyterapp, path = arguments[0];
if (!app || !app.shell.currentWidget) return false;
const panel = app.shell.currentWidget;
if (!panel.context || panel.context.path !== path || !panel.sessionContext) return false;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return panel.context.isReady && panel.sessionContext.isReady && !!kernel && kernel.status === 'idle'
  && kernel.connectionStatus === 'connected' && panel.content.widgets.length === arguments[1];
"""
# Run All is started here and polled (a script that waits for it would outlast selenium's 120 s HTTP timeout)
RUN_ALL_JS = """
const start = performance.now();
window.runAllResult = null;
window.jupyterapp.commands.execute('notebook:run-all-cells').then(
  ok => { window.runAllResult = {ok: ok, seconds: (performance.now() - start) / 1000}; },
  e => { window.runAllResult = {error: String(e)}; });
"""
IDLE_JS = """
const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
return kernel.status === 'idle'
  && !Array.from(document.querySelectorAll('.jp-InputPrompt')).some(p => p.textContent.includes('[*]'));
"""
CLOSE_JS = """
const done = arguments[arguments.length - 1], panel = window.jupyterapp.shell.currentWidget;
panel.context.save().catch(() => null).then(() => panel.sessionContext.shutdown())
  .then(() => done(true), e => done(String(e)));
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """``jupyter lab`` from the .venv on a copy of notebooks/, the test profile, the local 3Dmol.js."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (`make browser` installs them)")
        pytest.skip("chromium/chromedriver not installed (`make browser`)")
    assert (ROOT / VENDOR_JS).is_file(), f"{VENDOR_JS} missing: `make vendor` writes it (3D views must draw offline)"
    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    windowing = json.loads(overrides.read_text()).get("@jupyterlab/notebook-extension:tracker", {}).get(
        "windowingMode") if overrides.is_file() else None
    assert windowing == "none", f"{overrides}: no windowingMode none, which `make lab` and `make test` write " \
                                "(without it Run All leaves the {eval} values of cells below the view unevaluated)"
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / VENDOR_JS).parent.mkdir(parents=True)
    shutil.copy2(ROOT / VENDOR_JS, root / VENDOR_JS)
    # Lab's settings and workspaces of its own, no news prompt (a news fetch would be a request off the machine)
    settings = root / ".lab" / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), uuid.uuid4().hex
    bindir = Path(sys.executable).parent
    env = {**os.environ, "HYDRONET_NB_PROFILE": "test", "HYDRONET_NB_RUNS": str(root / ".runs"),
           "HYDRONET_NB_3DMOL_JS": f"/files/{VENDOR_JS.as_posix()}",
           "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
           "JUPYTER_CONFIG_DIR": str(root / ".lab" / "config"), "JUPYTER_RUNTIME_DIR": str(root / ".lab" / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab" / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".lab" / "workspaces")}
    command = [str(bindir / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp, to run cells and read their models
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = root / ".lab" / "server.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"jupyter lab exited ({server.returncode}):\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, f"jupyter lab did not answer in 90 s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        yield types.SimpleNamespace(url=url, token=token, root=root, log=log)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def lab_browser(lab_server):
    """Headless Chromium that can reach only this machine's loopback (and the performance log says so)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--enable-unsafe-swiftshader",  # WebGL for the 3D views
                 # every host name but 127.0.0.1 fails to resolve, and every other address goes to a closed proxy
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, seconds: float, step: float = 0.25):
    """``predicate()`` once it is truthy, or its last value after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def requests_off_machine(driver, url: str) -> list[str]:
    """The URLs the page asked for that are not this Lab server (Chromium's performance log, drained)."""
    local = (f"{url}/", f"ws{url[4:]}/", "data:", "blob:", "about:")
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            sent.append(params["request"]["url"] if "request" in params else params["url"])
    return [u for u in sent if not u.startswith(local)]


def cell_problems(cells: list[dict]) -> list[str]:
    """What a reader would see go wrong, cell by cell (``cells`` from CELLS_JS)."""
    problems = []
    for cell in cells:
        where = f"cell {cell['index']} ({cell['type']}: {cell['source'][:50]!r})"
        if cell["type"] == "code":
            if cell["source"].strip() and cell["count"] is None:
                problems.append(f"{where}: not run")
            for out in cell["outputs"]:
                if out["type"] == "error":
                    problems.append(f"{where}: {out['ename']}: {out['evalue'][:300]}")
            problems += [f"{where}: widget error {e!r} in its output" for e in WIDGET_ERRORS if e in cell["text"]]
            if any("NGLWidget" in out["plain"] for out in cell["outputs"]) and not any(
                    w > 0 and h > 0 for w, h in cell["canvases"]):
                problems.append(f"{where}: an nglview widget without a drawn canvas")
            if not all(cell["views3dmol"]):
                problems.append(f"{where}: {cell['views3dmol'].count(False)} 3Dmol view(s) without a canvas")
        elif cell["type"] == "markdown":
            if not cell["rendered"]:
                problems.append(f"{where}: Markdown left unrendered")
            problems += [f"{where}: raw MyST {m!r} in the rendered text" for m in RAW_MARKERS if m in cell["text"]]
            problems += [f"{where}: jupyterlab-myst shows {m!r}" for m in MYST_FAILURES if m in cell["text"]]
            problems += [f"{where}: jupyterlab-myst shows {m!r}" for m in cell["missing"]]
            problems += [f"{where}: {m!r} in the source shows as bare text in JupyterLab" for m in LAB_UNRENDERED
                         if m in cell["source"]]
            if 'v["' in cell["full"]:
                problems.append(f"{where}: an unevaluated value (v[\"...) in the rendered text")
            typed = set(EVAL_ROLE.findall(cell["source"]))
            evaluated = {e["expression"]: e["result"] for e in cell["expressions"] or []}
            if typed - set(evaluated):
                problems.append(f"{where}: {{eval}} values never evaluated (an error in the expression?): "
                                f"{sorted(typed - set(evaluated))}")
            for expression, result in evaluated.items():
                if result.get("status") != "ok":
                    problems.append(f"{where}: {{eval}}`{expression}` gave {result.get('status')}: "
                                    f"{result.get('ename', '')}: {result.get('evalue', '')}")
            problems += [f"{where}: solution {d['summary']!r} shown open" for d in cell["details"]
                         if d["open"] or d["hidden_shown"]]
    return problems


def not_playing(driver, cells: list[dict]) -> list[str]:
    """nglview trajectories (an NGLWidget with more than one frame) whose player stays on its first frame (the
    readout of nglview's frame slider; a trajectory played to its end and stopped there counts as played)."""
    moving = [c for c in cells if c["type"] == "code" and any(
        int(m) > 0 for out in c["outputs"] for m in re.findall(r"NGLWidget\(max_frame=(\d+)", out["plain"]))]
    if not moving:
        return []
    time.sleep(2)
    now = {c["index"]: c["readouts"] for c in driver.execute_script(CELLS_JS) if c["type"] == "code"}
    return [f"cell {c['index']}: its nglview trajectory does not play (frame {c['readouts']} and 2 s later the same)"
            for c in moving if not c["readouts"] or now[c["index"]] == c["readouts"] == ["0"] * len(c["readouts"])]


def scroll_to(driver, index: int | None):
    if index is not None:
        driver.execute_script("const cells = window.jupyterapp.shell.currentWidget.content.widgets;"
                              "cells[arguments[0]].node.scrollIntoView({block: 'start'});", index)
        time.sleep(0.5)


def screenshots(driver, cells: list[dict], name: str):
    """The chapter at its first value in prose, its first solution (collapsed) and its first 3D view."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    places = {
        "": next((c["index"] for c in cells if c["type"] == "markdown" and c["expressions"]), None),
        "-solution": next((c["index"] for c in cells if c["type"] == "markdown" and c["details"]), None),
        "-view": next((c["index"] for c in cells if c["type"] == "code" and c["canvases"]), None),
    }
    for suffix, index in places.items():
        if index is not None or not suffix:
            scroll_to(driver, index)
            driver.save_screenshot(str(SHOTS / f"{name}{suffix}.png"))


def opens_on_click(driver, cells: list[dict]) -> list[str]:
    """The first solution: its hidden text becomes visible when its summary is clicked."""
    first = next((c for c in cells if c["type"] == "markdown" and c["details"]), None)
    if first is None:
        return []
    scroll_to(driver, first["index"])
    summary = driver.execute_script(
        "return window.jupyterapp.shell.currentWidget.content.widgets[arguments[0]].node"
        ".querySelector('.jp-InputArea > :not(.jp-InputArea-editor) details > summary');", first["index"])
    summary.click()
    opened = wait_for(lambda: driver.execute_script(
        "const d = arguments[0].parentElement; return d.open && Array.from(d.children)"
        ".filter(c => c.tagName !== 'SUMMARY').some(c => c.checkVisibility({visibilityProperty: true}));",
        summary), 5)
    return [] if opened else [f"cell {first['index']}: solution {first['details'][0]['summary']!r} "
                              "did not show its text when clicked"]


def record_time(name: str, seconds: float, opened: float):
    from hydronet_nb.utils.files import atomic_write_json

    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    times[name] = {"profile": "test", "run_all_s": round(seconds, 1), "open_s": round(opened, 1),
                   "measured": time.strftime("%Y-%m-%d %H:%M")}
    atomic_write_json(TIMES, times)


#: the chapters `make test` runs live (values and citations, solutions, py3Dmol and nglview views); CI runs all
QUICK = ("00_quickstart", "03_force_finetuning", "05_molecular_dynamics")


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("notebook", [p if p.stem in QUICK else pytest.param(p, marks=pytest.mark.full)
                                      for p in toc_notebooks()], ids=lambda p: p.stem)
def test_chapter_runs_live_in_jupyterlab(notebook, lab_server, lab_browser):
    driver, rel = lab_browser, f"notebooks/{notebook.name}"
    copy = json.loads((lab_server.root / rel).read_text())
    stale = [i for i, c in enumerate(copy["cells"])
             if c["cell_type"] == "markdown" and "user_expressions" in c["metadata"]]
    assert not stale, f"{rel}: committed with evaluated values (cells {stale}); they must come from the live run"
    driver.get_log("browser"), driver.get_log("performance")  # drained: what follows is this chapter's
    start = time.monotonic()
    driver.get(f"{lab_server.url}/lab/tree/{rel}?reset&token={lab_server.token}")
    ready = wait_for(lambda: driver.execute_script(READY_JS, rel, len(copy["cells"])), 120)
    assert ready, f"{rel}: the notebook or its kernel was not ready in 120 s (server log: {lab_server.log})"
    opened = time.monotonic() - start
    problems = []
    try:
        driver.execute_script(RUN_ALL_JS)
        run = wait_for(lambda: driver.execute_script("return window.runAllResult;"), RUN_ALL_LIMIT_S, step=0.5)
        if not run:
            driver.execute_script("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt();")
            pytest.fail(f"{rel}: Run All did not finish in {RUN_ALL_LIMIT_S} s")
        assert "error" not in run, f"{rel}: Run All failed: {run['error']}"
        wait_for(lambda: driver.execute_script(IDLE_JS), 60)
        # the views draw and the {eval} values arrive after their cells ran: wait for them, then read the page
        wait_for(lambda: not cell_problems(driver.execute_script(CELLS_JS)), DRAW_LIMIT_S, step=1)
        cells = driver.execute_script(CELLS_JS)
        record_time(notebook.stem, run["seconds"], opened)
        print(f"{notebook.stem}: Run All {run['seconds']:.1f} s in JupyterLab (test profile), opened in {opened:.1f} s")
        screenshots(driver, cells, notebook.stem)
        problems += cell_problems(cells)
        problems += not_playing(driver, cells)
        problems += opens_on_click(driver, cells)
        console = driver.get_log("browser")
        (SHOTS / f"{notebook.stem}.console.txt").write_text("\n".join(f"{e['level']} {e['message']}" for e in console))
        problems += [f"console: {e['message'][:400]}" for e in console
                     if e["level"] == "SEVERE" and not KNOWN_CONSOLE.search(e["message"])]
        problems += [f"request leaving the machine: {u}" for u in requests_off_machine(driver, lab_server.url)]
    finally:
        driver.execute_async_script(CLOSE_JS)  # saved into the copy, kernel shut down before the next chapter
    assert not problems, f"{rel} in JupyterLab:\n" + "\n".join(problems)
