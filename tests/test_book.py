"""The book builds with warnings as errors, has a page per chapter, and renders in headless Chromium; its pages read
like printed ones: every table and output fits the text column at 1280 px and on a phone, and no stderr, object
repr, per-epoch log, Python value word or negative zero reaches the reader."""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from notebook_harness import ROOT, toc_files

BUILD = ROOT / "_build" / "test-book"
HTML = BUILD / "_build" / "html"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def requested_urls(driver) -> list[str]:
    """The URLs the page asked for since the last call (Chromium's performance log, drained)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def start_chromium(width: int, height: int = 1600):
    """Headless Chromium whose page is ``width`` CSS pixels wide (skips, or fails in CI, without Chromium)."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (`make browser` installs them)")
        pytest.skip("chromium/chromedriver not installed (`make browser`)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={max(width, 800)},{height}"):
        options.add_argument(flag)
    # the browser's console and its network events, read back after each page
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    if width < 800:  # a phone's viewport, as the page's media queries see it (its width fixed: no zooming out)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


@pytest.fixture(scope="module")
def built_book():
    """``jupyter-book build`` of the whole book, every chapter with the test profile."""
    env = {**os.environ, "HYDRONET_NB_PROFILE": "test", "HYDRONET_NB_STATIC": "1"}  # as `make book` does
    if (ROOT / "book" / "_static" / "vendor" / "3Dmol-min.js").is_file():  # as `make book` does
        env["HYDRONET_NB_3DMOL_JS"] = "../_static/vendor/3Dmol-min.js"
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(BUILD), "-W", "--keep-going"],
        env=env, capture_output=True, text=True,
    )
    log = BUILD / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"jupyter-book build failed (log: {log}):\n{(result.stdout + result.stderr)[-4000:]}"
    return HTML


@pytest.mark.book
def test_a_page_per_toc_entry(built_book):
    for name in toc_files():
        page = built_book / f"{name}.html"
        assert page.is_file(), f"{page} missing"
        text = page.read_text()
        assert "Traceback (most recent call last)" not in text, f"{page}: an executed cell failed"
    assert (built_book / "index.html").is_file()


@pytest.mark.book
@pytest.mark.browser
def test_pages_render_in_headless_chromium_with_figures(built_book):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium(1280)
    shots = BUILD / "screenshots"
    shots.mkdir(exist_ok=True)
    try:
        for name in toc_files():
            page = built_book / f"{name}.html"
            driver.get(page.as_uri())
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
            images = driver.execute_script(
                "return Array.from(document.querySelectorAll('article img')).map(i => [i.src, i.complete && i.naturalWidth > 0])"
            )
            broken = [src for src, ok in images if not ok]
            assert not broken, f"{page}: images that did not load: {broken}"
            if "$$" in page.read_text() or "\\(" in page.read_text():  # the page has maths
                WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length > 0"))
            if "3dmolwarning" in page.read_text():  # py3Dmol removes its warning once 3Dmol.js has loaded
                WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.querySelectorAll('[id^=\"3dmolwarning\"]').length == 0"))
            if "addModelsAsFrames" in page.read_text():  # an MD trajectory: its frames must change when played
                frames = "return Object.keys(window).filter(k => k.startsWith('viewer_') && window[k] && " \
                         "window[k].getFrame).map(k => window[k].getFrame())"
                WebDriverWait(driver, 30).until(lambda d: len(d.execute_script(frames)) > 0)
                first = driver.execute_script(frames)
                WebDriverWait(driver, 10).until(lambda d: d.execute_script(frames) != first)
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, f"{page}: console errors: {errors}"
            leaving = [url for url in requested_urls(driver) if not url.startswith(("file:", "data:", "blob:", "about:"))]
            assert not leaving, f"{page}: requests leaving the machine (the book must work offline): {leaving}"
            title = driver.execute_script("var h = document.querySelector('article h1'); return h ? h.textContent : ''")
            assert title.strip(), f"{page}: no title rendered"
            if name.startswith("notebooks/"):
                assert len(images) >= 1, f"{page}: a chapter without a single figure"
                scrolling = driver.execute_script(  # the window is 1280 px wide, both sidebars shown
                    "return Array.from(document.querySelectorAll('div.cell_input pre'))"
                    ".filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 60))")
                assert not scrolling, f"{page}: code cells that scroll sideways: {scrolling}"
                downloads = driver.execute_script(
                    "return Array.from(document.querySelectorAll('a[href$=\".ipynb\"]')).map(a => a.href)")
                assert downloads, f"{page}: no link to download the notebook"
                for url in downloads:
                    target = Path(urllib.parse.urlparse(url).path)
                    assert target.is_file() and json.loads(target.read_text())["cells"], f"{page}: {url} is not a notebook"
            driver.save_screenshot(str(shots / (name.replace("/", "_") + ".png")))
    finally:
        driver.quit()


