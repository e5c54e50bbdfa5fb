# Developer tasks for granian. `make help` lists them; `make serve` and `make test` are the two
# entry points (README.md). Everything runs from the repo's own virtualenv `.venv` through
# `.venv/bin/...` paths: nothing needs activating, nothing is installed outside the repo.

.DEFAULT_GOAL := help
# One step at a time: `test` relies on `build` finishing before pytest starts, and cargo
# invocations would only queue on cargo's lock anyway.
.NOTPARALLEL:
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Interpreter that creates the venv (CPython >= 3.10; CI uses 3.11).
PYTHON ?= python3
VENV := $(CURDIR)/.venv
VPY := $(VENV)/bin/python
# Touched after the dev requirements are installed; editing requirements-dev.txt re-installs.
VENV_STAMP := $(VENV)/.dev-requirements-installed

# `make serve` settings.
HOST ?= 127.0.0.1
PORT ?= 8000
APP ?= examples.app:app

# Extra arguments: `make test PYTEST_ARGS='-k keepalive -x'`, `make bench BENCH_ARGS='--rounds 5'`.
PYTEST_ARGS ?=
BENCH_ARGS ?=

# pyo3's build script asks this interpreter for the Python version and library, so cargo,
# clippy and maturin all build against the venv's CPython (and share one build cache).
export PYO3_PYTHON := $(VPY)
# maturin installs into the environment named here.
export VIRTUAL_ENV := $(VENV)

# In CI (CI=true) cargo must not rewrite Cargo.lock: a stale lock file fails loudly instead.
CARGO_LOCKED := $(if $(filter true 1,$(CI)),--locked,)

# `cargo test` runs binaries that link libpython3.x.so (no `extension-module` feature there);
# the dynamic loader finds it through LD_LIBRARY_PATH, taken from the interpreter itself.
PY_LIBDIR = $$($(VPY) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
WITH_LIBPYTHON = LD_LIBRARY_PATH="$(PY_LIBDIR)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}"

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(VENV_STAMP): requirements-dev.txt | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	@touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv and install the build/lint/test tools (requirements-dev.txt)

.PHONY: build
build: venv ## Build the extension in release mode and install granian into .venv (editable)
	$(VENV)/bin/maturin develop --release $(CARGO_LOCKED)

.PHONY: build-dev
build-dev: venv ## Same as build, but a fast unoptimised debug build (replaces the release one)
	$(VENV)/bin/maturin develop $(CARGO_LOCKED)

.PHONY: serve
serve: build ## Build, then serve examples/app.py (RSGI) on http://127.0.0.1:8000 (HOST=, PORT= to change)
	$(VENV)/bin/granian --interface rsgi --host $(HOST) --port $(PORT) $(APP)

.PHONY: lint-rust
lint-rust: venv ## Rust gates: rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy $(CARGO_LOCKED) --all-targets -- -D warnings

.PHONY: lint-python
lint-python: venv ## Python gates: ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: lint
lint: lint-rust lint-python ## All lint gates (Rust and Python)

.PHONY: format
format: venv ## Rewrite Rust and Python sources in place (rustfmt, ruff --fix, ruff format)
	cargo fmt --all
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test-rust
test-rust: venv ## Rust unit and integration tests (cargo test)
	$(WITH_LIBPYTHON) cargo test $(CARGO_LOCKED)

.PHONY: test-python
test-python: venv ## Python tests (pytest) against the installed build; no tests collected = failure
	@rc=0; $(VPY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; \
	exit $$rc

.PHONY: test
test: build lint test-rust test-python ## Release build, then every gate: fmt, clippy, ruff, cargo test, pytest

.PHONY: bench
bench: build ## Benchmark against reference servers (needs wrk and BENCH_VENV; see benchmarks/README.md)
	$(VPY) benchmarks/run.py $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build outputs and tool caches (keeps .venv; `rm -rf .venv` for a fresh start)
	cargo clean
	rm -f python/granian/_granian*.so
	rm -rf .pytest_cache .ruff_cache dist
