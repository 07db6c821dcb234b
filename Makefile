# The two set-up commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || pyenv which python3.12 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
# The system packages each command needs: installed as root with apt-get, else the exact
# command is printed and make stops (prereqs/, standard library only: runs before .venv).
PREREQS := $(PYTHON) -m prereqs

.PHONY: run test prereqs-run prereqs-test prereqs-all lint bench-overhead bench-overhead-ab bench-replicas bench-sandbox bench-selection bench-lens bench-live bench-memory bench-soak bench-admin-pages bench-fairness bench-live-slots clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || \
		{ echo "ATLAS needs Python >= 3.12 (found $$($(PYTHON) --version)); set PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

prereqs-run:
	@$(PREREQS) run

prereqs-test:
	@$(PREREQS) test

# CI (root): every group, the optional packages too (C, C++ and JavaScript sandbox
# tests, the e2e tests' llama-server build with ninja, hey for bench-overhead).
prereqs-all:
	@$(PREREQS) --install-optional test run build bench

# With no upstream configured (no ATLAS_UPSTREAM_URL, no --config), the first run
# installs llama-server and Qwen2.5-Coder-0.5B into ~/.cache/atlas (see README); a
# llama-server build checks for cmake and g++ the same way (prereqs group `build`).
# The system check comes first, so a missing package stops make before the venv's pip.
run: prereqs-run $(STAMP)
	@if [ -z "$$ATLAS_UPSTREAM_URL" ] && ! printf '%s' '$(ARGS)' | grep -q -- '--config'; then \
		$(BIN)/atlas engines status >/dev/null 2>&1 || $(BIN)/atlas engines install; \
	fi
	$(BIN)/atlas serve $(ARGS)

test: prereqs-test $(STAMP)
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway engines lens sandbox config prereqs admin_ui tests bench
	$(BIN)/ruff format --check gateway engines lens sandbox config prereqs admin_ui tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/yamllint --strict deploy

# Every admin page under 100 ms with 10,000 usage events and 1,000 traces stored.
bench-admin-pages: $(STAMP)
	$(BIN)/python -m bench.admin_pages $(ARGS)

bench-overhead: $(STAMP)
	$(BIN)/python -m bench.overhead $(ARGS)

# Two gateway replicas on one Redis behind a loopback balancer, against one; ARGS="--no-doc".
bench-replicas: $(STAMP)
	$(BIN)/python -m bench.replicas $(ARGS)

# ARGS="--baseline REV": this tree's pass-through overhead against REV, paired in one run.
bench-overhead-ab: $(STAMP)
	$(BIN)/python -m bench.overhead_ab $(ARGS)

bench-sandbox: $(STAMP)
	$(BIN)/python -m bench.sandbox $(ARGS)

bench-selection: $(STAMP)
	$(BIN)/python -m bench.selection $(ARGS)

bench-lens: $(STAMP)
	$(BIN)/python -m bench.lens_scoring $(ARGS)

# ARGS="--dataset humaneval|mbpp [--start S --limit N] --k 1,5 [--repair 0,1] [--base-url URL] [--resume]"
bench-live: $(STAMP)
	$(BIN)/python -m bench.live $(ARGS)

# RSS around a burst of 200 non-reading streams and 50 MB answers; ARGS="--doc" records it.
bench-memory: $(STAMP)
	$(BIN)/python -m bench.memory_return $(ARGS)

# 30 minutes of mixed traffic at 80 % of peak; ARGS="--duration 60" for a smoke run.
bench-soak: $(STAMP)
	$(BIN)/python -m bench.soak $(ARGS)

# One key's pass-through p99 while another runs k=20 searches on 2 slots; ARGS="--write".
bench-fairness: $(STAMP)
	$(BIN)/python -m bench.fairness $(ARGS)

# Three k=20 searches at once on the embedded 2-slot engine: none may lose a request.
bench-live-slots: $(STAMP)
	$(BIN)/python -m bench.live_slots $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
