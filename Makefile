# Every target installs what it needs first. Installing twice with nothing changed is a no-op:
# the stamp file is newer than the lock files.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install demo up test bench lint lock clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: install
	$(BIN)/python -m devtools.demo

up: install
	$(BIN)/python -m devtools.devserver

test: install
	$(BIN)/python -m devtools.testrun $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the full dependency set in a scratch virtualenv and write constraints.txt.
lock:
	rm -rf /tmp/hub-lock && $(PYTHON) -m venv /tmp/hub-lock
	/tmp/hub-lock/bin/pip install --quiet -r requirements.txt
	{ echo "# Full resolved set from a clean Python 3.11 virtualenv (pip freeze after installing requirements.txt)."; \
	  echo "# Regenerate with \`make lock\`."; /tmp/hub-lock/bin/pip freeze; } > constraints.txt

clean:
	rm -rf $(VENV) .airflow output .pytest_cache
