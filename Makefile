# Two commands for a fresh machine with Python 3.11 (no conda needed):
#   make book   -> .venv with pinned packages, executes the chapters (book profile), writes _build/html
#   make test   -> the test suite (includes papermill runs of every chapter and a test-profile book build)
# Both are idempotent: a second run reinstalls nothing and re-executes only changed notebooks.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Offline copies of the published reference files (weights, minima, trajectories): used when present
SHARED_REFERENCE := $(wildcard ../shared/reference)
ifneq ($(SHARED_REFERENCE),)
export HYDRONET_NB_MIRROR ?= $(abspath $(SHARED_REFERENCE))
endif
export PYTHONHASHSEED := 0
# the chapters' training runs (chapter 2's demo), continued by the next build; `make clean` forgets them
export HYDRONET_NB_RUNS ?= $(abspath _build/runs)

.PHONY: book test env vendor browser lab clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=... to another Python 3.10+)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hydronet_nb)" >/dev/null
	touch $(STAMP)

# local copies of MathJax and 3Dmol.js, so that the built pages render offline (npm; skipped without it)
VENDOR := book/_static/vendor
vendor: $(VENDOR)/.done
$(VENDOR)/.done: package.json package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --no-audit --no-fund --silent && rm -rf $(VENDOR) && mkdir -p $(VENDOR)/mathjax/output/chtml $(VENDOR)/mathjax/input/tex && \
	  cp node_modules/mathjax/es5/tex-mml-chtml.js $(VENDOR)/mathjax/ && \
	  cp -r node_modules/mathjax/es5/output/chtml/fonts $(VENDOR)/mathjax/output/chtml/ && \
	  cp -r node_modules/mathjax/es5/input/tex/extensions $(VENDOR)/mathjax/input/tex/ && \
	  cp node_modules/3dmol/build/3Dmol-min.js $(VENDOR)/ && touch $@; \
	else echo "npm not found: the book will load MathJax and 3Dmol.js from their CDNs"; fi

# 3D views load 3Dmol.js from the local copy (pages sit one folder below _static) when there is one;
# HYDRONET_NB_STATIC: the pages are static HTML (no progress bars, py3Dmol instead of widgets)
book: $(STAMP) vendor
	HYDRONET_NB_STATIC=1 HYDRONET_NB_3DMOL_JS=$$(test -f $(VENDOR)/3Dmol-min.js && echo ../_static/vendor/3Dmol-min.js) \
	  $(BIN)/jupyter-book build . -W --keep-going
	@echo "open _build/html/index.html"

# JupyterLab on the chapters, the way to work live: the .venv's Lab and kernel, the environment above, 3D views
# loading 3Dmol.js from the local copy (served by Lab itself under files/), --allow-root when run as root.
# On a cloud machine: make lab LAB_IP=0.0.0.0 (LAB_BASE_URL when a proxy serves Lab below a path).
LAB_IP ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_BASE_URL ?= /
# Lab's settings for this .venv only: every cell rendered at once (windowingMode none). jupyterlab-myst takes a
# cell's {eval} values from its rendered Markdown, and Lab renders cells far below the view only once scrolled to,
# so Run All left their values unevaluated (tests/test_lab.py runs the chapters with these settings).
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): $(STAMP)
	mkdir -p $(@D)
	echo '{"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}' > $@
lab: $(STAMP) vendor $(LAB_OVERRIDES)
	@echo "JupyterLab on notebooks/: open the http URL with its token printed below (Ctrl-C twice stops it)"
	@PATH=$(CURDIR)/$(BIN):$$PATH \
	  HYDRONET_NB_3DMOL_JS=$$(test -f $(VENDOR)/3Dmol-min.js && echo $(LAB_BASE_URL)files/$(VENDOR)/3Dmol-min.js) \
	  $(BIN)/jupyter lab --no-browser --ServerApp.ip=$(LAB_IP) --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.base_url=$(LAB_BASE_URL) --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# headless Chromium for the rendering test (Debian's package; needs root or sudo)
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: $(STAMP) vendor browser $(LAB_OVERRIDES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf _build
