# tipwatch: the two commands a new user needs are `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the store tests (trust auth on the development machine and in CI).
TIPWATCH_TEST_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export TIPWATCH_TEST_POSTGRES

.PHONY: demo test lint typecheck pytest services bench schema docs clean

# vpdq (video hashing) compiles against FFmpeg's libraries; pdqhash compiles too.
SYSTEM_PACKAGES := libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev \
	libswresample-dev libswscale-dev libavutil-dev pkg-config cmake g++

$(BIN)/python:
	bash scripts/ensure-system-packages.sh $(SYSTEM_PACKAGES)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	bash scripts/ensure-system-packages.sh $(SYSTEM_PACKAGES)
	$(BIN)/python -m pip install -q -e .
	touch $@

# The tests also make small videos (test patterns) with the ffmpeg command, open the HTML that
# tipwatch writes in Debian's Chromium (headless, driven by Playwright: no browser download),
# and render the assessment's PDF pages with pdftoppm. Real filters run on 127.0.0.1 against
# the exported URL list: Unbound and BIND (with dig), named-checkzone, Squid (with curl).
TEST_SYSTEM_PACKAGES := ffmpeg chromium poppler-utils \
	unbound bind9 bind9-utils bind9-dnsutils squid curl

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	bash scripts/ensure-system-packages.sh $(SYSTEM_PACKAGES) $(TEST_SYSTEM_PACKAGES)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

## demo: create the virtual environment, install, run the main job on the embedded default
demo: $(VENV)/.installed
	$(BIN)/tipwatch demo --out demo-out

## test: install the test extras, start what the tests need, run ruff, mypy and pytest (two workers)
test: $(VENV)/.installed-test services lint typecheck
	TIPWATCH_REQUIRE_POSTGRES=1 TIPWATCH_REQUIRE_SHARED=1 TIPWATCH_REQUIRE_FILTERS=1 $(BIN)/pytest -q -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

services:
	bash scripts/ensure-services.sh

## schema: regenerate docs/referral.schema.json from the models
schema: $(VENV)/.installed
	$(BIN)/tipwatch schema > docs/referral.schema.json

## docs: regenerate docs/cli.md from the commands
docs: $(VENV)/.installed
	$(BIN)/python -m tipwatch.cli._docs docs/cli.md

bench: $(VENV)/.installed-test services
	$(BIN)/python benchmarks/intake_xml.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
