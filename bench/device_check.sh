#!/usr/bin/env bash
# The one prepared GPU check (run on a lent device machine; never in CI):
#  1. parity: `ubm train` on CUDA vs on CPU vs an independent Lightning reference, small data;
#  2. seconds per epoch at 1 M clients x 2048 dims on CUDA (official numerics and --fast);
#  3. issues 6 and 13: baseline vs universal vs learned on 44k relevant clients (new-sku labels
#     need that many to rise above noise), seeds 1 and 2, on CUDA, with paired bootstrap intervals;
#  4. issue 12: six tasks together: every epoch of the multi engine (CUDA graphs on and off)
#     equal to the one-task loop on the GPU, two GPUs if there are two; then at
#     TIMING_CLIENTS x 2048 the six tasks x MULTI_EPOCHS together in official and --fast
#     numerics, and one task alone for one epoch (the one-at-a-time rate).
# Results go to $RES and are tarred into $OUT/results.tgz after every stage, so a
# run cut short still returns what it finished.
#   DEVICE=cuda SMALL=small MEDIUM_CLIENTS=1100000 OUT=/tmp/out bash bench/device_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/device-out}
DEVICE=${DEVICE:-cuda}
SMALL=${SMALL:-small}
MEDIUM_SIZE=${MEDIUM_SIZE:-medium}
MEDIUM_CLIENTS=${MEDIUM_CLIENTS:-1100000}  # 4 % relevant: 44,000
TIMING_CLIENTS=${TIMING_CLIENTS:-1000000}
SEEDS=${SEEDS:-"1 2"}
TASKS=${TASKS:-all}
STAGES=${STAGES:-"1 2 3 4"}   # which of the stages below to run
MULTI_EPOCHS=${MULTI_EPOCHS:-3}   # stage 4 timing: epochs of the six-task runs
RECIPES=${RECIPES:-"baseline universal learned"}  # stage 3's entries
W=${W:-/tmp/ubm-device}
RES=$W/results
mkdir -p "$OUT" "$RES"
export PYTHONUNBUFFERED=1
U="python3 -m ubm"
pack() { tar czf "$OUT/results.tgz" -C "$RES" . ; }
stage() { echo "== $(date +%T) $*"; }

prepare() {  # prepare DIR SIZE SEED [CLIENTS]
  local d=$1 size=$2 seed=$3 clients=${4:-}
  $U generate --out "$d" --size "$size" --seed "$seed" ${clients:+--clients $clients} \
    && $U split --data-dir "$d" && $U lists --data-dir "$d" \
    && $U targets --data-dir "$d" --out "$d/labels" \
    && cp "$d/labels/summary.json" "$RES/labels-$(basename "$d").json"
}

stage "versions"
python3 -c "import torch, duckdb, torchmetrics; print('torch', torch.__version__, 'duckdb', duckdb.__version__, 'torchmetrics', torchmetrics.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())" | tee "$RES/versions.txt"
nproc >> "$RES/versions.txt"

if [[ " $STAGES " == *" 1 "* ]]; then
stage "1. parity on $SMALL data"
S=$W/small
prepare "$S" "$SMALL" 0 && $U features --data-dir "$S" --recipe baseline --out "$S/entry"
( $U train --data-dir "$S" --embeddings-dir "$S/entry" --labels "$S/labels" --tasks "$TASKS" --out "$RES/cpu-small" \
    --device cpu --quiet > "$RES/cpu-small.log" 2>&1 ) &
CPU_PID=$!
$U train --data-dir "$S" --embeddings-dir "$S/entry" --labels "$S/labels" --tasks "$TASKS" --out "$RES/gpu-small" \
  --device "$DEVICE" --quiet
if python3 -c "import pytorch_lightning" 2>/dev/null; then
  python3 bench/lightning_reference.py --entry "$S/entry" --labels "$S/labels" \
    --tasks "$([ "$TASKS" = all ] && echo churn,conversion,propensity_category,propensity_sku,propensity_new_sku,propensity_price || echo "$TASKS")" \
    --accelerator "$([ "$DEVICE" = cuda ] && echo gpu || echo cpu)" --out "$RES/lightning-small.json" \
    > "$RES/lightning-small.log" 2>&1
  python3 bench/compare_scores.py "$RES/gpu-small" "$RES/lightning-small.json" --tol 0.00005 | tee "$RES/parity-lightning.txt"
