# WIC — one entry point for setting up, running and testing the project.
#
#   make lab                 set up, then open the course in JupyterLab (dataset configured)
#   make pipeline            set up, then run the notebooks 01..07 (full profile) with papermill
#   make test                set up, then lint + unit/integration/browser tests + nbval notebooks
#   make book                render the executed notebooks into a static site (runs/book/)
#   make app                 serve the classifier page for a class on http://127.0.0.1:8866
#
# CIFAR-10 is read from $WIC_DATA_DIR (the folder holding cifar-10-batches-py/).

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PROFILE ?= full
export PATH := $(BIN):$(PATH)
ifdef WIC_DATA_DIR
export WIC_DATA_DIR := $(abspath $(WIC_DATA_DIR))
endif
SMOKE_DIR ?= $(abspath runs/test-smoke)

.PHONY: setup lab pipeline smoke test lint unit notebooks browser-deps app book clean

setup: $(VENV)/.installed

## pip byte-compiles what it installs. --no-compile set up in 69 s instead of 115 on a Zen 1, but
## where PYTHONDONTWRITEBYTECODE is set (as on this workplace's machines) no process caches what it
## compiles: importing TensorFlow, Keras, pandas, scikit-learn and matplotlib then took 19 s instead
## of 8, in each of the tests' many fresh processes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## JupyterLab on the course, in this environment, with the dataset configured: WIC_DATA_DIR is
## required (it is exported to the lab's kernels, so notebook 06's random test images work)
LAB_PORT ?= 8888
lab: setup
	@test -n "$$WIC_DATA_DIR" || { echo "set WIC_DATA_DIR to the folder holding cifar-10-batches-py/"; exit 2; }
	$(BIN)/jupyter lab notebooks/ --ServerApp.port=$(LAB_PORT) --ServerApp.ip=127.0.0.1

## The course as a static website of the committed (executed) notebooks: runs/book/index.html
book: setup
	$(BIN)/python -m wic.experiments.book

## The main job: every notebook in order (01..07), executed copies + logs in runs/pipeline/
pipeline: setup
	$(BIN)/wic pipeline --profile $(PROFILE)

smoke: setup
	$(BIN)/wic pipeline --profile smoke

## Debian's Chromium for the browser test (Playwright cannot download a browser here)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(BIN)/ruff check src tests benchmarks

## Tests on one worker process per CPU thread (pytest-xdist): much of a test's time runs on one
## core (fresh processes starting, imports, kernels), so a second worker fills the other; on a
## 2-core Zen 1 the training, export, sweep and net tests took 227 s on two workers, 314 s in one.
## The browser tests run afterwards, alone: they time the page's answers and must not share the
## CPU with training tests. TEST_WORKERS=0 runs them all in one process, one after another.
TEST_WORKERS ?= logical
unit: setup
	$(BIN)/pytest tests -q --timeout=900 --durations=25 -n $(TEST_WORKERS) -m "not browser"
	$(BIN)/pytest tests -q --timeout=900 --durations=10 -m browser

## nbval: every notebook under the smoke profile; cells tagged nbval-check-output must match.
## One process, in file order: notebook 05 evaluates the net notebook 03 trains (runs/course_fast_s/),
## and pytest-xdist's groups (--dist loadgroup), which could keep them together on one worker, do
## not group anything under pytest 9.2 (xdist 3.8 renames tests through an attribute 9.2 no longer reads).
notebooks: setup
	rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)
	cd notebooks && WIC_PROFILE=smoke WIC_FIGURES_DIR=$(SMOKE_DIR)/figures \
	  WIC_RUNS_DIR=$(SMOKE_DIR)/runs \
	  $(BIN)/pytest --nbval-lax --nbval-current-env -p no:cacheprovider -q --timeout=900 --durations=10 \
	  01_data_exploration.ipynb 02_model_construction.ipynb 03_training.ipynb \
	  04_tuning_ablations.ipynb 05_evaluation.ipynb 06_interactive_classifier.ipynb \
	  07_fast_recipe.ipynb

test: setup browser-deps lint unit notebooks

## The interactive classifier as a web page for a class (notebook 06 served by Voilà):
## http://localhost:8866. One kernel per browser tab (a visitor never sees another's pictures),
## each classifying with the ONNX export of the models (no TensorFlow: ~0.1 GB a kernel instead
## of ~1.2 GB), at most CAPACITY visitors at once (the next one is told the class is full),
## idle kernels culled. The Voilà flags and their reasons: src/wic/serving/classroom.py.
APP_PORT ?= 8866
CAPACITY ?= 30
app: setup
	$(BIN)/wic export --all --format onnx
	$(BIN)/python -m wic.serving.classroom --port=$(APP_PORT) --capacity=$(CAPACITY)

readme: setup
	$(BIN)/wic models --update-readme README.md

clean:
	rm -rf runs/test-smoke .pytest_cache
