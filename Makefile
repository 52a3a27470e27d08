# Two commands a user needs: `make demo` (the main job) and `make test` (the whole suite, then every notebook's examples).
# Both install the project into .venv first, from settings.ini, if that has not happened yet.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# pytest-xdist: two test processes of one torch thread each finish the suite in about 7 minutes on a 2-core machine,
# against about 13 for one process of two threads (most tests are small and single-threaded); whole files go to one
# worker (--dist loadfile), so a module's shared fixtures (the two-process launches) are built once; `make test
# WORKERS=0` runs it in one process
WORKERS ?= 2

.PHONY: install demo test export

$(VENV)/.installed: settings.ini setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/timemae demo

test: install
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile tests
	$(BIN)/nbdev_test  # the notebooks' example cells, with their assertions

export: install
	$(BIN)/nbdev_export
