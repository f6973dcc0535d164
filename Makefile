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

# Offline demo until `shiftbench demo` exists: a RANDOM-INIT model on a generated image set.
demo: $(VENV)/.installed
	$(VENV)/bin/shiftbench synthetic .demo/images --classes 10 --per-class 20 --size 72
	$(VENV)/bin/shiftbench eval test_resnet --no-pretrained --num-classes 10 \
		--data .demo/images --img-size 64 --max-shift 8 --suite all --out .demo/results

clean:
	rm -rf $(VENV) .demo
