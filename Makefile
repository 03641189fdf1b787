# The README's two set-up commands: `make chat` and `make test`. Both install into .venv/.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STORE ?= .store/sample
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: install chat sample test test-fast lint clean reader postgresql

$(BIN)/assistant: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; an unpinned torch pulls a several-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/assistant

sample: install
	# The sample store is derived data: one built with other chunking settings (exit 2) is rebuilt.
	$(BIN)/assistant ingest corpus --store $(STORE) || { [ $$? -eq 2 ] && rm -rf $(STORE) && \
		$(BIN)/assistant ingest corpus --store $(STORE); }

chat: sample
	$(BIN)/assistant serve --store $(STORE) --host $(HOST) --port $(PORT)

test: install postgresql
	$(BIN)/ruff check assistant tests evals
	$(BIN)/python -m pytest

# The shared-catalog tests start a PostgreSQL server of their own (tests/backends.py): Debian's package.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		echo "installing Debian's postgresql (the shared-catalog tests start a server of their own)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq postgresql >/dev/null; }

test-fast: install postgresql
	$(BIN)/python -m pytest -m "not slow"

# Trains the reader from ../shared/data and calibrates it (resumable: run again after a stop), then prints
# its figures on the held-out SQuAD articles; writes assistant/read/reader_model/ (docs/reader.md). Under 2 hours.
reader: install
	$(BIN)/python evals/train_reader.py
	$(BIN)/python evals/calibrate_reader.py

lint: install
	$(BIN)/ruff check assistant tests evals

clean:
	rm -rf $(VENV) .store .pytest_cache
