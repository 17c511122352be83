# The course's commands. Each target creates and reuses .venv and installs what it needs.
#   make lab          JupyterLab on the repository, opened at assignments/ (instructors: notebooks/)
#   make course       run every notebook with papermill -> build/executed/, build/course_report.md
#   make test         lint + library tests + every notebook in quick mode (what CI runs)
#   make assignments  regenerate the student versions in assignments/
#   make grade SUBMISSIONS=path   grade one .ipynb or a class folder -> $(GRADES) (build/grades)
#   make bench        the speed benchmarks (ratios measured side by side)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch: the CPU wheel where there is no GPU (pinned here only; the package asks for a range).
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch>=2.1
SUBMISSIONS ?= submissions
GRADES ?= build/grades

export MPLBACKEND ?= Agg
export TESTTIME_CACHE ?= $(CURDIR)/build/cache

.PHONY: install lab course test lint assignments grade bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "$(TORCH_GPU)"; \
	  else $(PY) -m pip install -q "$(TORCH_CPU)"; fi; fi
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# JupyterLab saves widget state with the notebook (else a reopened notebook shows "Error
# displaying widget: model not found" where the progress bars and sliders were).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

lab: $(STAMP)
	mkdir -p $(dir $(LAB_SETTINGS))
	test -f $(LAB_SETTINGS) || echo '{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}' > $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/assignments

course: $(STAMP)
	$(PY) -m testtime.course run

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests benchmarks tools notebooks

test: $(STAMP) lint
	$(PY) -m testtime.assignments build --check
	$(PY) -m pytest -q --durations=15

assignments: $(STAMP)
	$(PY) -m testtime.assignments build

grade: $(STAMP)
	$(PY) -m testtime.assignments grade $(SUBMISSIONS) --out $(GRADES)

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf build
