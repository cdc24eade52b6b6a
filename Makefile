# mapservice: `make run` serves the app with demo data, `make test` runs the whole suite.
# Both install what is missing first: PostGIS (Debian package), Chromium (browser tests),
# a virtualenv with the package, and the database named by DATABASE_URL.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
DATABASE_URL ?= postgresql:///mapservice
TEST_DATABASE_URL ?= postgresql:///mapservice_test
export DATABASE_URL TEST_DATABASE_URL
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PG_MAJOR ?= 15

.PHONY: run test postgis browser venv database serve bench audit load clean messages translations

run: postgis venv database ## install, migrate, seed demo data and serve on 127.0.0.1:$(PORT)
	$(BIN)/mapservice run --host 127.0.0.1 --port $(PORT)

test: postgis browser venv ## the whole test suite against a real PostGIS database
	$(BIN)/python -m pytest

postgis:
	@if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
	  echo "PostGIS is missing: installing postgresql-$(PG_MAJOR)-postgis-3"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql-$(PG_MAJOR)-postgis-3; \
	fi

browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "Chromium is missing (browser tests): installing Debian's chromium"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/pybabel -q compile -d mapservice/translations
	@touch $@

messages: venv ## extract the pages' strings and update the es/en catalogues (then translate)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location --sort-output -o mapservice/translations/messages.pot .
	$(BIN)/pybabel update -i mapservice/translations/messages.pot -d mapservice/translations --no-fuzzy-matching

translations: venv ## compile the catalogues (.po -> .mo; the .mo files are committed too)
	$(BIN)/pybabel -q compile -d mapservice/translations

database: venv
	$(BIN)/python -m mapservice.provision "$(DATABASE_URL)"
	$(BIN)/mapservice db upgrade
	$(BIN)/mapservice seed

BENCH_N ?= 100000
BENCH_DATABASE_URL ?= postgresql:///mapservice_bench

bench: postgis venv ## benchmarks (not part of make test): writes bench/results.md; BENCH_N=1000000 for 1M
	@command -v wrk >/dev/null 2>&1 || { $(SUDO) apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  echo "wrk is not installable here: the benchmark uses its Python load generator"; }
	$(BIN)/python bench/run.py --n $(BENCH_N) --database-url "$(BENCH_DATABASE_URL)" $(BENCH_ARGS)

load: postgis venv database ## 50 phone users for 2 minutes against gunicorn (locust), then the same with a PostgreSQL restart
	$(BIN)/python -m pip install -q -e '.[load]'
	$(BIN)/python bench/load_drill.py --output bench/load-results.md
	$(BIN)/python bench/load_drill.py --restart-at 40 --output bench/load-restart-results.md

audit: venv ## known vulnerabilities in the installed dependencies (pip-audit, needs PyPI's JSON API)
	$(BIN)/python -m pip install -q -e '.[audit]'
	$(BIN)/pip-audit --strict --local --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
