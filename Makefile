# Two commands: `make test` and `make demo`. Both run `make setup` first, which is
# idempotent: Debian packages only when missing, the venv install stamped on
# pyproject.toml, the offline PlatformIO core stamped on tinycompress/target/pio.py.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.tinycompress-installed
CORE_DIR := .platformio
CORE_STAMP := $(CORE_DIR)/.tinycompress-setup
# Development keeps its PlatformIO core in the checkout (an installed tinycompress uses the
# user cache directory: `tinycompress doctor` shows where).
export TINYCOMPRESS_PIO_CORE ?= $(CURDIR)/$(CORE_DIR)
PYTEST_ARGS ?= -n 2

.PHONY: setup debs test demo bench

setup: debs $(VENV_STAMP) $(CORE_STAMP)

debs:
	@scripts/ensure-debs.sh

$(VENV_STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[tf,bench,test,onnx,power,cluster]'
	# tests write Keras 2 SavedModels with tf-keras; --no-deps: it requires the `tensorflow`
	# wheel, which would overwrite tensorflow-cpu's files with a CUDA build
	$(BIN)/pip install --no-deps 'tf-keras==2.21.0'
	@touch $@

$(CORE_STAMP): $(VENV_STAMP) tinycompress/target/pio.py
	$(BIN)/python -m tinycompress.target.pio setup $(CORE_DIR)
	@touch $@

# pytest exits 5 when it collects nothing; make treats every non-zero status as failure.
test: setup
	$(BIN)/pytest $(PYTEST_ARGS) tests

# The bundled example end to end, as a user would run it: the digits LeNet
# built for the NUCLEO-F401RE with the default compression (pruning with
# fine-tuning, then the per-layer search within 1 pt of float on the
# validation split held out of train.npz; test.npz only reports), run in QEMU
# on the test split (bit-exact check), HTML report.
DEMO_DIR := build/digits
DEMO_DATA := --data examples/digits/train.npz --eval-data examples/digits/test.npz

demo: setup
	$(BIN)/tinycompress inspect examples/digits/model.keras
	$(BIN)/tinycompress build examples/digits/model.keras --board nucleo \
		$(DEMO_DATA) -o $(DEMO_DIR) --force
	$(BIN)/tinycompress sim $(DEMO_DIR) -n 100
	$(BIN)/tinycompress report $(DEMO_DIR)

bench: setup
	@if [ -f bench/run.py ]; then $(BIN)/python bench/run.py; else echo "bench/run.py not written yet"; fi
