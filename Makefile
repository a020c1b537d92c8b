# Every target installs what it needs first. Installing twice with nothing changed is a no-op:
# the stamp file is newer than the lock files.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The forecasting environment: statsforecast 2.1.1 needs pandas < 3, the main environment pins pandas 3.
# transforms/demand_forecast.py runs in it (Airflow's @task.external_python, or a subprocess).
FORECAST_VENV := .venv-forecast
FORECAST_STAMP := $(FORECAST_VENV)/.installed
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install demo up test bench lint lock lock-forecast clean

install: $(STAMP) $(FORECAST_STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

$(FORECAST_STAMP): requirements-forecast.txt constraints-forecast.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(FORECAST_VENV)/bin/python || $(PYTHON) -m venv $(FORECAST_VENV)
	$(FORECAST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-forecast.txt -c constraints-forecast.txt
	@touch $(FORECAST_STAMP)

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

# The same for the forecasting environment: constraints-forecast.txt.
lock-forecast:
	rm -rf /tmp/hub-lock-forecast && $(PYTHON) -m venv /tmp/hub-lock-forecast
	/tmp/hub-lock-forecast/bin/pip install --quiet -r requirements-forecast.txt
	{ echo "# Full resolved set of requirements-forecast.txt from a clean Python 3.11 virtualenv (pip freeze)."; \
	  echo "# Regenerate with \`make lock-forecast\`."; /tmp/hub-lock-forecast/bin/pip freeze; } > constraints-forecast.txt

clean:
	rm -rf $(VENV) $(FORECAST_VENV) .airflow output .pytest_cache
