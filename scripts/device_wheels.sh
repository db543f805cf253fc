#!/usr/bin/env bash
# Wheels a lent GPU machine needs to run gpumeta's GPU tests and benchmarks, fetched HERE (a machine with PyPI).
#
# The lent machines (see the device tool's README) have Python 3.12, CuPy for CUDA 13, NCCL for CUDA 13,
# pandas, pyarrow, scikit-learn, matplotlib, typer, rich and pytest, but no xgboost, dask or RAPIDS, and no
# network. gpumeta's cuda backend needs only CuPy and a CUDA build of xgboost (cuDF and RMM are used where
# installed), so two groups suffice, each small enough for one device call (64 MiB with the working tree):
#   .whl/xgb   xgboost 3.4 (its own wheel is the CUDA 13 build from 3.4 on; ~58 MB)
#   .whl/rest  dask, distributed, dask-cuda and what gpumeta imports that the image lacks (~8 MB)
# .whl/ is git-ignored. Usage: bash scripts/device_wheels.sh; then the two device calls in docs/GPU.md.
set -euo pipefail
cd "$(dirname "$0")/.."
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux1_x86_64 manylinux_2_5_x86_64; do
  platforms+=(--platform "$tag")
done
fetch() {  # fetch DIR NAME==VERSION...
  local dir=$1; shift
  mkdir -p "$dir"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dir" "$@"
}
# Versions: what `uv pip compile --python-version 3.12` resolves for gpumeta[gpu-cu13] (checked 2026-12-05).
fetch .whl/xgb "xgboost==3.4.1"
fetch .whl/rest "dask==2026.7.1" "distributed==2026.7.1" "dask-cuda==26.10.0" "zict==3.0.0" "tblib==3.2.2" \
  "partd==1.4.2" "locket==1.0.0" "tornado==6.6.1" "pyfaidx==0.9.2.2" "pyBigWig==0.3.29" "shap==0.51.0" \
  "slicer==0.0.8"
du -sh .whl/xgb .whl/rest
