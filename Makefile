# The two commands users need: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= cpu,train,serve,dev
HOST ?= 127.0.0.1
PORT ?= 8000
MODELS_DIR ?= models
# Which zoo model answers `POST /classify` (and the others) when a request names none.
DEFAULT_MODELS ?= classify=fashion_cnn,generate=mnist_cgan,forecast=co2_lstm

.PHONY: install serve test lint typecheck unit zoo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# TF Serving's gRPC stubs name the full `tensorflow` distribution as a dependency;
# tensorflow-cpu provides everything they import, so they come without dependencies.
TF_SERVING_API ?= tensorflow-serving-api==2.21.0

# One stamp per set of extras, so `make serve EXTRAS=...` installs what a new set needs.
# TensorFlow's cpu and gpu builds cannot share a virtualenv: switching is `make clean`.
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
BUILD = $(if $(filter gpu,$(subst $(comma), ,$(1))),gpu,$(if $(filter cpu,$(subst $(comma), ,$(1))),cpu,))

$(STAMP): pyproject.toml | $(BIN)/python
	@for stamp in $(wildcard $(VENV)/.installed-*); do \
		had=$$(echo "$$stamp" | sed -n 's/.*\.installed-\(.*\)/\1/p' | tr - ' '); \
		case " $$had " in *" gpu "*) had=gpu;; *" cpu "*) had=cpu;; *) had=;; esac; \
		if [ -n "$$had" ] && [ -n "$(call BUILD,$(EXTRAS))" ] && [ "$$had" != "$(call BUILD,$(EXTRAS))" ]; then \
			echo "$(VENV) holds TensorFlow's $$had build; run 'make clean' before EXTRAS=$(EXTRAS)"; \
			exit 1; \
		fi; \
	done
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet --no-deps "$(TF_SERVING_API)"
	touch $@

install: $(STAMP)

serve: install
	$(BIN)/kerasserve serve --host $(HOST) --port $(PORT) --models-dir $(MODELS_DIR) \
		$(if $(filter models,$(MODELS_DIR)),--default-models $(DEFAULT_MODELS))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m "not slow"

test: lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Retrain the whole zoo into models/ (new versions; about an hour on 2 CPU cores).
zoo: install
	scripts/train_zoo.sh

# Benchmark against the peer servers (needs Debian's wrk); writes docs/benchmarks.md.
bench: install
	$(BIN)/python -m bench run
