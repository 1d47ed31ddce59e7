# cohortbot — two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_DIR ?= demo
# pytest-xdist workers for `make test`. The suite mostly waits (on Synapse, PostgreSQL,
# Chromium, child bots and their timers), so on the 2-core machines the project runs on
# 3 workers beat 2 (244-292 s against 370-378 s for the whole suite, 565 s in one
# process; 4 workers load the cores too much and are slower again, 285 s). Each worker
# starts its own Synapse, PostgreSQL and Chromium.
# `worksteal` hands queued tests to whichever worker is idle, so one worker left with
# the long SIGKILL tests does not make the run wait. `make test TEST_WORKERS=0` runs the
# suite in one process.
TEST_WORKERS ?= 3
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: demo test install system-deps bench bench-matrix bench-reminders bench-relay bench-startup lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

## System packages the tests need: PostgreSQL server binaries, Chromium for the web pages.
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
	  echo "installing PostgreSQL server (Debian package postgresql)"; \
	  $(APT) update -qq && $(APT) install -y -qq postgresql >/dev/null; fi
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Chromium (Debian package chromium)"; \
	  $(APT) update -qq && $(APT) install -y -qq chromium >/dev/null; fi

test: install system-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

demo: install
	$(PY) -m bot.demo --dir $(DEMO_DIR)

bench: install system-deps
	$(PY) bench/commands.py
	$(PY) bench/slack_ack.py
	$(MAKE) bench-reminders
	$(PY) bench/votes.py
	$(MAKE) bench-startup

## Start-up time and RSS with 100 cohorts, SQLite and PostgreSQL, against a bare aiohttp process.
bench-startup: install system-deps
	$(PY) bench/startup.py

bench-reminders: install system-deps
	$(PY) bench/reminders.py
	$(PY) bench/reminders.py --postgres

## Matrix round trips: raw client→client, a minimal nio echo bot, and cohortbot (1 and 8 users).
bench-matrix: install
	$(PY) bench/matrix_roundtrip.py

## The bridge: added latency per direction against the raw Synapse hop, 200-message bursts.
bench-relay: install
	$(PY) bench/relay.py

lint: install
	$(VENV)/bin/ruff check bot handlers storage messages tests bench

clean:
	rm -rf $(VENV) $(DEMO_DIR) var .pytest_cache
