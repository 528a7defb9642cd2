# The README's two commands: `make book` (the main job) and `make test`.
# Both (re)create .venv from requirements.lock when it is missing or older than
# pyproject.toml / requirements.lock. uv installs the lock (35 s on 2 cores from a cold cache,
# where pip took 136 s) and compiles its bytecode at once, as pip did: where
# PYTHONDONTWRITEBYTECODE is set, nothing else would, and every process would compile numpy,
# TensorFlow and the rest again (a fresh clone's tests took 27 minutes instead of 14). The lock
# itself stays a pip requirements file. Both targets compile the package's own bytecode first
# (0.2 s) for the same reason: each chapter kernel, Dask worker and command they start reads it
# instead of compiling cnngwp again (0.8 s each).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV := uv==0.13.9

.PHONY: book test compiled lock clean

$(STAMP): pyproject.toml requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(UV)
	$(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(PY) -m uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

# The package's own bytecode, before either target starts a process (see the top).
compiled: $(STAMP)
	$(PY) -m compileall -q cnngwp

# Main job: simulate the default QTLMAS2010-like data set, execute the seven notebooks on
# it with the quick profile (runs/qtlmas2010-sim/fold-0/, resumable), run the default study
# grid of chapter 8 (runs/study-default/, resumable), build the book (_build/html/index.html).
# One after the other: beside the study, chapter 2's multi-threaded kernel fits slowed down
# by more than the study gained, even with the study at nice 19.
book: compiled
	$(PY) -m cnngwp run --runs runs --profile quick
	$(PY) -m cnngwp study --runs runs --grid default
	$(PY) -m cnngwp book --runs runs

test: compiled
	$(PY) -m ruff check cnngwp tests benchmarks
	$(PY) -m pytest

# Re-pin requirements.lock from pyproject.toml (run after changing dependencies).
# jsonschema stays below 4.24 in the lock: from 4.24 its format-nongpl extra (which
# jupyter-events requires) adds rfc3987-syntax, which builds 39 lark grammars whenever
# jsonschema is imported: 1.4 s in every process that reads a notebook or imports msprime
# (each chapter kernel that simulates, papermill, jupyter-book, each study worker). The lock
# alone pins it; pyproject.toml leaves users' jsonschema free.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -e '.[test]' 'jsonschema<4.24'
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) runs _build
