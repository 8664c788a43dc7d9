# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

.PHONY: demo test install bytecode lint typecheck pytest lock clean system-deps

# Install the locked dependencies and the package itself into .venv (re-run when the lock changes), compiled
# to bytecode: where PYTHONDONTWRITEBYTECODE is set (as on this project's machines), a Python process would
# otherwise compile every module it imports, each time (the CLI's start-up: 15 s instead of 5 on a 2-core box).
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The project's own modules (an editable install), compiled again when they change.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

install: $(STAMP) bytecode

demo: install
	$(BIN)/oligotrial demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: install
	$(BIN)/pytest -q

# Debian packages the test suite needs, installed only when missing: the PostgreSQL server for the EDC tests,
# Chromium for the browser tests (Playwright drives Debian's build; no browser is downloaded), a CJK font for
# the Chinese labels of the figures (docs/administrator.md asks a server for one too).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y --no-install-recommends $$missing; fi

test: system-deps lint typecheck pytest

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml --extra test --extra bench --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