fi
pack

fi

if [[ " $STAGES " == *" 2 "* ]]; then
stage "2. epoch timing at $TIMING_CLIENTS x 2048"
python3 bench/epoch_timing.py --clients "$TIMING_CLIENTS" --dim 2048 --device "$DEVICE" | tee "$RES/timing.jsonl"
pack

fi

if [[ " $STAGES " == *" 3 "* ]]; then
stage "3. $RECIPES, seeds: $SEEDS"
for seed in $SEEDS; do
  M=$W/m$seed
  prepare "$M" "$MEDIUM_SIZE" "$seed" "$MEDIUM_CLIENTS" || continue
  runs=(); names=()
  for recipe in $RECIPES; do
    python3 bench/measure.py --label "features-$recipe" --size "seed$seed" --out "$RES/features.jsonl" -- \
      $U features --data-dir "$M" --recipe "$recipe" --out "$M/entries/$recipe" > "$RES/features-$recipe-$seed.log" 2>&1
    # the stored predictions (for --ci) stay on the device: ~100 MB per run at 44k clients
    $U train --data-dir "$M" --embeddings-dir "$M/entries/$recipe" --labels "$M/labels" --tasks "$TASKS" \
      --out "$M/runs/$recipe" --device "$DEVICE" --quiet
    mkdir -p "$RES/$recipe-seed$seed" && cp "$M/runs/$recipe"/{scores,metrics}.json "$RES/$recipe-seed$seed/"
    runs+=("$M/runs/$recipe"); names+=("$recipe")
  done
  $U leaderboard "${runs[@]}" --names "$(IFS=,; echo "${names[*]}")" --ci \
    --json "$RES/leaderboard-seed$seed.json" | tee "$RES/leaderboard-seed$seed.txt"
  pack
done

fi

if [[ " $STAGES " == *" 4 "* ]]; then
stage "4. six tasks together (issue 12)"
S=$W/small
[ -f "$S/entry/embeddings.npy" ] || { prepare "$S" "$SMALL" 0 && $U features --data-dir "$S" --recipe baseline --out "$S/entry"; }
E="$U train --data-dir $S --embeddings-dir $S/entry --labels $S/labels --tasks $TASKS --device $DEVICE --quiet --no-resume"
$E --trainer single --out "$RES/engine-single"
$E --trainer multi --out "$RES/engine-multi"
$E --trainer multi --no-cuda-graphs --out "$RES/engine-multi-nographs"
RUNS="$RES/engine-multi $RES/engine-multi-nographs"
if [ "$DEVICE" = cuda ] && [ "$(python3 -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  $E --devices cuda:0,cuda:1 --out "$RES/engine-two-gpus" && RUNS="$RUNS $RES/engine-two-gpus"
fi
python3 bench/compare_epochs.py "$RES/engine-single" $RUNS | tee "$RES/parity-engines.txt"
pack
T="python3 bench/epoch_timing.py --clients $TIMING_CLIENTS --dim 2048 --device $DEVICE"
$T --tasks 6 --labels 100 --engine multi --epochs "$MULTI_EPOCHS" | tee -a "$RES/multi-timing.jsonl"
pack
$T --tasks 6 --labels 100 --engine multi --epochs "$MULTI_EPOCHS" --fast | tee -a "$RES/multi-timing.jsonl"
pack
$T --tasks 1 --epochs 1 | tee -a "$RES/multi-timing.jsonl"
pack

fi

if [[ " $STAGES " == *" 1 "* ]]; then
stage "1b. CPU parity (background run)"
wait $CPU_PID
python3 bench/compare_scores.py "$RES/cpu-small" "$RES/gpu-small" --tol 0.002 | tee "$RES/parity-cpu-gpu.txt"
pack
fi
stage "done"
