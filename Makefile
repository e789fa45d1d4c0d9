# LoRA from first principles: every command a student, instructor or presenter needs. `make help` lists them.
# The two that matter: `make lab` (set up the first time, then open the course) and `make test` (set up, test all).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB ?=

.PHONY: help setup lab test test-fast lint sync release outputs grade doctor slides bench test-browser

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 22

setup: $(STAMP)  ## create .venv and install the pinned packages (only when the pins change)

# Re-installs only when the pins change; torch==2.13.0 is the CPU build (a looser pin pulls a CUDA build).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# Jupyter refuses to start as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)  ## open the course in JupyterLab (sets up first)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup.ipynb

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .

# Lab solutions are executed by tests/test_labs.py, which autogrades each one to full marks.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 MPLBACKEND=Agg
test: $(STAMP)  ## everything: ruff, tests, every lesson under nbval, every lab proven gradable
	@start=$$(date +%s); $(BIN)/ruff check . && echo "ruff: $$(( $$(date +%s) - start )) s"
	$(TEST_ENV) $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=300 -p no:cacheprovider

# The inner loop of a change: tests not marked slow, one lesson (04) and one lab (lab04) end to end.
FAST_LESSON ?= notebooks/04_attention.ipynb
FAST_LAB ?= lab04_attention
test-fast: $(STAMP)  ## unit tests, one lesson and one lab; about 2 minutes
	@start=$$(date +%s); $(BIN)/ruff check . && echo "ruff: $$(( $$(date +%s) - start )) s"
	$(TEST_ENV) $(BIN)/python -m pytest tests $(FAST_LESSON) --nbval-lax -m "not slow" \
	  -k "not test_labs or $(FAST_LAB)" -p no:cacheprovider

# Re-execute notebooks in place so their committed outputs are current: make outputs [NB=notebooks/03_x.ipynb]
NB ?= notebooks/*.ipynb
outputs: $(STAMP)  ## re-execute lessons in place, no timestamps [NB=notebooks/03_x.ipynb]
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False $(NB)
	$(BIN)/jupytext --sync --quiet $(NB)

# Every lesson and lab source has a jupytext twin (.py, percent format): edit either, then sync.
sync: $(STAMP)  ## bring each notebook and its .py twin level (the newer one wins)
	$(BIN)/jupytext --sync --quiet notebooks/*.ipynb solutions/*/*.ipynb

# Regenerate labs/ (student versions) from solutions/ with nbgrader. Never edit labs/ by hand.
# Each run keeps its gradebook in a temporary folder, so two releases of different labs can run at once.
release: $(STAMP)  ## regenerate labs/ from solutions/ (never edit labs/ by hand) [LAB=lab04_attention]
	@db=$$(mktemp -d); trap 'rm -rf "$$db"' EXIT; \
	for lab in $(if $(LAB),solutions/$(LAB)/,solutions/lab*/); do name=$$(basename $$lab); rm -rf "labs/$$name"; \
	  PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nbgrader generate_assignment "$$name" --force --log-level=WARN \
	    --CourseDirectory.db_url="sqlite:///$$db/gradebook.db" || exit 1; echo "released $$name"; done

# Autograde every submission of one lab: make grade LAB=lab03_positional [SUBMISSIONS=submitted]
SUBMISSIONS ?= submitted
grade: $(STAMP)  ## autograde a class: LAB=lab04_attention [SUBMISSIONS=submitted]
	@test -n "$(LAB)" || { echo "usage: make grade LAB=<lab name, e.g. lab03_positional>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python -m grading --lab "$(LAB)" --submissions "$(SUBMISSIONS)"

# Is this laptop ready for the course? Offline, about 10 seconds.
doctor: $(STAMP)  ## is this laptop ready? offline, about 10 s
	HF_HUB_OFFLINE=1 $(BIN)/python -m workshop.doctor

# reveal.js decks of every lesson in slides/ (build output, not committed)
slides: $(STAMP)  ## reveal.js decks of every lesson in slides/, presentable offline
	$(BIN)/python -m workshop.slides --out slides

# Every performance figure of the course, regenerated into benchmarks/RESULTS.md
bench: $(STAMP)  ## every performance figure, into benchmarks/RESULTS.md (about 12 min)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py

# JupyterLab in headless Chromium: open the setup notebook and the chat box, screenshot them
test-browser: $(STAMP)  ## JupyterLab, the chat box and a deck in headless Chromium
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider
