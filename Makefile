# The README's two commands: `make book` (the main job) and `make test`.
# Both (re)create .venv from requirements.lock when it is missing or older than
# pyproject.toml / requirements.lock.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := runs/data/qtlmas2010-sim

.PHONY: book test lock clean

$(STAMP): pyproject.toml requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Main job: simulate the default QTLMAS2010-like data set, summarise it and
# score the baselines (generations 1-4 -> 5).
book: $(STAMP)
	$(PY) -m cnngwp simulate --seed 1 --out $(DATA)
	$(PY) -m cnngwp summary --data $(DATA)
	$(PY) -m cnngwp baselines --data $(DATA)

test: $(STAMP)
	$(PY) -m pytest

# Re-pin requirements.lock from pyproject.toml (run after changing dependencies).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e '.[test]'
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) runs _build
