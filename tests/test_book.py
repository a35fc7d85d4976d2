"""The book builds with warnings as errors, has a page per chapter, and renders in headless Chromium."""
import json
import os
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
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (`make browser` installs them)")
        pytest.skip("chromium/chromedriver not installed (`make browser`)")
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(flag)
    # the browser's console and its network events, read back after each page
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
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
                WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length > 0"))
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
