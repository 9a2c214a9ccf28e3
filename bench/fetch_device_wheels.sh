#!/usr/bin/env bash
# Fetch, on a machine with a package index, the wheels the device check needs on a bare
# device machine (Python 3.12, manylinux x86_64) beside its own torch, numpy, pandas and
# pyarrow: DuckDB, Jinja2, click, torchmetrics, matplotlib, rich, pytest and what they import.
# Never torch (the device image brings its CUDA build) nor numpy. Into bench/wheels/ (ignored by
# git, about 50 MB), which then travels with the call (carry: bench/wheels) and
# bench/device_check.sh installs offline:
#   bash bench/fetch_device_wheels.sh            # PYTHON=python3 PY=3.12 WHEELS=bench/wheels
# Versions: those installed beside $PYTHON when it has them (the set the tests pass with),
# else the newest. Without an index, run the same `pip download` line where there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PY=${PY:-3.12}
WHEELS=${WHEELS:-bench/wheels}
PACKAGES="duckdb jinja2 markupsafe click torchmetrics lightning-utilities packaging typing-extensions
  matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil six
  rich markdown-it-py mdurl pygments pytest pluggy iniconfig"
specs=()
for name in $PACKAGES; do
  version=$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null || true)
  specs+=("$name${version:+==$version}")
done
mkdir -p "$WHEELS"
"$PYTHON" -m pip download --quiet --quiet --no-deps --only-binary=:all: --dest "$WHEELS" \
  --python-version "$PY" --implementation cp --abi "cp${PY/./}" --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any "${specs[@]}"
ls "$WHEELS"/*.whl | wc -l | xargs echo "wheels in $WHEELS:"
du -sh "$WHEELS"
