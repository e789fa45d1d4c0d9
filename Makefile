# LoRA from first principles: every command a student, instructor or presenter needs. `make help` lists them.
# The two that matter: `make lab` (set up the first time, then open the course) and `make test` (set up, test all).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB ?=

.PHONY: help setup lab test test-fast test-numerics lint sync release outputs grade doctor slides bench test-browser \
  student-edition wheelhouse

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 22

setup: $(STAMP)  ## create .venv and install the pinned packages (only when the pins change) [WHEELHOUSE=dir]

# Re-installs only when the pins change. course.py does the work (one implementation for make and for Windows):
# on Linux torch comes alone from PyTorch's CPU index first (the usual index's Linux torch is the CUDA build, GBs),
# falling back to the usual index with a one-line message; WHEELHOUSE=dir installs from `make wheelhouse`'s folder.
WHEELHOUSE ?=
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) course.py setup --force $(if $(WHEELHOUSE),--wheelhouse "$(WHEELHOUSE)")

# Wheels for a room without internet: make wheelhouse [PLATFORMS=linux,macos,windows] [DEST=wheelhouse]
PLATFORMS ?= linux,macos,windows
wheelhouse:  ## wheels for an offline room: Linux x86-64, macOS arm64, Windows x86-64 [PLATFORMS=linux]
	$(PYTHON) course.py wheelhouse --platforms "$(PLATFORMS)" $(if $(DEST),--dest "$(DEST)")

# Jupyter refuses to start as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Two rooms, each a Jupyter config dir that JUPYTER_CONFIG_PATH puts above every other (workshop/jupyter/):
# students get nbgrader's assignment list and Validate button only; instructors also the Formgrader, the course
# list and Create Assignment. The venv itself is left as pip installed it.
STUDENT_ROOM := $(abspath workshop/jupyter/student)
INSTRUCTOR_ROOM := $(abspath workshop/jupyter/instructor)
lab: $(STAMP)  ## open the course in JupyterLab (sets up first); nbgrader's student panels only
	JUPYTER_CONFIG_PATH=$(STUDENT_ROOM) $(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup.ipynb

lab-instructor: $(STAMP)  ## JupyterLab with nbgrader's instructor panels too: Formgrader, Create Assignment
	JUPYTER_CONFIG_PATH=$(INSTRUCTOR_ROOM) $(BIN)/jupyter lab $(ROOT_FLAG)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .

# `make test` and `make test-fast` *are* `python course.py test` / `test-fast` (one implementation for make, CI and
# Windows): ruff, then pytest with TEST_ENV on tests/ and notebooks/. Lab solutions are executed by tests/test_labs.py,
# which autogrades each one to full marks.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 MPLBACKEND=Agg
# One pytest-xdist worker per CPU core (at most 4), each with its share of the BLAS threads (conftest.py). A
# worker runs a whole notebook, a whole lab or a whole test file (--dist loadscope). XDIST= runs in one process.
XDIST ?= -n logical --maxprocesses=4 --dist loadscope
test: $(STAMP)  ## everything: ruff, tests, every lesson under nbval, every lab proven gradable
	XDIST='$(XDIST)' $(PYTHON) course.py test

# The inner loop of a change: tests not marked slow, one lesson (04) and one lab (lab00: the smallest that still goes
# through release, zygote, reference kernel, expectations and wrong answers; `make test` proves all 14).
FAST_LESSON ?= notebooks/04_attention.ipynb
FAST_LAB ?= lab00_setup
test-fast: $(STAMP)  ## unit tests, one lesson and one lab; about 2 minutes
	XDIST='$(XDIST)' FAST_LESSON='$(FAST_LESSON)' FAST_LAB='$(FAST_LAB)' $(PYTHON) course.py test-fast

# The float-sensitive checks again under a second numeric setting: one thread, ATen's portable (non-vectorised)
# kernels, MKL's reproducible code path. Float results move in their last bits; no test verdict and no checked lesson
# output may move with them (utils.numerics, docs/CONTRIBUTING.md "Comparing floats"). The lessons are those whose
# checked cells print float reductions; 00, 01, 09, 10, 12 and 13 print only counts, integer codes, greedy tokens
# (top-2 logit gaps above 500x the tolerance) or scalar IEEE arithmetic. About 3 min: these lessons take 90 s with
# 2 threads in figure 1 of benchmarks/RESULTS.md.
NUMERIC_SETTING := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE
NUMERIC_TESTS := tests/test_numerics.py tests/test_lora.py tests/test_attention.py tests/test_transformer.py \
  tests/test_training.py tests/test_positional.py
NUMERIC_LESSONS := notebooks/02_embeddings.ipynb notebooks/03_positional_encoding.ipynb notebooks/04_attention.ipynb \
  notebooks/05_transformer_block.ipynb notebooks/06_training_loop.ipynb notebooks/07_lora_by_hand.ipynb \
  notebooks/08_lora_with_peft.ipynb notebooks/11_quantization.ipynb notebooks/14_claims_checked.ipynb
test-numerics: $(STAMP)  ## float-sensitive tests and lessons again: 1 thread, other CPU kernels (about 3 min)
	@$(NUMERIC_SETTING) $(BIN)/python -c "import torch; print('numeric setting: ATen', \
	  torch.backends.cpu.get_cpu_capability(), 'kernels,', torch.get_num_threads(), 'thread')"
	$(NUMERIC_SETTING) $(TEST_ENV) $(BIN)/python -m pytest $(NUMERIC_TESTS) $(NUMERIC_LESSONS) $(XDIST) --nbval-lax \
	  --nbval-cell-timeout=300 -p no:cacheprovider

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
# [LMS=canvas|moodle ROSTER=export.csv] also writes grading/<lab>_<lms>.csv, the LMS's gradebook import.
SUBMISSIONS ?= submitted
grade: $(STAMP)  ## autograde a class: LAB=lab04_attention [SUBMISSIONS=submitted] [LMS=canvas ROSTER=x.csv]
	@test -n "$(LAB)" || { echo "usage: make grade LAB=<lab name, e.g. lab03_positional>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python -m grading --lab "$(LAB)" --submissions "$(SUBMISSIONS)" \
	  $(if $(LMS),--lms "$(LMS)" --roster "$(ROSTER)")

# The repository students clone: lessons, released labs, data, utils/; no solutions/, hidden tests or grading tools.
student-edition: $(STAMP)  ## the students' repository, without answers: DEST=../course-students
	@test -n "$(DEST)" || { echo "usage: make student-edition DEST=<an empty folder>"; exit 2; }
	$(BIN)/python -m grading.student_edition "$(DEST)"

# Gradescope's autograder for one lab (setup.sh, run_autograder, hidden tests, the bundled model): upload the zip.
gradescope: $(STAMP)  ## Gradescope autograder zip of a lab: LAB=lab04_attention [OUT=grading/gradescope_<lab>.zip]
	@test -n "$(LAB)" || { echo "usage: make gradescope LAB=<lab name, e.g. lab04_attention>"; exit 2; }
	$(BIN)/python -m grading.gradescope build --lab "$(LAB)" $(if $(OUT),--out "$(OUT)")

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
test-browser: $(STAMP)  ## JupyterLab, the chat box and every deck (1280x720; contact sheets: build/decks/) in headless Chromium
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider
