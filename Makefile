# ubm: the commands people use. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SIZE   ?= small
SEED   ?= 0
DATA   ?= data/$(SIZE)
EMB    ?= $(DATA)/entries/baseline
RUNS   ?= runs
STAMP  := $(VENV)/.installed

.PHONY: setup test demo data summary split lists targets features validate train bench clean

# torch first, pinned to the CPU wheel on disk; a looser pin could pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

data: $(STAMP)
	$(BIN)/ubm generate --out $(DATA) --size $(SIZE) --seed $(SEED)

summary: $(STAMP)
	$(BIN)/ubm summary --data-dir $(DATA)

demo: $(STAMP)
	$(BIN)/ubm generate --out $(DATA) --size $(SIZE) --seed $(SEED)
	$(BIN)/ubm summary --data-dir $(DATA)

clean:
	rm -rf data runs .pytest_cache
