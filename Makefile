# LoRA from first principles: every command a student, instructor or presenter needs.
#   make lab      set up (first time) and open the course in JupyterLab
#   make test     set up (first time) and run the whole test suite, offline
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB ?=

.PHONY: setup lab test lint release outputs grade doctor slides bench test-browser

setup: $(STAMP)

# Re-installs only when the pins change; torch==2.13.0 is the CPU build (a looser pin pulls a CUDA build).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# Jupyter refuses to start as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup.ipynb

lint: $(STAMP)
	$(BIN)/ruff check .

# Lab solutions are executed by tests/test_labs.py, which autogrades each one to full marks.
test: $(STAMP)
	@start=$$(date +%s); $(BIN)/ruff check . && echo "ruff: $$(( $$(date +%s) - start )) s"
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 MPLBACKEND=Agg \
	  $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=300 -p no:cacheprovider

# Re-execute notebooks in place so their committed outputs are current: make outputs [NB=notebooks/03_x.ipynb]
NB ?= notebooks/*.ipynb
outputs: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 $(NB)

# Regenerate labs/ (student versions) from solutions/ with nbgrader. Never edit labs/ by hand.
release: $(STAMP)
	for lab in solutions/lab*/; do name=$$(basename $$lab); rm -rf "labs/$$name"; \
	  PATH="$(abspath $(BIN)):$$PATH" $(BIN)/nbgrader generate_assignment "$$name" --force --log-level=WARN \
	  || exit 1; done
	rm -f gradebook.db

# Autograde every submission of one lab: make grade LAB=lab03_positional [SUBMISSIONS=submitted]
SUBMISSIONS ?= submitted
grade: $(STAMP)
	@test -n "$(LAB)" || { echo "usage: make grade LAB=<lab name, e.g. lab03_positional>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python -m grading --lab "$(LAB)" --submissions "$(SUBMISSIONS)"

# Is this laptop ready for the course? Offline, about 10 seconds.
doctor: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m workshop.doctor

# reveal.js decks of every lesson in slides/ (build output, not committed)
slides: $(STAMP)
	$(BIN)/python -m workshop.slides --out slides

# Every performance figure of the course, regenerated into benchmarks/RESULTS.md
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py

# JupyterLab in headless Chromium: open the setup notebook and the chat box, screenshot them
test-browser: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider
