# Two commands set everything up on a fresh machine: `make book` and `make test`.
# Each creates .venv if missing, installs the pinned stack, fetches MNIST, then works.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python >= 3.11 on PATH (override with `make PYTHON=/path/to/python3.12 ...`).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader runs `alembic` from PATH: the venv's bin must come first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup data test test-fast lint book vendor vendor-feedback bench clean release grade lab \
	bench-grading collect

help:
	@echo "make book   set up, then build the book into _build/html"
	@echo "make test   set up, then run ruff and every test (what CI runs)"
	@echo "make test-fast  ruff and the hermetic tests: no MNIST, no book, no grading runs"
	@echo "make bench  set up, then run the speed benchmark"
	@echo "make lab    set up, then open JupyterLab on the assignments (students)"
	@echo "make release  regenerate assignments/ from solutions/ (instructors)"
	@echo "make collect ZIP=download.zip  import an LMS download (Canvas, Moodle) into"
	@echo "            _grading/submitted/ (ASSIGNMENT=ps1 if it cannot tell, FORCE=1 replaces)"
	@echo "make grade  autograde _grading/submitted/, feedback, grades CSV (instructors;"
	@echo "            FORCE=1 regrades, TIMEOUT=s sets the per-cell limit, WORKERS=n local"
	@echo "            Dask workers, SCHEDULER=tcp://host:8786 grades on a Dask cluster)"
	@echo "make bench-grading  time 40 ps3 submissions: serial nbgrader vs make grade"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,grading,dev]'
	@touch $@
	@echo "installed into $(VENV)"

setup: $(STAMP)

data: setup
	$(BIN)/python -m bpcourse fetch

# Also the code of the solution notebooks, as built for nbgrader from solutions/<ps>/<ps>.md.
lint: setup
	$(BIN)/python -m bpcourse.grading build >/dev/null
	$(BIN)/ruff check bpcourse tests _grading/source

# Two tiers, both timed. `test` is the full suite (CI). `test-fast` is the edit-test loop:
# the tests marked neither slow (training, nbgrader runs, the book) nor mnist (the real
# data set); tests/conftest.py makes those hermetic (an empty data folder, no download).
# Both run in two parts: the tests marked serial alone (the book build trains on both
# cores; others time themselves), then the rest, which mostly wait on kernels, servers and
# browsers, TEST_WORKERS at a time (2 on 2 cores: 3 was slower, and under its load a
# hostile cell's memory limit was reached after its time limit). --dist loadfile
# keeps a file on one worker, so its module fixtures (a graded course) are built once.
# Either part failing, or selecting no test (pytest's exit 5), fails the target.
TEST_WORKERS ?= 2
# $(call in_two_parts,marks,pytest options,what): both parts of the tests with those marks.
# Both parts share one book build (tests/conftest.py, built_book): part 1 builds, the page
# checks in part 2 read its record.
define in_two_parts
@start=$$(date +%s); export BPCOURSE_BOOK_BUILD="$$start-$$$$"; \
$(BIN)/python -m pytest -m "serial$(if $(1), and $(1))" $(2); rc=$$?; \
$(BIN)/python -m pytest -m "not serial$(if $(1), and $(1))" -n $(TEST_WORKERS) \
	--dist loadfile $(2); rest=$$?; [ $$rc -ne 0 ] || rc=$$rest; \
echo "$(3) took $$(( $$(date +%s) - start )) s"; exit $$rc
endef

test: data lint
	$(call in_two_parts,,--durations=30,full test suite)
	@echo "tests done; screenshots of the book (if built) are in _build/screenshots/"

test-fast: lint
	$(call in_two_parts,not slow and not mnist,,fast tests)

# Build the book: warnings (and so cell errors) fail it; execution is cached in _build.
book: data vendor
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going; rc=$$?; \
	echo "book build took $$(( $$(date +%s) - start )) s"; \
	if [ $$rc -ne 0 ]; then echo "book build FAILED (see warnings above)"; exit $$rc; fi
	@echo "book built: open _build/html/index.html"

# MathJax, the widget manager and require.js from the npm registry (pinned), for offline pages.
vendor: vendor-feedback
	book/_scripts/fetch_js.sh

# MathJax 3's one-file SVG bundle (the book's pin, its tarball checked by SHA-256), wrapped
# for nbconvert's templates: nbgrader_config.py inlines it into every feedback page, so the
# page a student gets back renders its math with no network.
FEEDBACK_MATHJAX := _build/vendor/feedback/mathjax-tex-svg.html
vendor-feedback: $(FEEDBACK_MATHJAX)
$(FEEDBACK_MATHJAX):
	@command -v npm >/dev/null || { echo "error: npm is needed to fetch MathJax" >&2; exit 1; }
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent mathjax@3.2.2 >/dev/null); \
	echo "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09  $$tmp/mathjax-3.2.2.tgz" \
		| sha256sum --check --quiet; \
	tar xzf "$$tmp/mathjax-3.2.2.tgz" -C "$$tmp" package/es5/tex-svg.js; \
	js="$$tmp/package/es5/tex-svg.js"; \
	if grep -q 'endraw\|</script' "$$js"; then echo "error: tex-svg.js cannot be inlined" >&2; exit 1; fi; \
	mkdir -p $(@D); \
	{ printf '<script>{%% raw %%}\n'; cat "$$js"; printf '\n{%% endraw %%}</script>\n'; } > $@.tmp; \
	mv $@.tmp $@; echo "fetched MathJax 3.2.2 (tex-svg.js) for the feedback into $(@D)/"

bench: data
	$(BIN)/python tests/bench.py

clean:
	rm -rf _build .pytest_cache .ruff_cache

# -- assignments (see assignments/README.md) -------------------------------------------
# solutions/<ps>/<ps>.md -> _grading/source/<ps>/<ps>.ipynb (nbgrader's source) -> assignments/
release: setup
	$(BIN)/python -m bpcourse.grading release

grade: data vendor-feedback
	$(BIN)/python -m bpcourse.grading grade $(if $(FORCE),--force) \
		$(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))

# Not part of `make test`: a few minutes (see tests/bench_grading.py).
bench-grading: data
	$(BIN)/python tests/bench_grading.py

# An LMS download (one zip of every hand-in of an assignment) -> _grading/submitted/, with
# nbgrader's zip_collect (see assignments/README.md); then `make grade`.
collect: setup
	@test -n "$(ZIP)" || { echo "usage: make collect ZIP=path/to/download.zip [ASSIGNMENT=ps1] [FORCE=1]" >&2; exit 2; }
	$(BIN)/python -m bpcourse.grading collect "$(ZIP)" \
		$(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(FORCE),--force)

# JupyterLab refuses to run as root without --allow-root (containers, CI).
# tests/test_browser_flows.py runs this very command (read with `make -n lab`).
lab: data
	$(BIN)/jupyter lab assignments/ $(if $(filter 0,$(shell id -u)),--allow-root)