# What a reader of a printed page would never see, checked on every page of the built book (issue 20).
# A block is a cell's output area, a table outside one, or a displayed equation (not on a phone, where MathJax's
# equations scroll in their own box: version 3 does not break lines). It does not fit when the widest
# thing in it (its own scroll width or a descendant's) is wider than the article's text column, or when something
# in it scrolls sideways. Each finding names the heading above the block and, for a table, its header row.
FIT_JS = """
const col = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const cs = getComputedStyle(col);
const box = col.getBoundingClientRect();
const colWidth = Math.round(box.width - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight));
const colRight = box.right - parseFloat(cs.paddingRight);
const headings = Array.from(col.querySelectorAll('h1, h2, h3, h4'));
const clean = t => t.replace(/[#\\u00b6]/g, '').replace(/\\s+/g, ' ').trim();
const where = el => {
  let h = null;
  for (const x of headings) if (x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) h = x;
  return h ? clean(h.textContent).slice(0, 60) : '(top)';
};
const math = e => e.closest('.math, mjx-container');
const blocks = [
  ...Array.from(col.querySelectorAll('div.cell_output')).map(b => ['output', b]),
  ...Array.from(col.querySelectorAll('table')).filter(t => !t.closest('div.cell_output'))
    .map(t => ['table', t.closest('.pst-scrollable-table-container') || t]),
  ...Array.from(col.querySelectorAll('div.math, mjx-container[display="true"]'))
    .filter(m => window.innerWidth >= 576 && (m.matches('div.math') || !m.closest('div.math')))
    .map(m => ['equation', m]),
];
const found = [];
const page = document.documentElement;
if (page.scrollWidth > page.clientWidth + 1) {  // name what sticks out (not what a scrolling box clips)
  const clipped = e => {
    for (let a = e.parentElement; a && a !== col; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  const out = Array.from(col.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > page.clientWidth + 1
    && !clipped(e) && !Array.from(e.children).some(c => c.getBoundingClientRect().right > page.clientWidth + 1));
  found.push(`the page scrolls sideways: ${page.scrollWidth} px wide in a ${page.clientWidth} px window, ` +
             'because of ' + out.slice(0, 3).map(e =>
               `${e.tagName.toLowerCase()} "${clean(e.textContent).slice(0, 50)}" under "${where(e)}"`).join(', '));
}
for (const [kind, block] of blocks) {
  const parts = [block, ...block.querySelectorAll('*')].filter(e => kind === 'equation' ?
    !e.closest('mjx-assistive-mml') : !math(e));
  let need = 0, worst = block, scrolls = false;
  for (const el of parts) {
    if (el.clientWidth === 0 && el.scrollWidth === 0) continue;  // inline boxes
    const w = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') scrolls = true;
    if (w > need) { need = w; worst = el; }
  }
  const right = Math.max(...parts.map(e => e.getBoundingClientRect().right));
  if (need <= colWidth + 1 && right <= colRight + 1 && !scrolls) continue;
  const table = worst.closest('table') || block.querySelector('table');
  let what;
  if (table) {
    const head = table.querySelector('thead') || table.querySelector('tr');
    let cells = head ? Array.from(head.querySelectorAll('th, td')).map(c => clean(c.textContent)) : [];
    if (!cells.some(Boolean))  // no header row: the first column names the rows
      cells = Array.from(table.querySelectorAll('tbody tr > :first-child')).map(c => clean(c.textContent));
    const caption = table.querySelector('caption');
    what = 'table' + (caption ? ' "' + clean(caption.textContent).slice(0, 60) + '"' : '') +
           ' [' + cells.filter(Boolean).join(' | ').slice(0, 160) + ']';
  } else if (kind === 'equation') {
    what = 'equation ' + clean(block.textContent).slice(0, 60);
  } else {
    const tag = worst.tagName.toLowerCase() + (worst.className && typeof worst.className === 'string' ?
                '.' + worst.className.trim().split(/\\s+/).join('.') : '');
    what = 'output ' + tag + ' "' + clean(worst.textContent || '').slice(0, 60) + '"';
  }
  found.push(`${what} under "${where(block)}": ${Math.round(need)} px wide in a ${colWidth} px column` +
             (scrolls ? ', scrolls sideways' : ''));
}
return found;
"""


def fit_findings(driver, page: Path, width: int) -> list[str]:
    """Blocks of ``page`` wider than its text column in a window ``width`` px wide (one line each)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    text = page.read_text()
    if "$$" in text or "\\(" in text:  # equations take their width once MathJax has typeset them
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length > 0"))
    inner = driver.execute_script("return window.innerWidth")
    assert inner == width, f"the window is {inner} px wide, not {width}"
    return driver.execute_script(FIT_JS)


STREAM_RUN_MAX = 3  # the test profile trains 2-4 epochs: 4 one-line boxes in a row is already a log, not a result
REPR = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>")
# Python's words for missing or boolean values ("NaN" is left to the prose that talks about it), and zero with a
# minus sign (-0, -0.0, -0.00, Unicode minus too); a table cell holding nothing else than such a word
PYTHON_WORDS = re.compile(r"(?<![\w.'\"`])(nan|None|True|False)(?![\w'\"`])")
NEGATIVE_ZERO = re.compile(r"(?<![\w.])[-\u2212]0(?:\.0+)?(?!\d|\.\d)")
PYTHON_CELL = re.compile(r"nan|NaN|None|True|False|<NA>|NaT|[-\u2212]0(?:\.0+)?")
PROSE = ("p", "li", "dt", "dd", "th", "td", "caption", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6")
NOT_PROSE = ("div.cell_output", "div.cell_input", "pre", "code", "script", "style", ".math", "mjx-container",
             "div.highlight", "a.headerlink", "nav")


def _heading_before(el) -> str:
    heading = el.find_previous(["h1", "h2", "h3", "h4"])
    return " ".join(heading.get_text(" ").replace("#", "").split())[:60] if heading else "(top)"


def _table_header(table) -> str:
    head = table.find("thead") or table.find("tr")
    cells = [" ".join(c.get_text(" ").split()) for c in head.find_all(["th", "td"])] if head else []
    return "[" + " | ".join(c for c in cells if c)[:160] + "]"


def _english(text: str, match: re.Match) -> bool:
    """'None of', or a capital 'None', 'True' or 'False' that starts a sentence and goes on in words."""
    before, after = text[:match.start()].rstrip(), text[match.end():]
    if match.group() == "None" and re.match(r"\s+of\b", after):
        return True
    return (not before or before[-1] in ".!?") and re.match(r"[\s,]+[a-z]", after) is not None


def print_findings(html: str) -> list[str]:
    """What a printed page would never show, in a page of the built book: stderr blocks, object reprs, runs of
    log lines in one cell, Python's None/True/False/nan or a negative zero in the prose or an output table's cells,
    a negative zero in an output's text (one line each)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.body
    found = []
    for block in article.select("div.output.stderr"):
        found.append(f'stderr block under "{_heading_before(block)}": "{block.get_text(" ", strip=True)[:80]}"')
    for output in article.select("div.cell_output"):
        for match in REPR.finditer(output.get_text(" ")):
            found.append(f'object repr {match.group()} under "{_heading_before(output)}"')
        run = longest = 0
        for child in output.find_all("div", recursive=False):
            classes = child.get("class", [])
            run = run + 1 if "output" in classes and "stream" in classes else 0
            longest = max(longest, run)
        if longest > STREAM_RUN_MAX:
            first = output.select_one("div.output.stream").get_text(" ", strip=True)[:70]
            found.append(f'{longest} stream outputs in a row (a log) under "{_heading_before(output)}": "{first}"')
        for text in output.select("pre, p, li, caption"):  # printed text, Markdown and captions
            line = " ".join(text.get_text("").split())
            for match in NEGATIVE_ZERO.finditer(line):
                at = match.start()
                found.append(f'negative zero "{match.group()}" in an output under "{_heading_before(output)}": '
                             f'"...{line[max(0, at - 40):at + 20]}..."')
        for table in output.select("table"):
            cells = [" ".join(c.get_text(" ").split()) for c in table.select("tbody td, tbody th")]
            words = sorted({c for c in cells if PYTHON_CELL.fullmatch(c)})
            if words:
                counts = ", ".join(f'"{w}" x{cells.count(w)}' for w in words)
                found.append(f"Python values in table {_table_header(table)} under "
                             f'"{_heading_before(output)}": {counts}')
    prose = BeautifulSoup(str(article), "html.parser")
    for el in prose.select(", ".join(NOT_PROSE)):
        el.decompose()
    for el in prose.find_all(PROSE):
        if el.find(PROSE):  # a list item holding paragraphs: its paragraphs are read on their own
            continue
        text = " ".join(el.get_text("").split())
        hits = [m for m in PYTHON_WORDS.finditer(text) if not _english(text, m)]
        hits += list(NEGATIVE_ZERO.finditer(text))
        for hit in sorted(hits, key=lambda m: m.start()):
            at = hit.start()
            found.append(f'"{hit.group()}" in the prose under "{_heading_before(el)}": '
                         f'"...{text[max(0, at - 50):at + 30]}..."')
    return list(dict.fromkeys(found))  # an element inside another is read twice


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_tables_and_outputs_fit_the_text_column(built_book, width):
    """At 1280 px (both sidebars shown) and on a 390 px phone, every table and output area of every page fits the
    text column (and every displayed equation at 1280 px): nothing scrolls sideways, no column is hidden."""
    driver = start_chromium(width)
    findings = []
    try:
        for name in toc_files():
            findings += [f"{name}: {line}" for line in fit_findings(driver, built_book / f"{name}.html", width)]
    finally:
        driver.quit()
    assert not findings, f"{len(findings)} blocks wider than the text column at {width} px:\n" + "\n".join(findings)


