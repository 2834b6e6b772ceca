# Two entry points: `make demo` and `make test`. Both build .venv on first use and
# reinstall only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint types pytest bench clean install

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, from the local wheel; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ragdrop demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check plugin retrievers tests benchmarks
	$(VENV)/bin/ruff format --check plugin retrievers tests benchmarks

# mypy cannot follow setuptools' editable finder, so it reads the package through a
# link tree that mirrors the installed layout (ragdrop -> plugin, ragdrop.retrievers -> retrievers).
types: $(STAMP)
	rm -rf .typecheck && mkdir -p .typecheck/ragdrop
	for f in plugin/*; do ln -s ../../$$f .typecheck/ragdrop/; done
	ln -s ../../retrievers .typecheck/ragdrop/retrievers
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p ragdrop

pytest: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint types pytest

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) .ragdrop .pytest_cache .mypy_cache .ruff_cache
