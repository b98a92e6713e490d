# The two set-up commands of the README: `make demo` and `make test`.
# Both install what they need (apt packages, venv, pinned pip packages, device image) and are safe to re-run.
# `make demo` builds the device image in the background while it optimises (bench waits for it) and
# records where its time goes in $(OUT)/demo-stages.tsv and $(OUT)/setup-timings.tsv;
# `.venv/bin/python benchmarks/demo_time.py --out $(OUT)` prints it as a table.
SHELL := /bin/bash
VENV := .venv
EDGEKIT := $(VENV)/bin/edgekit
OUT ?= out/demo
STAGES := $(OUT)/demo-stages.tsv
# make test runs one pytest-xdist worker per core, a test module per worker (module fixtures built once;
# the longest modules first: tests/conftest.py LONG_FIRST), prints the 25 slowest tests and keeps every
# test's time in test-artifacts/junit.xml (`.venv/bin/python scripts/test_times.py`: per-module totals)
TEST_JOBS := $(shell nproc)
# bench measures two variants at a time on the emulated device when there are two cores (its headline,
# the counted estimate, does not depend on it)
BENCH_JOBS := $(shell [ $$(nproc) -ge 2 ] && echo 2 || echo 1)

# $(call timed,STAGE,COMMAND): run COMMAND, append "STAGE<TAB>start<TAB>end<TAB>exit code" to $(STAGES)
timed = echo '[demo] $(1)'; t0=$$(date +%s.%N); $(2); rc=$$?; printf '%s\t%s\t%s\t%s\n' '$(1)' "$$t0" "$$(date +%s.%N)" "$$rc" >> $(STAGES); exit $$rc

.PHONY: setup demo test clean

setup:
	@bash scripts/setup.sh

demo:
	@mkdir -p $(OUT); : > $(STAGES); : > $(OUT)/setup-timings.tsv
	@$(call timed,setup,EDGEKIT_SETUP_TIMINGS=$(OUT)/setup-timings.tsv EDGEKIT_IMAGE_BACKGROUND=1 bash scripts/setup.sh)
	@$(call timed,optimize,$(EDGEKIT) optimize --out $(OUT))
	@$(call timed,device image,$(EDGEKIT) emulator build)
	@$(call timed,bench,$(EDGEKIT) bench $(OUT) --emulator armv7-lowend --threads 1 --runs 30 --warmup 3 --accuracy device --eval-limit 200 --jobs $(BENCH_JOBS) --resume)
	@$(call timed,report,$(EDGEKIT) report $(OUT) --html $(OUT)/report.html)

test: setup
	$(VENV)/bin/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=25 --junitxml=test-artifacts/junit.xml

clean:
	rm -rf out build .pytest_cache
