# Everything runs inside .venv, created on first use from the machine's python3 (3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DIGEST := $(BIN)/digest
DEMO_DB := sqlite:///var/demo.sqlite
DEMO_PORT ?= 8000
# Links in the demo's emails lead to the port it serves (make demo DEMO_PORT=8123).
DEMO_BASE_URL ?= http://127.0.0.1:$(DEMO_PORT)
DEMO := DIGEST_BASE_URL=$(DEMO_BASE_URL) DIGEST_MAIL_URL=maildir:var/mail \
	$(DIGEST) --config examples/demo.yaml --db $(DEMO_DB)

.PHONY: venv install install-test browser imap-server demo demo-data demo-run test lint clean \
	bench bench-send bench-imports

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/pip install --quiet -e .

install-test: venv
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(MAKE) --no-print-directory demo-run

# The demo's database, made or brought up to date: safe to run again on an existing var/.
demo-data:
	mkdir -p var
	$(DEMO) init
	$(DEMO) poll --all
	$(DEMO) items import examples/catalogue/new-in-the-library.ris --newsletter new-in-the-library
	$(DEMO) demo-setup

demo-run: demo-data
	@echo "Mail goes to the Maildir var/mail: staff read it on the Outbox page."
	DIGEST_DEMO=1 $(DEMO) run --port $(DEMO_PORT)

# Browser tests drive Debian's Chromium (never a downloaded one); install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

# The IMAP test reads returned mail from a real Dovecot, started by the test on its own port.
imap-server:
	@test -x /usr/sbin/dovecot || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; \
	  else echo "Dovecot is missing: run 'sudo apt-get install dovecot-imapd' for the IMAP test"; fi; }

# The suite on TEST_WORKERS processes (many tests wait on servers, processes and the disk),
# then the tests that measure time, one at a time with nothing beside them.
TEST_WORKERS ?= 4

test: install-test browser imap-server
	$(BIN)/ruff check digest tests benchmarks
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not alone"
	$(BIN)/python -m pytest -m alone

lint: install-test
	$(BIN)/ruff check digest tests benchmarks

bench: install-test
	$(BIN)/python benchmarks/ingest.py

bench-send: install-test
	$(BIN)/python benchmarks/send.py

bench-imports: install-test
	$(BIN)/python benchmarks/imports.py

clean:
	rm -rf $(VENV) var .pytest_cache
