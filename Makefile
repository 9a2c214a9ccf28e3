# ubm: the commands people use. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SIZE   ?= small
SEED   ?= 0
DATA   ?= data/$(SIZE)
EMB    ?= $(DATA)/entries/baseline
RUNS   ?= runs
LABELS ?= $(DATA)/labels
BENCH_SIZE ?= medium
BENCH_DATA ?= data/bench-$(BENCH_SIZE)
BOOT_CLIENTS ?= 1000000
IMPORT_THREADS ?= 1
STAMP  := $(VENV)/.installed

.PHONY: setup test demo data summary split lists targets features validate train bench bench-engines import-example clean

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

split: $(STAMP)
	$(BIN)/ubm split --data-dir $(DATA)

lists: $(STAMP)
	$(BIN)/ubm lists --data-dir $(DATA)

targets: $(STAMP)
	$(BIN)/ubm targets --data-dir $(DATA) --out $(LABELS)

features: $(STAMP)
	$(BIN)/ubm features --data-dir $(DATA) --recipe baseline --out $(EMB)

validate: $(STAMP)
	$(BIN)/ubm validate --data-dir $(DATA) --embeddings-dir $(EMB)

# Time split, lists and targets on generated data (BENCH_SIZE=full for the real scale);
# each stage appends wall time and peak RSS to bench/results.jsonl. The bootstrap stage
# resamples one 100-label task of BOOT_CLIENTS synthetic clients 1,000 times.
# The import stage writes the generated events as one mixed Parquet file in time order
# (bench/import_timing.py) and times `ubm import` of it against `ubm split` of what it
# wrote, both at IMPORT_THREADS threads and --memory-limit 4GB (issue 22's goal: 2x, 4 GiB).
bench: $(STAMP)
	test -f $(BENCH_DATA)/product_buy.parquet || $(BIN)/python bench/measure.py --label generate --size $(BENCH_SIZE) -- $(BIN)/ubm generate --out $(BENCH_DATA) --size $(BENCH_SIZE) --seed $(SEED)
	$(BIN)/python bench/measure.py --label check --size $(BENCH_SIZE) -- $(BIN)/ubm check --data-dir $(BENCH_DATA) || true
	$(BIN)/python bench/measure.py --label split --size $(BENCH_SIZE) -- $(BIN)/ubm split --data-dir $(BENCH_DATA)
	$(BIN)/python bench/import_timing.py --data $(BENCH_DATA) --size $(BENCH_SIZE) --threads $(IMPORT_THREADS)
	$(BIN)/python bench/measure.py --label lists --size $(BENCH_SIZE) -- $(BIN)/ubm lists --force --data-dir $(BENCH_DATA)
	$(BIN)/python bench/measure.py --label targets --size $(BENCH_SIZE) -- $(BIN)/ubm targets --data-dir $(BENCH_DATA) --out $(BENCH_DATA)/labels
	$(BIN)/python bench/refresh_timing.py --data $(BENCH_DATA) --size $(BENCH_SIZE)
	$(BIN)/python bench/measure.py --label features-baseline --size $(BENCH_SIZE) -- $(BIN)/ubm features --data-dir $(BENCH_DATA) --recipe baseline --out $(BENCH_DATA)/entries/baseline
	$(BIN)/python bench/measure.py --label features-universal --size $(BENCH_SIZE) -- $(BIN)/ubm features --data-dir $(BENCH_DATA) --recipe universal --out $(BENCH_DATA)/entries/universal
	$(BIN)/python bench/measure.py --label features-learned --size $(BENCH_SIZE) -- $(BIN)/ubm features --data-dir $(BENCH_DATA) --recipe learned --out $(BENCH_DATA)/entries/learned
	$(BIN)/python bench/measure.py --label validate --size $(BENCH_SIZE) -- $(BIN)/ubm validate --data-dir $(BENCH_DATA) --embeddings-dir $(BENCH_DATA)/entries/universal
	$(BIN)/python bench/measure.py --label train-epoch-cpu --size 2000x320 -- $(BIN)/python bench/epoch_timing.py --clients 2000 --dim 320 --device cpu
	$(BIN)/python bench/measure.py --label train-6tasks-single-cpu --size 256x320 -- $(BIN)/python bench/epoch_timing.py --clients 256 --dim 320 --device cpu --tasks 6 --labels 20 --engine single
	$(BIN)/python bench/measure.py --label train-6tasks-multi-cpu --size 256x320 -- $(BIN)/python bench/epoch_timing.py --clients 256 --dim 320 --device cpu --tasks 6 --labels 20 --engine multi
	$(BIN)/python bench/engines.py --data $(BENCH_DATA) --size $(BENCH_SIZE) --master 'local[2]'
	$(BIN)/python bench/measure.py --label bootstrap --size $(BOOT_CLIENTS)x100 -- $(BIN)/python bench/bootstrap_timing.py --clients $(BOOT_CLIENTS) --labels 100 --resamples 1000 --widths 4000

# DuckDB beside Spark (local[2]) per SQL stage, time and peak memory; ENGINES_SIZE=small is quick.
ENGINES_SIZE ?= $(BENCH_SIZE)
bench-engines: $(STAMP)
	test -f data/bench-$(ENGINES_SIZE)/product_buy.parquet || $(BIN)/ubm generate --out data/bench-$(ENGINES_SIZE) --size $(ENGINES_SIZE) --seed $(SEED)
	$(BIN)/python bench/engines.py --data data/bench-$(ENGINES_SIZE) --size $(ENGINES_SIZE) --master 'local[2]'

