# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCE ?= samples/incabin_belted_driver.mp4
# make run MQTT=localhost:1883 also publishes to that broker.
MQTT ?=
# make run REALTIME=1 plays the clip at its recorded speed.
REALTIME ?=
PYTEST_ARGS ?=

.PHONY: run test lint mosquitto chromium mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps, so the slow installs run once per change of pyproject.toml.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,train]"
	touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed
	$(BIN)/dmsd --config config.yaml --source $(SOURCE) --print \
		$(if $(MQTT),--mqtt $(MQTT),--no-mqtt) $(if $(REALTIME),--realtime)

# The tests start their own Mosquitto broker; install Debian's when it is missing and we may.
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing mosquitto (Debian package)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto mosquitto-clients; \
	else \
		echo "make test: mosquitto is missing; install it (e.g. sudo apt-get install mosquitto) and run again" >&2; \
		exit 1; \
	fi

# The preview page's test drives a real browser: Debian's chromium, installed when missing and we may (else that
# one test is skipped, and says so).
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian package)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "make test: chromium is missing, so the preview's browser test will be skipped" >&2; \
	fi

# ruff (lint and format) and mypy (dmsd/), as configured in pyproject.toml; `make test` runs them first, so a
# finding fails the build.
lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint mosquitto chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Mutation testing of the code that decides alarms (README, "Mutation testing"): not part of `make test`.
$(VENV)/.mutation-installed: pyproject.toml $(VENV)/.test-installed
	$(BIN)/python -m pip install -q -e ".[dev,train,mutation]"
	touch $@

mutation: $(VENV)/.mutation-installed
	rm -rf mutants
	DMSD_SHARED_DATA=$(abspath ../shared/data) $(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python -m scripts.mutation_report --out mutation-report.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info mutants mutation-report.md
