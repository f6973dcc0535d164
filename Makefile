# Each target sets itself up: a virtual environment in .venv with shiftbench installed.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test lint demo clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# the frost photographs of ImageNet-C, shipped by imagecorruptions (never imported)
	$(PY) -m pip install --quiet --no-deps 'imagecorruptions==1.1.2'
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

# The main job, offline: train a small CNN and its anti-aliased twins on generated images,
# compare them on every shift suite and the filters, write the report to .demo/results.
demo: $(VENV)/.installed
	$(VENV)/bin/shiftbench demo --out .demo/results

clean:
	rm -rf $(VENV) .demo
