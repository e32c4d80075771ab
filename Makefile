# The two commands of the README:
#   make run   installs, migrates, loads the demo market, seeds it and serves it on SQLite
#   make test  installs and runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app fc_market
HOST ?= 127.0.0.1
PORT ?= 5000
CONTRACT ?= contracts/cep-demo.toml

.PHONY: run test install install-dev browsers bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(FLASK) db upgrade heads
	$(FLASK) market load $(CONTRACT)
	$(FLASK) demo seed
	@echo ""
	@echo "fc_market : http://$(HOST):$(PORT)/"
	@$(FLASK) demo logins
	@echo ""
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python -m bench
