# The two set-up commands of the README: `make demo` and `make test`.
# Both install what they need (apt packages, venv, pinned pip packages, device image) and are safe to re-run.
SHELL := /bin/bash
VENV := .venv
EDGEKIT := $(VENV)/bin/edgekit
OUT ?= out/demo

.PHONY: setup demo test clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(EDGEKIT) optimize --out $(OUT)
	$(EDGEKIT) bench $(OUT) --emulator armv7-lowend --threads 1 --runs 30 --warmup 3 --accuracy device --eval-limit 500 --resume
	$(EDGEKIT) report $(OUT) --html $(OUT)/report.html

test: setup
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf out build .pytest_cache
