# Quick start: `make run` (the bundled district) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser run test test-fast lint docs format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# numba compiles the engine's kernels at their first call and caches them beside
# circles/engine.py; an edit to it voids that cache. Compile them here, not in the first run.
KERNELS := $(VENV)/.kernels-compiled
$(KERNELS): $(STAMP) circles/engine.py
	$(BIN)/python -m circles._compile
	touch $(KERNELS)

setup: $(STAMP) $(KERNELS)

run: setup
	$(BIN)/circles run

# tests/test_map_browser.py drives Debian's chromium; screenshots need CJK fonts. units.pdf
# is drawn by WeasyPrint, which needs pango (and the same fonts); tests/test_dossiers.py
# reads it with poppler's pdftoppm. As root, install them when missing (otherwise the tests
# skip, and fail under CI=true).
PANGO_FT2 := /usr/lib/*/libpangoft2-1.0.so.0 /usr/lib*/libpangoft2-1.0.so.0
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' \
	  || ! command -v pdftoppm >/dev/null 2>&1 || ! ls $(PANGO_FT2) 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium, fonts-noto-cjk, pango and poppler-utils (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk \
	        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils >/dev/null; \
	  else \
	    echo "chromium, fonts-noto-cjk, pango or poppler-utils missing and not root:" \
	      "the browser and PDF tests will skip"; \
	  fi; \
	fi

test: setup browser
	$(BIN)/pytest

# Skips the tests marked slow (end-to-end runs, the browser, the docs build).
test-fast: setup
	$(BIN)/pytest -m "not slow"

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The API reference (mkdocs.yml, docs/), offline: no theme or inventory is downloaded.
docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# benchmarks/RESULTS.md: our engine against pandana and cityseer, end to end, scale.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) $(KERNELS)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) outputs/*/ .pytest_cache .mypy_cache site
