# Every target installs what it needs on a fresh machine (the first run creates .venv).
VENV ?= .venv
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
PY := $(VENV)/bin/python
ALIGN := $(VENV)/bin/align
STAMP := $(VENV)/.installed
GPU_STAMP := $(VENV)/.installed-gpu
ARGS ?=

.PHONY: install install-gpu test smoke ultrafeedback-smoke lint bench lock \
        dpo-zephyr dpo-zephyr-handbook dpo-zephyr-qlora dpo-notus dpo-notus-lora rm-ultrarm \
        test-slow ppo-ultralm ppo-ultralm-lora bon-ultralm online-dpo-ultrarm \
        smoke-iterative-dpo iterative-dpo-rlhflow iterative-dpo-ultrarm

# constraints.txt locks every package to the versions the test suite last passed with (`make lock` refreshes it).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first: this picks the CPU or CUDA build that suits the machine.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(STAMP)

$(GPU_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[test,gpu]"
	touch $@

install-gpu: $(GPU_STAMP)

# Tests marked slow (minutes on CPU) run with `make test-slow`, or `make test ARGS='-m slow'` (the last -m wins).
test: install
	$(PY) -m pytest -q -m "not slow" $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test-slow: install
	$(PY) -m pytest -q -m slow $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

smoke: install
	$(ALIGN) run recipes/smoke/dpo-full.yaml $(ARGS)

# Iterative DPO judged by the reward smoke's model: trains it first (a finished run is not retrained).
smoke-iterative-dpo: install
	$(ALIGN) run recipes/smoke/reward.yaml
	$(ALIGN) run recipes/smoke/iterative-dpo.yaml $(ARGS)

# The UltraFeedback pipeline end to end on CPU: generate (two tiny models) -> annotate (a tiny judge served by
# `transformers serve` on 127.0.0.1, started and stopped here) -> binarize -> DPO; outputs/ultrafeedback-smoke/.
ultrafeedback-smoke: install
	$(PY) scripts/ultrafeedback_smoke.py $(ARGS)

# Throughput/MFU/memory at a model shape on random weights; CPU at the tiny shape takes well under a minute.
bench: install
	$(ALIGN) bench --method dpo --shape tiny --steps 5 $(ARGS)

# Re-resolve every dependency from pyproject.toml's ranges in a scratch venv, run the tests there, and only then
# rewrite constraints.txt (torch's local build tag, e.g. +cpu, is dropped so the lock also serves CUDA machines).
LOCK_VENV ?= .venv-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(LOCK_VENV)/bin/python -m pip install -q -e ".[test]"
	$(LOCK_VENV)/bin/python -m pytest -q -m "not slow"
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/' > constraints.txt
	rm -rf $(LOCK_VENV)
	@echo "constraints.txt rewritten from a passing run; commit it."

lint: install
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts

# --- reproduction recipes (GPU) ---------------------------------------------------------------
dpo-zephyr: install-gpu
	$(ALIGN) run recipes/zephyr-7b-beta/dpo-full.yaml $(ARGS)

dpo-zephyr-handbook: install-gpu
	$(ALIGN) run recipes/zephyr-7b-beta/dpo-full-handbook.yaml $(ARGS)

dpo-zephyr-qlora: install-gpu
	$(ALIGN) run recipes/zephyr-7b-beta/dpo-qlora.yaml $(ARGS)

dpo-notus: install-gpu
	$(ALIGN) run recipes/notus-7b-v1/dpo-full.yaml $(ARGS)

dpo-notus-lora: install-gpu
	$(ALIGN) run recipes/notus-7b-v1/dpo-lora.yaml $(ARGS)

ppo-ultralm: install-gpu
	$(ALIGN) run recipes/ultralm-13b-ppo/ppo.yaml $(ARGS)

ppo-ultralm-lora: install-gpu
	$(ALIGN) run recipes/ultralm-13b-ppo/ppo-lora.yaml $(ARGS)

bon-ultralm: install-gpu
	$(ALIGN) run recipes/ultralm-13b-ppo/best-of-n.yaml $(ARGS)

online-dpo-ultrarm: install-gpu
	$(ALIGN) run recipes/online-dpo/ultrafeedback-ultrarm.yaml $(ARGS)

iterative-dpo-rlhflow: install-gpu
	$(ALIGN) run recipes/iterative-dpo/llama3-8b-rlhflow.yaml $(ARGS)

iterative-dpo-ultrarm: install-gpu
	$(ALIGN) run recipes/iterative-dpo/llama3-8b-rlhflow-ultrarm.yaml $(ARGS)

rm-ultrarm: install-gpu
	$(ALIGN) run recipes/ultrarm-13b/reward-uf.yaml $(ARGS)
