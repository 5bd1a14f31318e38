# Two entry points for a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
PIP := $(PYTHON) -m pip --disable-pip-version-check -q
export PIP_ROOT_USER_ACTION := ignore

# llama.cpp built without -march=native: the native build's AMX/AVX-512 kernels crash on
# batched decode on this VM family (measured: segfault with n_batch > 1).
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
LLAMA_OK := import llama_cpp, sys; sys.exit(b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info())

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-local install-browser lint test test-fast demo bench clean

install:
	$(PIP) install -e '.[test,bench]'

install-local:
	@$(PYTHON) -c '$(LLAMA_OK)' 2>/dev/null || { \
		echo "building llama-cpp-python $(LLAMA_VERSION) (a few minutes, once)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --no-cache-dir --force-reinstall \
			--no-deps "llama-cpp-python==$(LLAMA_VERSION)"; }
	$(PIP) install -e '.[local,demo]'

# Debian's Chromium for the end-to-end suite (Playwright drives it; no browser download).
install-browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium; }

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy lexilux_nb

test: install install-local install-browser lint
	$(PYTHON) -m pytest -q

test-fast: lint
	$(PYTHON) -m pytest -q -m "not local_model and not e2e"

demo: install install-local
	$(PYTHON) -m lexilux_nb.demo notebooks/quickstart.ipynb --out build

bench: install
	$(PYTHON) benchmarks/bench_client.py
	$(PYTHON) benchmarks/bench_render.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
