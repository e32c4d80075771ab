# The two commands of the README:
#   make run   installs, migrates, loads the demo market, seeds it and serves it on SQLite,
#              with the scheduled jobs in a second process started and stopped with the server
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

# Browser tests drive Debian's chromium (never a downloaded browser build).
browsers:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
	      || echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "chromium missing and not root: browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

run: install
	$(FLASK) db upgrade
	$(FLASK) market load $(CONTRACT)
	$(FLASK) demo seed
	@echo ""
	@echo "fc_market : http://$(HOST):$(PORT)/"
	@$(FLASK) demo logins
	@echo ""
	@echo "Tâches planifiées : un planificateur tourne à côté du serveur (arrêté avec lui)."
	@$(FLASK) scheduler run --catch-up 24 & scheduler=$$!; \
	trap 'kill $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev browsers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python -m bench $(BENCH)