train: $(STAMP)
	$(BIN)/ubm train --data-dir $(DATA) --embeddings-dir $(EMB) --tasks all --out $(RUNS)/$(notdir $(EMB))

# The whole chain on generated data: generate -> split -> lists -> targets -> features
# (baseline, universal and learned) -> validate -> train all six tasks for each -> leaderboard
# with bootstrap intervals and the paired comparisons (is the difference real?). Then the
# learned recipe's optional sequence block (-o sequence=on, with heads=binary,sku to leave it
# room in the 2048 columns; docs/recipes.md §3): built, validated and trained on churn and sku
# propensity only (the two tasks it was measured on; all six would add about 10 minutes on
# 2 CPU cores), compared with learned on those two tasks in a second leaderboard.
demo: $(STAMP)
	$(BIN)/ubm generate --out $(DATA) --size $(SIZE) --seed $(SEED)
	$(BIN)/ubm summary --data-dir $(DATA)
	$(BIN)/ubm split --data-dir $(DATA)
	$(BIN)/ubm lists --data-dir $(DATA) --force
	$(BIN)/ubm targets --data-dir $(DATA) --out $(LABELS)
	$(BIN)/ubm features --data-dir $(DATA) --recipe baseline --out $(DATA)/entries/baseline
	$(BIN)/ubm features --data-dir $(DATA) --recipe universal --out $(DATA)/entries/universal
	$(BIN)/ubm features --data-dir $(DATA) --recipe learned --out $(DATA)/entries/learned
	$(BIN)/ubm validate --data-dir $(DATA) --embeddings-dir $(DATA)/entries/baseline
	$(BIN)/ubm validate --data-dir $(DATA) --embeddings-dir $(DATA)/entries/universal
	$(BIN)/ubm validate --data-dir $(DATA) --embeddings-dir $(DATA)/entries/learned
	$(BIN)/ubm train --data-dir $(DATA) --embeddings-dir $(DATA)/entries/baseline --labels $(LABELS) --tasks all --out $(RUNS)/demo-baseline
	$(BIN)/ubm train --data-dir $(DATA) --embeddings-dir $(DATA)/entries/universal --labels $(LABELS) --tasks all --out $(RUNS)/demo-universal
	$(BIN)/ubm train --data-dir $(DATA) --embeddings-dir $(DATA)/entries/learned --labels $(LABELS) --tasks all --out $(RUNS)/demo-learned
	$(BIN)/ubm leaderboard $(RUNS)/demo-baseline $(RUNS)/demo-universal $(RUNS)/demo-learned --names baseline,universal,learned --ci --json $(RUNS)/demo-leaderboard.json --plot $(RUNS)/demo-comparison.png
	$(BIN)/ubm features --data-dir $(DATA) --recipe learned -o sequence=on -o heads=binary,sku --out $(DATA)/entries/learned-seq
	$(BIN)/ubm validate --data-dir $(DATA) --embeddings-dir $(DATA)/entries/learned-seq
	$(BIN)/ubm train --data-dir $(DATA) --embeddings-dir $(DATA)/entries/learned-seq --labels $(LABELS) --tasks churn --tasks propensity_sku --out $(RUNS)/demo-learned-seq
	$(BIN)/ubm leaderboard $(RUNS)/demo-learned $(RUNS)/demo-learned-seq --names learned,learned-seq --ci --json $(RUNS)/demo-sequence.json
	@echo "reports: $(RUNS)/demo-baseline/report.png $(RUNS)/demo-universal/report.png $(RUNS)/demo-learned/report.png $(RUNS)/demo-learned-seq/report.png; leaderboard: $(RUNS)/demo-leaderboard.json; paired differences: $(RUNS)/demo-comparison.png; sequence block (churn, sku propensity): $(RUNS)/demo-sequence.json"

# Your own logs to a scored entry (docs/import.md): a synthetic invoice-line log of 400
# customers over 150 days (examples/import/make_sample.py writes its daily CSV files beside
# the mapping), then import, split, lists (train needs its label lists), features, train
# (churn only, about a minute on 2 cores) and the profiles keyed by the log's own customer ids.
# The entry lies beside the data directory, not in it, so that a rerun may replace the import.
IMPORT_DATA  ?= data/import-example
IMPORT_ENTRY ?= $(IMPORT_DATA)-entry
import-example: $(STAMP)
	$(BIN)/python examples/import/make_sample.py --out examples/import/data
	$(BIN)/ubm import --config examples/import/online_retail.toml --out $(IMPORT_DATA)
	$(BIN)/ubm split --data-dir $(IMPORT_DATA)
	$(BIN)/ubm features --data-dir $(IMPORT_DATA) --recipe baseline --out $(IMPORT_ENTRY)
	$(BIN)/ubm train --data-dir $(IMPORT_DATA) --embeddings-dir $(IMPORT_ENTRY) --tasks churn --out $(RUNS)/import-example
	$(BIN)/ubm export-ids --data-dir $(IMPORT_DATA) --embeddings-dir $(IMPORT_ENTRY) --out $(IMPORT_ENTRY).ids.parquet
	@echo "scores: $(RUNS)/import-example/scores.json; profiles by your customer ids: $(IMPORT_ENTRY).ids.parquet"

clean:
	rm -rf data runs .pytest_cache examples/import/data
