#!/usr/bin/env bash
# The device check (issue 24) on a bare GPU machine that reaches no package index and has
# only its own Python, torch, numpy, pandas and pyarrow. First, where there is an index:
#   bash bench/fetch_device_wheels.sh          # DuckDB, Jinja2, click, torchmetrics... into bench/wheels/
# then, on the device (bench/wheels travels with the call: carry it):
#   OUT=/path/to/out bash bench/device_check.sh [--stages 1,3] [--budget 470]
#   STAGES=1,3 OUT=... bash bench/device_check.sh
# The wheels are installed offline into $PRIVATE (never torch: the image's CUDA build is
# used), the checkout runs without being installed (PYTHONPATH=$PRIVATE:checkout), and
# bench/device_check.py runs the stages, each writing its own small file in $OUT as it ends.
# On a CPU machine: bash bench/device_check.sh --dry-run (toy sizes; what the tests run).
set -uo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$PWD
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-$CHECKOUT/bench/wheels}
PRIVATE=${PRIVATE:-/tmp/ubm-private}
export OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
if [ ${#wheels[@]} -gt 0 ] && [ ! -f "$PRIVATE/.installed" ]; then
  echo "device_check: installing ${#wheels[@]} wheels offline into $PRIVATE" >&2
  # --no-deps: the wheels are the whole list, and the dependencies they name (torch, numpy)
  # come from the image; --target alone would ignore the installed ones and fail offline.
  if "$PYTHON" -m pip --version > /dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --upgrade --target "$PRIVATE" "${wheels[@]}"
  else  # no pip in the image: a wheel is a zip laid out for site-packages
    "$PYTHON" -c "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]" \
      "$PRIVATE" "${wheels[@]}"
  fi && touch "$PRIVATE/.installed"
elif [ ${#wheels[@]} -eq 0 ]; then
  echo "device_check: no wheels in $WHEELS; using what $PYTHON has (bench/fetch_device_wheels.sh fetches them)" >&2
fi
export PYTHONPATH="$PRIVATE:$CHECKOUT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" bench/device_check.py --out "$OUT" "$@"