@pytest.mark.book
def test_pages_read_like_print(built_book):
    """No stderr block, no object repr, no per-epoch log, no Python value words or negative zero in the prose."""
    findings = []
    for name in toc_files():
        findings += [f"{name}: {line}" for line in print_findings((built_book / f"{name}.html").read_text())]
    assert not findings, f"{len(findings)} things a printed page would not show:\n" + "\n".join(findings)


MADE_UP_PAGE = """<html><body><article class="bd-article">
<h2>Results</h2>
<p>Nonetheless the run is intact: True, and the energy drifts by -0.00 kcal/mol; None of the seeds broke.</p>
<ul><li>Falsehoods aside, the loss was nan at epoch 3 (0.001 and -0.01 are fine).</li></ul>
<p>Inline <code>fresh_run = True</code> and <span class="math">\\(x = -0\\)</span> in maths are not prose.</p>
<div class="cell_output">
  <div class="output stderr"><pre>USDT: profiler_start</pre></div>
  <div class="output text_plain"><pre>&lt;py3Dmol.view at 0x7f0ad36b5c90&gt;</pre></div>
</div>
<h2>Training</h2>
<div class="cell_output">
  <div class="output stream"><pre>epoch 1</pre></div><div class="output stream"><pre>epoch 2</pre></div>
  <div class="output stream"><pre>epoch 3</pre></div><div class="output stream"><pre>epoch 4 -0.000 kcal/mol</pre></div>
  <div class="output text_html"><table><thead><tr><th>model</th><th>intact</th></tr></thead>
  <tbody><tr><th>a</th><td>True</td></tr><tr><th>b</th><td>None</td></tr>
  <tr><th>c</th><td>0.5</td></tr></tbody></table></div>
</div>
</article></body></html>"""


def test_print_findings_on_a_made_up_page():
    findings = print_findings(MADE_UP_PAGE)
    expected = [
        'stderr block under "Results"', "object repr <py3Dmol.view at 0x7f0ad36b5c90>",
        '4 stream outputs in a row (a log) under "Training"', 'negative zero "-0.000" in an output under "Training"',
        'Python values in table [model | intact] under "Training": "None" x1, "True" x1',
        '"True" in the prose under "Results"', '"-0.00" in the prose under "Results"', '"nan" in the prose',
    ]
    for line in expected:
        assert sum(line in f for f in findings) == 1, f"{line!r} not found once in {findings}"
    assert len(findings) == len(expected), findings  # not Nonetheless, "None of", Falsehoods, -0.01, code or maths


@pytest.mark.browser
def test_fit_findings_on_a_made_up_page(tmp_path):
    """A table wider than its column, a scrolling output and an overflowing 3D view are found; a narrow table is not."""
    row = "".join(f"<th>column {i}</th>" for i in range(12))
    page = tmp_path / "page.html"
    page.write_text(f"""<html><body style="margin: 0"><article class="bd-article" style="width: 600px">
<h2>Wide</h2><div class="cell_output"><div class="output text_html"><table><thead><tr>{row}</tr></thead>
<tbody><tr>{row.replace("th>", "td>")}</tr></tbody></table></div></div>
<h2>Scrolling</h2><div class="cell_output"><div class="output stream"><pre style="overflow-x: auto">{"x" * 300}</pre>
</div></div>
<h2>View</h2><div class="cell_output"><div style="position: relative; width: 700px; height: 50px"></div></div>
<h2>Narrow</h2><div class="cell_output"><table><thead><tr><th>a</th><th>b</th></tr></thead></table></div>
</article></body></html>""")
    driver = start_chromium(1280)
    try:
        findings = fit_findings(driver, page, 1280)
    finally:
        driver.quit()
    assert len(findings) == 3, findings
    assert 'table [column 0 | column 1' in findings[0] and 'under "Wide"' in findings[0], findings
    assert 'output pre "xxx' in findings[1] and "scrolls sideways" in findings[1], findings
    assert 'under "View": 700 px wide in a 600 px column' in findings[2], findings
