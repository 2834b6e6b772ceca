# Two entry points: `make demo` and `make test`. Both build .venv on first use, reinstall the
# dependencies when pyproject.toml changes and relink the package when a module is added,
# moved or removed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-$(shell sha256sum pyproject.toml | cut -c1-16)
# The editable install uses setuptools' strict mode: a tree of links to each source file in
# build/__editable__.ragdrop-*, put on sys.path by a static .pth, so mypy and pytest's
# --pyargs see the installed names (ragdrop, ragdrop.retrievers); the default mode's import
# hook is invisible to mypy. Edits to a module show at once, but a new module needs a
# relink, so this stamp is named after pyproject.toml and the list of source files. It lives
# in build/ so that removing build/ relinks too.
STAMP := build/.linked-$(shell (cat pyproject.toml; find plugin retrievers -name '*.py' \
	-not -path '*/__pycache__/*' | LC_ALL=C sort) | sha256sum | cut -c1-16)
STRICT := --config-settings editable_mode=strict
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint types doctest pytest bench clean install system-deps

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(DEPS): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, from the local wheel; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]' $(STRICT)
	rm -f $(VENV)/.deps-* $(VENV)/.installed-*
	touch $(DEPS)

$(STAMP): $(DEPS)
	$(PY) -m pip install -q --no-deps -e . $(STRICT)
	mkdir -p build && rm -f build/.linked-*
	touch $(STAMP)

install: $(STAMP) system-deps

# The Redis tests start their own redis-server (Debian's package), installed here when
# missing; where it cannot be (no apt-get, no root or sudo) they are skipped with the reason.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq redis-server >/dev/null; } || \
		echo "redis-server is missing and could not be installed: its tests will skip" >&2

demo: $(STAMP)
	$(VENV)/bin/ragdrop demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check plugin retrievers tests benchmarks
	$(VENV)/bin/ruff format --check plugin retrievers tests benchmarks

# mypy finds ragdrop through the editable install (see STAMP); ragdrop.retrievers is inside.
types: $(STAMP)
	$(VENV)/bin/mypy -p ragdrop

# Every docstring example of both packages runs. Examples write under tempfile.mkdtemp();
# TMPDIR points that at one folder removed afterwards, so runs leave nothing in /tmp.
doctest: $(STAMP)
	tmp=$$(mktemp -d) && TMPDIR=$$tmp RAGDROP_ONNX_DIR=$$tmp/onnx $(PY) -m pytest --doctest-modules --pyargs \
		ragdrop ragdrop.retrievers; status=$$?; rm -rf $$tmp; exit $$status

pytest: $(STAMP) system-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint types doctest pytest

# Every benchmark at its quick size, one summary table; `make bench ARGS=--full` for full sizes.
bench: $(STAMP)
	$(PY) -m benchmarks.run_all $(ARGS)

clean:
	rm -rf $(VENV) build .typecheck .ragdrop .pytest_cache .mypy_cache .ruff_cache
