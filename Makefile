# Two commands: `make test` and `make demo`. Both run `make setup` first, which is
# idempotent: Debian packages only when missing, the venv install stamped on
# pyproject.toml, the offline PlatformIO core stamped on tinycompress/pio.py.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.tinycompress-installed
CORE_DIR := .platformio
CORE_STAMP := $(CORE_DIR)/.tinycompress-setup
PYTEST_ARGS ?= -n 2

.PHONY: setup debs test demo bench

setup: debs $(VENV_STAMP) $(CORE_STAMP)

debs:
	@scripts/ensure-debs.sh

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[tf,firmware,bench,test]'
	@touch $@

$(CORE_STAMP): $(VENV_STAMP) tinycompress/pio.py
	$(BIN)/python -m tinycompress.pio setup $(CORE_DIR)
	@touch $@

# pytest exits 5 when it collects nothing; make treats every non-zero status as failure.
test: setup
	$(BIN)/pytest $(PYTEST_ARGS) tests

demo: setup
	$(BIN)/tinycompress inspect examples/digits/model.keras

bench: setup
	@if [ -f bench/run.py ]; then $(BIN)/python bench/run.py; else echo "bench/run.py not written yet"; fi
