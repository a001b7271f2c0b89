# Every target installs what it needs first: on a fresh machine `make run` and `make test`
# are the whole set-up. torch (the `torch` extra) is installed before the project, pinned to
# the CPU build; a torch >= 2.1 that Python already sees (--system-site-packages) is used as it is.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Where pip looks for torch: empty is pip's own configuration. Where that is PyPI (whose Linux torch
# is the CUDA build, several GB), pass TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# Only its model YAMLs, for tests that compare with Ultralytics' own counts (never imported; AGPL-3.0)
ULTRALYTICS_VERSION ?= 8.4.190
STAMP := $(VENV)/.installed

.PHONY: install run test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -c "import sys, torch; sys.exit(tuple(map(int, torch.__version__.split('+')[0].split('.')[:2])) < (2, 1))" 2>/dev/null \
		|| $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[torch,test]"
	$(PY) -m pip install --quiet --no-deps "ultralytics==$(ULTRALYTICS_VERSION)"
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cnninspect summary
	@echo "cnninspect is $(VENV)/bin/cnninspect; run '. $(VENV)/bin/activate' to call it as cnninspect"

test: $(STAMP)
	$(PY) -m pytest

check: $(STAMP)
	$(PY) -m ruff check cnninspect tests bench
	$(PY) -m mypy
	$(VENV)/bin/cnninspect lint configs

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/run.py
	$(PY) bench/model_devices.py tests/reference_models.py:unet 1x192x192
	$(PY) bench/model_devices.py tests/reference_models.py:resnet50 3x224x224 --batch 8
	$(PY) bench/hook_env.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
